/**
 * Plain text from HTML with html-to-text, configured like the text the renderer derives from its
 * own components (templates.md §4.2): links as `text (url)`, images as their alt text, table rows
 * as tab-separated lines, headings not upper-cased, the hidden preheader skipped. The renderer
 * uses it for the trusted markup of `Html` components, whose structure it does not know.
 */
import { compile, type FormatCallback } from 'html-to-text';

const altOnly: FormatCallback = (elem, _walk, builder) => {
  const alt = elem.attribs?.alt;
  if (alt) builder.addInline(alt);
};

const tabSeparatedRow: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 1 });
  let first = true;
  for (const cell of elem.children ?? []) {
    if (cell.type !== 'tag' || (cell.name !== 'td' && cell.name !== 'th')) continue;
    if (!first) builder.addLiteral('\t');
    first = false;
    walk(cell.children, builder);
  }
  builder.closeBlock({ trailingLineBreaks: 1 });
};

const convert = compile({
  wordwrap: false,
  formatters: { altOnly, tabSeparatedRow },
  selectors: [
    { selector: 'a', options: { linkBrackets: ['(', ')'], hideLinkHrefIfSameAsText: true } },
    { selector: 'img', format: 'altOnly' },
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'table', format: 'block' },
    { selector: 'tr', format: 'tabSeparatedRow' },
    { selector: 'div.sf-preheader', format: 'skip' },
  ],
});

export function htmlToPlainText(html: string): string {
  return convert(html).trim();
}
