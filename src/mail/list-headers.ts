/**
 * The RFC 8058 / RFC 2919 headers of non-transactional sends (emails.md §7), already encoded for
 * `buildMime`'s extra headers: List-Unsubscribe and List-Unsubscribe-Post for one-click
 * unsubscribe, and List-Id `"<group name>" <{subscriptionGroupId}.lists.{from-domain}>`. A group
 * name is a quoted string when it is printable ASCII and RFC 2047 encoded words otherwise, since
 * a structured header cannot be encoded as a whole.
 */
import { encodeWords } from 'nodemailer/lib/mime-funcs';

export interface ListHeadersInput {
  /** `{SEGMENTFLOW_PUBLIC_URL}/unsubscribe/{token}` */
  unsubscribeUrl: string;
  groupName: string;
  subscriptionGroupId: string;
  fromDomain: string;
}

function phrase(name: string): string {
  const line = name.replace(/[\x00-\x1f\x7f\u2028\u2029]+/g, ' ').trim();
  if (/^[\x20-\x7e]*$/.test(line)) return `"${line.replace(/["\\]/g, '\\$&')}"`;
  return encodeWords(line, 'Q', 52, true);
}

/** Throws on a URL that could not stand inside `<…>` (it is built from validated config and a token). */
export function listHeaders(input: ListHeadersInput): [string, string][] {
  if (!/^https?:\/\/[\x21-\x3b\x3d\x3f-\x7e]+$/.test(input.unsubscribeUrl)) {
    throw new TypeError('listHeaders: unsubscribeUrl must be an http(s) URL of printable ASCII without < or >');
  }
  return [
    ['List-Unsubscribe', `<${input.unsubscribeUrl}>`],
    ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
    ['List-Id', `${phrase(input.groupName)} <${input.subscriptionGroupId}.lists.${input.fromDomain.toLowerCase()}>`],
  ];
}
