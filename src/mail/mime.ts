/**
 * Builds the one RFC 5322 message of an EmailSend with nodemailer's MailComposer (emails.md §5,
 * §7). The result is stored as text and handed to transports byte for byte, so it is built to be:
 *
 * - exact: the Message-ID is the one given, Date is the given instant, never a Bcc header (bcc
 *   addresses exist only in the returned SMTP envelope);
 * - injection-proof: control characters in names, the subject and extra header values collapse
 *   to a space before MailComposer sees them, extra header names are checked, and addresses must
 *   be plain ASCII addresses, so no value can start a header line of its own;
 * - 7-bit: non-ASCII header text becomes RFC 2047 encoded words, bodies that are not short-lined
 *   ASCII are quoted-printable or base64, line breaks are CRLF only, and the output is checked
 *   before it is returned;
 * - faithful to structured extra headers: an ASCII extra header value is written verbatim (only
 *   folded at spaces), because MailComposer would otherwise turn a value holding a `"` — e.g.
 *   `List-Id: "News" <id.lists.example.com>` — into one encoded word no list software reads. A
 *   non-ASCII extra value is encoded as unstructured text; structured headers with non-ASCII
 *   parts must come pre-encoded (see `list-headers.ts`). An empty extra value is dropped;
 * - deterministic: MailComposer's random multipart boundary is replaced by one derived from a
 *   hash of the whole input, so the same input always yields the same bytes (and no body can
 *   contain its own boundary, since the boundary depends on the body).
 */
import { createHash } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { foldLines } from 'nodemailer/lib/mime-funcs';
import { isValidEmail } from '../lib/email.js';

export interface MimeAddress {
  email: string;
  name: string | null;
}

export interface MimeInput {
  /** `<id@domain>`, used verbatim as the Message-ID header. */
  messageIdHeader: string;
  date: Date;
  from: MimeAddress;
  to: { email: string };
  cc: MimeAddress[];
  bcc: MimeAddress[];
  replyTo: MimeAddress | null;
  subject: string;
  html: string;
  text: string;
  /** Extra headers in order, e.g. X-Segmentflow-Email-Send-Id, List-Unsubscribe, List-Unsubscribe-Post, List-Id. */
  headers: [string, string][];
}

export interface BuiltMime {
  /** The whole message, CRLF line endings, ASCII only. */
  raw: string;
  /** MAIL FROM and RCPT TO: primary recipient, then cc, then bcc, without repeats. */
  envelope: { from: string; to: string[] };
}

/** Headers MailComposer writes itself from the input fields; an extra header must not shadow them. */
const RESERVED_HEADERS = new Set([
  'bcc',
  'cc',
  'content-transfer-encoding',
  'content-type',
  'date',
  'from',
  'message-id',
  'mime-version',
  'reply-to',
  'sender',
  'subject',
  'to',
]);

/** RFC 5322 field-name: printable ASCII except the colon. */
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const MESSAGE_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const SEVEN_BIT = /^[\x00-\x7f]*$/;
const BARE_LF = /\r?\n/g;
const CONTROL_RUN = /[\x00-\x1f\x7f\u2028\u2029]+/g;

/** Collapses every run of control characters (CR, LF, NUL, TAB…) to one space. */
function singleLine(value: string): string {
  return value.replace(CONTROL_RUN, ' ');
}

/** One line-break convention (LF; MailComposer writes CRLF), so no bare CR or LF reaches a 7bit body. */
function normalizedBreaks(value: string): string {
  return value.replace(/\r\n?/g, '\n');
}

function checkedEmail(field: string, email: string): string {
  if (!isValidEmail(email) || email !== email.trim()) {
    throw new TypeError(`buildMime: ${field} is not a plain email address`);
  }
  return email;
}

function composerAddress(field: string, address: MimeAddress): { name: string; address: string } {
  return { name: singleLine(address.name ?? '').trim(), address: checkedEmail(field, address.email) };
}

/** Display form of an address for JSON consumers (`structured.from`): `"Name" <email>` or `email`. */
export function formatAddress(address: MimeAddress): string {
  const name = singleLine(address.name ?? '').trim();
  if (name === '') return address.email;
  return `"${name.replace(/["\\]/g, '\\$&')}" <${address.email}>`;
}

function envelopeRecipients(input: MimeInput): string[] {
  const seen = new Set<string>();
  const recipients: string[] = [];
  for (const email of [input.to.email, ...input.cc.map((a) => a.email), ...input.bcc.map((a) => a.email)]) {
    const key = email.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    recipients.push(email);
  }
  return recipients;
}

function boundaryFor(input: MimeInput): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([input.messageIdHeader, input.date.getTime(), input.from, input.to, input.cc, input.bcc, input.replyTo, input.subject, input.headers]));
  // The bodies are most of the input: hashed as they are (length-prefixed, so the split between
  // them is part of the hash) rather than copied into JSON first.
  hash.update(`\n${input.html.length}\n`);
  hash.update(input.html);
  hash.update(`\n${input.text.length}\n`);
  hash.update(input.text);
  return hash.digest('hex').slice(0, 32);
}

/**
 * Throws `TypeError` for input no message should be built from (an address that is not a plain
 * address, a malformed Message-ID, a bad or reserved extra header name); callers treat it as a
 * render failure.
 */
export async function buildMime(input: MimeInput): Promise<BuiltMime> {
  if (!MESSAGE_ID.test(input.messageIdHeader)) {
    throw new TypeError('buildMime: messageIdHeader must look like <id@domain>');
  }
  if (Number.isNaN(input.date.getTime())) throw new TypeError('buildMime: date is invalid');
  checkedEmail('to', input.to.email);
  for (const [name] of input.headers) {
    if (!HEADER_NAME.test(name)) throw new TypeError(`buildMime: invalid header name ${JSON.stringify(name)}`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`buildMime: header ${name} is set from its own field, not through headers`);
    }
  }

  const node = new MailComposer({
    from: composerAddress('from', input.from),
    to: [{ name: '', address: input.to.email }],
    cc: input.cc.map((a) => composerAddress('cc', a)),
    bcc: input.bcc.map((a) => composerAddress('bcc', a)),
    ...(input.replyTo === null ? {} : { replyTo: composerAddress('replyTo', input.replyTo) }),
    subject: singleLine(input.subject),
    messageId: input.messageIdHeader,
    date: input.date,
    text: normalizedBreaks(input.text),
    html: normalizedBreaks(input.html),
    baseBoundary: boundaryFor(input),
  }).compile();
  // CRLF by one replace over the whole message rather than MailComposer's `newline: 'win'`: that
  // stream stage pushes every line as its own chunk, and cost about as much as the rest of the build.
  const composed = (await node.build()).toString('latin1').replace(BARE_LF, '\r\n');

  // Extra headers are written here rather than through MailComposer, which re-cases names
  // (`…-Id` → `…-ID`) and would encode structured ASCII values whole (see the note above).
  const extraLines = input.headers.flatMap(([name, value]) => {
    const line = singleLine(value);
    if (line.trim() === '') return [];
    const encoded = PRINTABLE_ASCII.test(line) ? line : node.encodeHeaderValue(name, line);
    return [foldLines(`${name}: ${encoded}`, 76)];
  });
  const headerEnd = composed.indexOf('\r\n\r\n');
  const mimeVersion = composed.lastIndexOf('\r\nMIME-Version: ', headerEnd);
  if (headerEnd < 0 || mimeVersion < 0) throw new Error('buildMime: unexpected MailComposer output');
  const raw = extraLines.length === 0
    ? composed
    : `${composed.slice(0, mimeVersion)}\r\n${extraLines.join('\r\n')}${composed.slice(mimeVersion)}`;

  if (!SEVEN_BIT.test(raw)) throw new Error('buildMime: composed message is not 7-bit clean');
  return {
    raw,
    envelope: { from: input.from.email, to: envelopeRecipients(input) },
  };
}
