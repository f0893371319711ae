/**
 * Button (a "bulletproof" table button), Image, Divider and Spacer. A Button whose URL is dropped
 * renders its label without a link; an Image whose `src` is dropped is omitted.
 */
import { asAlign, asBoolean, asColor, asInt } from '../catalog.js';
import { compileScalar, compileText, compileUrl } from '../compile-value.js';
import { escapeHtml } from '../escape.js';
import { emitText } from '../walk.js';
import { fontStyle, LAYOUT_TABLE, linkText, type ComponentCompiler } from './shared.js';

const DEFAULT_BUTTON_COLOR = '#2563eb';

export const compileButton: ComponentCompiler = (props) => {
  const label = compileText(props.label);
  const href = compileUrl(props.href, true);
  const backgroundColor = compileScalar(props.backgroundColor, asColor);
  const textColor = compileScalar(props.textColor, asColor);
  const align = compileScalar(props.align, asAlign);
  const fullWidth = compileScalar(props.fullWidth, asBoolean);
  return {
    render(_node, run, scope, inherited) {
      const text = label(run, scope);
      const url = href(run, scope);
      const bg = backgroundColor(run, scope) ?? inherited.brandPrimary ?? DEFAULT_BUTTON_COLOR;
      const full = fullWidth(run, scope) ?? false;
      const a = align(run, scope) ?? inherited.align;
      const style = `display:${full ? 'block' : 'inline-block'};padding:12px 24px;${fontStyle(inherited.fontFamily)}font-size:16px;font-weight:bold;line-height:1.2;color:${textColor(run, scope) ?? '#ffffff'};text-align:center;text-decoration:none;border-radius:6px;`;
      const inner = url === undefined
        ? `<span style="${style}">${escapeHtml(text)}</span>`
        : `<a href="${escapeHtml(url)}" target="_blank" rel="noopener" style="${style}">${escapeHtml(text)}</a>`;
      run.html +=
        `${LAYOUT_TABLE}><tr><td align="${a}" style="padding:0 0 16px;">` +
        `<table role="presentation" cellpadding="0" cellspacing="0" border="0"${full ? ' width="100%"' : ''}><tr>` +
        `<td align="center" bgcolor="${bg}" style="border-radius:6px;background-color:${bg};">${inner}</td>` +
        '</tr></table></td></tr></table>\n';
      emitText(run, linkText(text, url));
    },
  };
};

const IMAGE_MARGIN = { left: '0', center: '0 auto', right: '0 0 0 auto' } as const;

export const compileImage: ComponentCompiler = (props) => {
  const src = compileUrl(props.src, false);
  const alt = compileText(props.alt);
  const width = compileScalar(props.width, asInt(1, 800));
  const height = compileScalar(props.height, asInt(1, 2000));
  const href = compileUrl(props.href, false);
  const align = compileScalar(props.align, asAlign);
  return {
    render(_node, run, scope, inherited) {
      const url = src(run, scope);
      if (url === undefined) return;
      const altText = alt(run, scope);
      const w = width(run, scope);
      const h = height(run, scope);
      const link = href(run, scope);
      const a = align(run, scope) ?? inherited.align;
      const size = `${w !== undefined ? ` width="${w}"` : ''}${h !== undefined ? ` height="${h}"` : ''}`;
      const style = `display:block;margin:${IMAGE_MARGIN[a]};border:0;outline:none;text-decoration:none;max-width:100%;${w !== undefined ? `width:${w}px;` : ''}${h === undefined ? 'height:auto;' : `height:${h}px;`}`;
      const img = `<img src="${escapeHtml(url)}" alt="${escapeHtml(altText)}"${size} style="${style}">`;
      const content = link === undefined ? img : `<a href="${escapeHtml(link)}" target="_blank" rel="noopener">${img}</a>`;
      run.html += `${LAYOUT_TABLE}><tr><td align="${a}" style="padding:0 0 16px;">${content}</td></tr></table>\n`;
      emitText(run, link === undefined ? altText : linkText(altText, link));
    },
  };
};

export const compileDivider: ComponentCompiler = (props) => {
  const color = compileScalar(props.color, asColor);
  const thickness = compileScalar(props.thickness, asInt(1, 8));
  const margin = compileScalar(props.margin, asInt(0, 64));
  return {
    render(_node, run, scope) {
      const line = `border-top:${thickness(run, scope) ?? 1}px solid ${color(run, scope) ?? '#e4e4e7'};`;
      run.html += `${LAYOUT_TABLE}><tr><td style="padding:${margin(run, scope) ?? 16}px 0;">${LAYOUT_TABLE}><tr><td style="${line}font-size:1px;line-height:1px;">&nbsp;</td></tr></table></td></tr></table>\n`;
    },
  };
};

export const compileSpacer: ComponentCompiler = (props) => {
  const height = compileScalar(props.height, asInt(1, 200));
  return {
    render(_node, run, scope) {
      const h = height(run, scope) ?? 16;
      run.html += `${LAYOUT_TABLE}><tr><td height="${h}" style="height:${h}px;font-size:1px;line-height:1px;">&nbsp;</td></tr></table>\n`;
    },
  };
};
