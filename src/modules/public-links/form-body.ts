/**
 * The small amount of HTTP the public pages need beyond JSON: reading the form fields of a POST
 * (`application/x-www-form-urlencoded`, or `multipart/form-data` as some mail clients send the
 * RFC 8058 one-click body) without a new dependency, and deciding from `Accept` whether a failure
 * is answered as an HTML page or as the JSON error envelope.
 */

const MAX_FIELDS = 1000;

/** Form fields in order; an unknown content type or an unreadable body yields no fields. */
export function parseFormFields(contentType: string | undefined, body: Buffer | undefined): [string, string][] {
  if (body === undefined || body.length === 0 || contentType === undefined) return [];
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-www-form-urlencoded') {
    return [...new URLSearchParams(body.toString('utf8'))].slice(0, MAX_FIELDS);
  }
  if (mediaType === 'multipart/form-data') {
    const boundary = /;\s*boundary=(?:"([^"]{1,200})"|([^\s;]{1,200}))/i.exec(contentType);
    const value = boundary?.[1] ?? boundary?.[2];
    return value === undefined ? [] : parseMultipart(body.toString('utf8'), value);
  }
  return [];
}

/**
 * Text fields of a multipart body (RFC 7578): parts separated by `--boundary`, each with headers,
 * an empty line and the value. File parts are skipped; nothing here needs them.
 */
function parseMultipart(text: string, boundary: string): [string, string][] {
  const fields: [string, string][] = [];
  const parts = text.split(`--${boundary}`);
  // parts[0] is the preamble; a part starting with "--" is the closing delimiter's epilogue.
  for (const part of parts.slice(1)) {
    if (part.startsWith('--') || fields.length >= MAX_FIELDS) break;
    const content = part.replace(/^\r?\n/, '');
    const split = /\r?\n\r?\n/.exec(content);
    if (!split) continue;
    const headers = content.slice(0, split.index);
    const disposition = headers.split(/\r?\n/).find((line) => /^content-disposition\s*:/i.test(line));
    if (disposition === undefined || /;\s*filename\*?=/i.test(disposition)) continue;
    const name = /;\s*name="([^"]*)"|;\s*name=([^\s;]+)/i.exec(disposition);
    const fieldName = name?.[1] ?? name?.[2];
    if (fieldName === undefined) continue;
    fields.push([fieldName, content.slice(split.index + split[0].length).replace(/\r?\n$/, '')]);
  }
  return fields;
}

/**
 * How `Accept` ranks a media type: the q-value of its most specific matching range (RFC 9110
 * §12.5.1), and that range's specificity: 2 for the exact type, 1 for `type/` + `*`, 0 for the
 * full wildcard, -1 when nothing matches.
 */
function acceptRank(accept: string, type: string): { q: number; specificity: number } {
  const [major] = type.split('/');
  let best = { specificity: -1, q: 0 };
  for (const range of accept.split(',')) {
    const [mediaRange, ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    if (!mediaRange) continue;
    const specificity = mediaRange === type ? 2 : mediaRange === `${major}/*` ? 1 : mediaRange === '*/*' ? 0 : -1;
    if (specificity <= best.specificity) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best;
}

/**
 * True when the client ranks JSON above HTML: a higher q-value, or the same q-value with JSON
 * named more specifically (API clients send `application/json` next to a wildcard). Browsers, which name
 * text/html, and clients without a preference get pages.
 */
export function prefersJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.length > 1024) return false;
  const json = acceptRank(accept, 'application/json');
  const html = acceptRank(accept, 'text/html');
  if (json.q <= 0) return false;
  return json.q > html.q || (json.q === html.q && json.specificity > html.specificity);
}
