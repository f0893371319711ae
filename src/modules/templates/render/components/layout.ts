/**
 * Layout components: Section (padded, optionally coloured block whose alignment its blocks
 * inherit), Columns (side by side; on narrow screens the `sf-stack` cells stack through the
 * document's media query) and Column (a cell of its Columns).
 */
import { asAlign, asBoolean, asColor, asEnum, asInt, asPad, asWidth } from '../catalog.js';
import { compileScalar } from '../compile-value.js';
import type { PlanNode, Scope } from '../plan.js';
import { forEachChild, isVisible, renderChildren, renderNode } from '../walk.js';
import { LAYOUT_TABLE, pixelPadding, type ComponentCompiler } from './shared.js';

/** A Pad value in CSS form, converted once for literals. */
const asPixelPadding = (v: unknown): string | undefined => {
  const pad = asPad(v);
  return pad === undefined ? undefined : pixelPadding(pad);
};

export const compileSection: ComponentCompiler = (props) => {
  const backgroundColor = compileScalar(props.backgroundColor, asColor);
  const padding = compileScalar(props.padding, asPixelPadding);
  const align = compileScalar(props.align, asAlign);
  return {
    render(node, run, scope, inherited) {
      const bg = backgroundColor(run, scope);
      const pad = padding(run, scope) ?? '24px';
      const a = align(run, scope) ?? 'left';
      const bgAttr = bg ? ` bgcolor="${bg}" style="background-color:${bg};"` : '';
      run.html += `${LAYOUT_TABLE}${bgAttr}><tr><td align="${a}" style="padding:${pad};text-align:${a};">\n`;
      renderChildren(node, run, scope, a === inherited.align ? inherited : { ...inherited, align: a });
      run.html += '</td></tr></table>\n';
    },
  };
};

const MAX_COLUMNS = 4;

export const compileColumns: ComponentCompiler = (props) => {
  const gap = compileScalar(props.gap, asInt(0, 64));
  const stackOnMobile = compileScalar(props.stackOnMobile, asBoolean);
  return {
    render(node, run, scope, inherited) {
      const columns: { child: PlanNode; scope: Scope }[] = [];
      forEachChild(node, run, scope, (child, childScope) => {
        if (child.type === 'Column' && columns.length < MAX_COLUMNS && isVisible(child, childScope)) columns.push({ child, scope: childScope });
      });
      const g = gap(run, scope) ?? 16;
      const column = {
        defaultWidth: `${Math.floor(100 / Math.max(columns.length, 1))}%`,
        stackClass: (stackOnMobile(run, scope) ?? true) ? ' class="sf-stack"' : '',
      };
      run.html += `${LAYOUT_TABLE}><tr>\n`;
      columns.forEach((c, i) => {
        if (i > 0 && g > 0) run.html += `<td class="sf-gap" width="${g}" style="width:${g}px;font-size:0;line-height:0;">&nbsp;</td>\n`;
        renderNode(c.child, run, c.scope, { ...inherited, column });
      });
      run.html += '</tr></table>\n';
    },
  };
};

const asVerticalAlign = asEnum(['top', 'middle', 'bottom'] as const);

export const compileColumn: ComponentCompiler = (props) => {
  const width = compileScalar(props.width, asWidth);
  const verticalAlign = compileScalar(props.verticalAlign, asVerticalAlign);
  const backgroundColor = compileScalar(props.backgroundColor, asColor);
  const padding = compileScalar(props.padding, asPixelPadding);
  return {
    render(node, run, scope, inherited) {
      const { column, ...blocks } = inherited;
      const w = width(run, scope) ?? column?.defaultWidth ?? '100%';
      const va = verticalAlign(run, scope) ?? 'top';
      const bg = backgroundColor(run, scope);
      const pad = padding(run, scope);
      const style = `width:${w};vertical-align:${va};${pad ? `padding:${pad};` : ''}${bg ? `background-color:${bg};` : ''}`;
      const cell = `<td${column?.stackClass ?? ''} width="${w.endsWith('px') ? w.slice(0, -2) : w}" valign="${va}"${bg ? ` bgcolor="${bg}"` : ''} style="${style}">\n`;
      // Outside a Columns (only when rendering an unvalidated definition) a Column is a one-cell table.
      run.html += column ? cell : `${LAYOUT_TABLE}><tr>${cell}`;
      renderChildren(node, run, scope, blocks);
      run.html += column ? '</td>\n' : '</td></tr></table>\n';
    },
  };
};
