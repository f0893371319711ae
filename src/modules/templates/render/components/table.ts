/**
 * Table: a data table with literal columns (`header`, `path` into the row, `align`, `width`),
 * rows from a literal array or the render state (at most 500 rendered) and up to 10 footer
 * summary rows. In the plain-text part each row is a tab-separated line. Cell pointers are
 * resolved in the row with json-render's `getByPath`; when the rows come from a `$state` pointer,
 * an empty cell is recorded as that row's pointer plus the column path.
 */
import { getByPath } from '@json-render/core';
import { asAlign, asBoolean, asWidth, TABLE_LIMITS, type Align } from '../catalog.js';
import { compileData, compileScalar, compileText, isScalar, toText } from '../compile-value.js';
import { escapeHtml } from '../escape.js';
import type { Evaluator } from '../plan.js';
import { isDynamicValue, isPlainObject } from '../validate-expression.js';
import { countNode, emitText } from '../walk.js';
import { fontStyle, LAYOUT_TABLE, type ComponentCompiler } from './shared.js';

interface Column {
  readonly header: Evaluator<string>;
  readonly path: string;
  readonly align: Align;
  readonly width: string | undefined;
}

const BORDER = '#e4e4e7';

function compileColumns(value: unknown): Column[] {
  if (!Array.isArray(value)) return [];
  return value.slice(0, TABLE_LIMITS.columns).filter(isPlainObject).map((c) => ({
    header: compileText(c.header),
    path: typeof c.path === 'string' ? c.path : '',
    align: asAlign(c.align) ?? 'left',
    width: asWidth(c.width),
  }));
}

function compileFooter(value: unknown): { label: Evaluator<string>; value: Evaluator<string> }[] {
  if (!Array.isArray(value)) return [];
  return value.slice(0, TABLE_LIMITS.footer).filter(isPlainObject).map((row) => ({ label: compileText(row.label), value: compileText(row.value) }));
}

export const compileTable: ComponentCompiler = (props) => {
  const columns = compileColumns(props.columns);
  const rows = compileData(props.rows);
  const rowsPointer = isDynamicValue(props.rows) && typeof props.rows.$state === 'string' && Object.keys(props.rows).length === 1 ? props.rows.$state : undefined;
  const showHeader = compileScalar(props.showHeader, asBoolean);
  const footer = compileFooter(props.footer);
  return {
    render(_node, run, scope, inherited) {
      const lines: string[] = [];
      const cellStyle = (align: Align, width: string | undefined, extra: string): string =>
        `padding:8px;text-align:${align};${width ? `width:${width};` : ''}${extra}`;
      let html = `${LAYOUT_TABLE}><tr><td style="padding:0 0 16px;">\n<table class="sf-data" width="100%" cellpadding="0" cellspacing="0" border="0" style="width:100%;border-collapse:collapse;${fontStyle(inherited.fontFamily)}font-size:14px;line-height:1.4;color:${inherited.textColor};">\n`;
      if (showHeader(run, scope) ?? true) {
        const headers = columns.map((c) => c.header(run, scope));
        html += '<thead><tr>' + columns.map((c, i) => `<th align="${c.align}" style="${cellStyle(c.align, c.width, `border-bottom:2px solid ${BORDER};font-weight:bold;`)}">${escapeHtml(headers[i]!)}</th>`).join('') + '</tr></thead>\n';
        lines.push(headers.join('\t'));
      }
      const data = rows(run, scope);
      html += '<tbody>\n';
      if (Array.isArray(data)) {
        const count = Math.min(data.length, TABLE_LIMITS.rows);
        for (let r = 0; r < count; r++) {
          countNode(run);
          const row: unknown = data[r];
          const cells = columns.map((c) => {
            const value = getByPath(row, c.path);
            if (!isScalar(value) && rowsPointer !== undefined) run.missing.add(`${rowsPointer}/${r}${c.path}`);
            return toText(value);
          });
          html += '<tr>' + columns.map((c, i) => `<td align="${c.align}" style="${cellStyle(c.align, c.width, `border-bottom:1px solid ${BORDER};`)}">${escapeHtml(cells[i]!)}</td>`).join('') + '</tr>\n';
          lines.push(cells.join('\t'));
        }
      }
      html += '</tbody>\n';
      if (footer.length > 0) {
        html += '<tfoot>\n';
        for (const row of footer) {
          const label = row.label(run, scope);
          const value = row.value(run, scope);
          const span = Math.max(columns.length - 1, 1);
          html += `<tr><td colspan="${span}" align="right" style="padding:8px;text-align:right;font-weight:bold;">${escapeHtml(label)}</td><td align="right" style="padding:8px;text-align:right;font-weight:bold;">${escapeHtml(value)}</td></tr>\n`;
          lines.push(`${label}\t${value}`);
        }
        html += '</tfoot>\n';
      }
      run.html += html + '</table>\n</td></tr></table>\n';
      emitText(run, lines.join('\n'));
    },
  };
};
