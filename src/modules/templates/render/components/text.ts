/**
 * Text components: Heading, Text (with inline Links), Link, List and ListItem (with inline Links).
 * Every value is HTML-escaped; a Link whose URL is dropped renders its text without a link.
 */
import { asAlign, asBoolean, asColor, asEnum, asInt } from '../catalog.js';
import { compileScalar, compileText as compileTextValue, compileUrl } from '../compile-value.js';
import { escapeHtml } from '../escape.js';
import type { Inherited, InlineRenderer, PlanNode, RenderRun, Scope } from '../plan.js';
import { countNode, emitText, forEachChild, isVisible, renderChildren } from '../walk.js';
import { fontStyle, linkText, type ComponentCompiler } from './shared.js';

const HEADING_SIZES = { 1: 28, 2: 22, 3: 18 } as const;

export const compileHeading: ComponentCompiler = (props) => {
  const text = compileTextValue(props.text);
  const level = compileScalar(props.level, asInt(1, 3));
  const align = compileScalar(props.align, asAlign);
  const color = compileScalar(props.color, asColor);
  return {
    render(_node, run, scope, inherited) {
      const t = text(run, scope);
      const n = (level(run, scope) ?? 1) as 1 | 2 | 3;
      const style = `margin:0 0 12px;${fontStyle(inherited.fontFamily)}font-size:${HEADING_SIZES[n]}px;line-height:1.3;font-weight:bold;color:${color(run, scope) ?? inherited.textColor};text-align:${align(run, scope) ?? inherited.align};`;
      run.html += `<h${n} style="${style}">${escapeHtml(t)}</h${n}>\n`;
      emitText(run, t);
    },
  };
};

/** Escaped text where `\n` becomes a line break. */
const multiline = (text: string): string => escapeHtml(text).replace(/\r?\n/g, '<br>');

/** The Link children of a Text or ListItem, rendered inline after its text. */
function inlineLinks(node: PlanNode, run: RenderRun, scope: Scope, inherited: Inherited): { html: string; text: string } {
  let html = '';
  let text = '';
  if (node.children.length === 0) return { html, text };
  forEachChild(node, run, scope, (child, childScope) => {
    if (child.inline === undefined || !isVisible(child, childScope)) return;
    countNode(run);
    const link = child.inline(run, childScope, inherited);
    html += ' ' + link.html;
    text += ' ' + link.text;
  });
  return { html, text };
}

const asFontWeight = asEnum(['normal', 'bold'] as const);

export const compileTextBlock: ComponentCompiler = (props) => {
  const text = compileTextValue(props.text);
  const align = compileScalar(props.align, asAlign);
  const color = compileScalar(props.color, asColor);
  const fontSize = compileScalar(props.fontSize, asInt(10, 48));
  const fontWeight = compileScalar(props.fontWeight, asFontWeight);
  return {
    render(node, run, scope, inherited) {
      const t = text(run, scope);
      const weight = fontWeight(run, scope);
      const style = `margin:0 0 16px;${fontStyle(inherited.fontFamily)}font-size:${fontSize(run, scope) ?? 16}px;line-height:1.5;color:${color(run, scope) ?? inherited.textColor};text-align:${align(run, scope) ?? inherited.align};${weight ? `font-weight:${weight};` : ''}`;
      const links = inlineLinks(node, run, scope, inherited);
      run.html += `<p style="${style}">${multiline(t)}${links.html}</p>\n`;
      emitText(run, (t + links.text).trim());
    },
  };
};

export const compileLink: ComponentCompiler = (props) => {
  const text = compileTextValue(props.text);
  const href = compileUrl(props.href, true);
  const color = compileScalar(props.color, asColor);
  const inline: InlineRenderer = (run, scope, inherited) => {
    const t = text(run, scope);
    const url = href(run, scope);
    const label = escapeHtml(t === '' && url !== undefined ? url : t);
    const html =
      url === undefined
        ? `<span>${label}</span>`
        : `<a href="${escapeHtml(url)}" target="_blank" rel="noopener" style="color:${color(run, scope) ?? inherited.linkColor};text-decoration:underline;">${label}</a>`;
    return { html, text: linkText(t, url) };
  };
  return {
    render(_node, run, scope, inherited) {
      const link = inline(run, scope, inherited);
      run.html += `<p style="margin:0 0 16px;${fontStyle(inherited.fontFamily)}font-size:16px;line-height:1.5;color:${inherited.textColor};text-align:${inherited.align};">${link.html}</p>\n`;
      emitText(run, link.text);
    },
    inline,
  };
};

export const compileList: ComponentCompiler = (props) => {
  const ordered = compileScalar(props.ordered, asBoolean);
  return {
    render(node, run, scope, inherited) {
      const tag = ordered(run, scope) ? 'ol' : 'ul';
      run.html += `<${tag} style="margin:0 0 16px;padding:0 0 0 24px;${fontStyle(inherited.fontFamily)}font-size:16px;line-height:1.5;color:${inherited.textColor};text-align:${inherited.align};">\n`;
      // Each ListItem emits one plain-text block; they are collected here to become numbered or bulleted lines.
      const outer = run.text;
      const items: string[] | undefined = outer === undefined ? undefined : [];
      run.text = items;
      try {
        renderChildren(node, run, scope, inherited);
      } finally {
        run.text = outer;
      }
      run.html += `</${tag}>\n`;
      if (items) emitText(run, items.map((line, i) => (tag === 'ol' ? `${i + 1}. ` : '- ') + line).join('\n'));
    },
  };
};

export const compileListItem: ComponentCompiler = (props) => {
  const text = compileTextValue(props.text);
  return {
    render(node, run, scope, inherited) {
      const t = text(run, scope);
      const links = inlineLinks(node, run, scope, inherited);
      run.html += `<li style="margin:0 0 4px;">${multiline(t)}${links.html}</li>\n`;
      emitText(run, (t + links.text).trim());
    },
  };
};
