/**
 * Output encodings of the renderer (templates.md §6.1, §6.2, §6.4): HTML escaping for text and
 * attributes, the URL allow-list, percent-encoding of values substituted into URLs, and the
 * header-field rule that keeps rendered values from ever adding a mail header line.
 */

const HTML_SPECIAL = /[&<>"']/;
const HTML_SPECIAL_ALL = /[&<>"']/g;
const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes `& < > " '`; safe in element text and in double- or single-quoted attributes. */
export function escapeHtml(value: string): string {
  return HTML_SPECIAL.test(value) ? value.replace(HTML_SPECIAL_ALL, (c) => HTML_ENTITIES[c]!) : value;
}

// C0 controls, DEL, C1 controls and the Unicode line/paragraph separators.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Header fields: every control character becomes one space, then the value is trimmed. */
export function sanitizeHeaderValue(value: string, maxLength?: number): string {
  let out = value.replace(CONTROL_CHARS, ' ').trim();
  if (maxLength !== undefined && out.length > maxLength) {
    // Cut on a code point boundary so no lone surrogate is left behind.
    const last = out.charCodeAt(maxLength - 1);
    out = out.slice(0, last >= 0xd800 && last <= 0xdbff ? maxLength - 1 : maxLength).trimEnd();
  }
  return out;
}

const HTTP_URL = /^https?:/i;
const HTTP_OR_MAILTO_URL = /^(?:https?|mailto):/i;

/**
 * The URL allow-list: the trimmed value survives only with an `http:` or `https:` scheme (or
 * `mailto:` when allowed), compared case-insensitively. Anything else (`javascript:`, `data:`,
 * relative URLs, non-strings) yields undefined and the caller drops the link or image.
 */
export function safeUrl(value: unknown, allowMailto: boolean): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = value.trim();
  return (allowMailto ? HTTP_OR_MAILTO_URL : HTTP_URL).test(url) ? url : undefined;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `encodeURIComponent` that cannot throw: lone surrogates become U+FFFD first. */
export function encodeUrlComponent(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(LONE_SURROGATE, '\ufffd'));
  }
}
