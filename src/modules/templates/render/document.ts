/**
 * The HTML document around the rendered blocks (templates.md §4.1, §6.5): doctype, `lang`,
 * `<title>` = subject, the hidden preheader first in the body, a centred content table of the
 * Email's width that goes full-width (and stacks Columns) on narrow screens, and the optional
 * unsubscribe footer. Everything interpolated here is escaped or a validated style value.
 */
import { escapeHtml } from './escape.js';

export interface DocumentParts {
  readonly lang: string;
  readonly subject: string;
  readonly preheader: string;
  readonly content: string;
  readonly backgroundColor: string;
  readonly contentBackgroundColor: string;
  readonly width: number;
  readonly fontFamily: string;
  readonly textColor: string;
  readonly footer: FooterParts | undefined;
}

export interface FooterParts {
  readonly unsubscribeUrl: string;
  readonly preferencesUrl: string | undefined;
  readonly footerText: string;
}

const FOOTER_COLOR = '#71717a';

function footerRow(footer: FooterParts, fontFamily: string): string {
  const link = (url: string, label: string): string =>
    `<a href="${escapeHtml(url)}" target="_blank" rel="noopener" style="color:${FOOTER_COLOR};text-decoration:underline;">${label}</a>`;
  const links = link(footer.unsubscribeUrl, 'Unsubscribe') + (footer.preferencesUrl ? ' &middot; ' + link(footer.preferencesUrl, 'Manage preferences') : '');
  const text = footer.footerText === '' ? '' : escapeHtml(footer.footerText).replace(/\r?\n/g, '<br>') + '<br>';
  return `<tr><td class="sf-footer" align="center" style="padding:24px;font-family:${fontFamily};font-size:12px;line-height:1.5;color:${FOOTER_COLOR};text-align:center;">${text}${links}</td></tr>\n`;
}

/** The footer as plain text, appended to the text part. */
export function footerPlainText(footer: FooterParts): string {
  const lines = footer.footerText === '' ? [] : [footer.footerText];
  lines.push(`Unsubscribe (${footer.unsubscribeUrl})`);
  if (footer.preferencesUrl) lines.push(`Manage preferences (${footer.preferencesUrl})`);
  return lines.join('\n');
}

export function buildDocument(p: DocumentParts): string {
  const preheader =
    p.preheader === ''
      ? ''
      : `<div class="sf-preheader" style="display:none;max-height:0;max-width:0;overflow:hidden;opacity:0;mso-hide:all;font-size:1px;line-height:1px;color:${p.backgroundColor};">${escapeHtml(p.preheader)}</div>\n`;
  return (
    '<!DOCTYPE html>\n' +
    `<html lang="${escapeHtml(p.lang)}">\n` +
    '<head>\n' +
    '<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    '<meta name="x-apple-disable-message-reformatting">\n' +
    '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no">\n' +
    `<title>${escapeHtml(p.subject)}</title>\n` +
    '<style>\n' +
    'body{margin:0;padding:0;width:100%;-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%;}\n' +
    'table{border-collapse:collapse;}\n' +
    'img{border:0;outline:none;text-decoration:none;-ms-interpolation-mode:bicubic;}\n' +
    `@media only screen and (max-width:${p.width + 40}px){` +
    '.sf-container{width:100%!important;max-width:100%!important;}' +
    '.sf-stack{display:block!important;width:100%!important;max-width:100%!important;box-sizing:border-box;}' +
    '.sf-gap{display:none!important;}}\n' +
    '</style>\n' +
    '</head>\n' +
    `<body style="margin:0;padding:0;background-color:${p.backgroundColor};">\n` +
    preheader +
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="${p.backgroundColor}" style="background-color:${p.backgroundColor};">\n` +
    '<tr><td align="center" style="padding:24px 12px;">\n' +
    `<table role="presentation" class="sf-container" width="${p.width}" cellpadding="0" cellspacing="0" border="0" bgcolor="${p.contentBackgroundColor}" style="width:${p.width}px;max-width:${p.width}px;background-color:${p.contentBackgroundColor};">\n` +
    `<tr><td style="padding:0;font-family:${p.fontFamily};color:${p.textColor};font-size:16px;line-height:1.5;text-align:left;">\n` +
    p.content +
    '</td></tr>\n' +
    (p.footer ? footerRow(p.footer, p.fontFamily) : '') +
    '</table>\n' +
    '</td></tr>\n' +
    '</table>\n' +
    '</body>\n' +
    '</html>\n'
  );
}
