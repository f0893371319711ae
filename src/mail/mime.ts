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
import type { Transform } from 'node:stream';
import { Encoder as Base64Encoder } from 'nodemailer/lib/base64';
import MailComposer from 'nodemailer/lib/mail-composer';
import { foldLines } from 'nodemailer/lib/mime-funcs';
import type MimeNode from 'nodemailer/lib/mime-node';
import { Encoder as QpEncoder } from 'nodemailer/lib/qp';
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
  const serialized = await serializeMimeTree(node);
  const composed = (serialized ?? (await node.build())).toString('latin1').replace(BARE_LF, '\r\n');

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

/**
 * The bytes `node.build()` produces, written without its streams (docs/adr/0006). `build()`
 * streams the tree: a PassThrough per content part, a `pipeline` per encoder (an AbortController,
 * and a DOMException with its stack trace when each finishes), a `setImmediate` per part — in the
 * journey burst and bench:send that machinery cost as much as the encoding itself. This walks the
 * same tree in the order `MimeNode.stream` does and runs nodemailer's own encoders (their
 * Transform steps, called directly) on each part, so the encoding decisions, headers, folding and
 * bytes stay nodemailer's; `mime.test.ts` compares the two byte for byte. Like `build()` it writes
 * one part per turn of the event loop: builds run inside delivery transactions, many to a group
 * commit, and a group built without yielding kept SMTP replies unread (bench:send over SMTP fell
 * from 0.7× to 0.4×; with one yield per message, 0.55×). Resolves to null for a tree holding
 * anything but string or Buffer content (a stream, a file, a URL, raw source, transforms), which
 * only `build()` can read.
 */
export async function serializeMimeTree(root: MimeNode): Promise<Buffer | null> {
  if (!serializable(root)) return null;
  const out: Buffer[] = [];
  await writeNode(root, out);
  const last = out.findLast((chunk) => chunk.length > 0);
  const lastByte = last?.[last.length - 1];
  // MimeNode.createReadStream ends the message with a line break (its LastNewline stage).
  if (lastByte !== 0x0a) out.push(Buffer.from(lastByte === 0x0d ? '\n' : '\r\n'));
  return Buffer.concat(out);
}

/** Internals of a node that decide whether `build()` would do more than headers and content. */
interface NodeInternals {
  _raw?: unknown;
  _transforms?: unknown[];
  _processFuncs?: unknown[];
}

/** Whether every node of the tree holds only headers, string or Buffer content, and children. */
function serializable(node: MimeNode): boolean {
  const internals = node as unknown as NodeInternals;
  if (internals._raw || (internals._transforms?.length ?? 0) > 0 || (internals._processFuncs?.length ?? 0) > 0 || node.newline) return false;
  const content = node.content;
  if (content !== undefined && content !== null && typeof content !== 'string' && !Buffer.isBuffer(content)) return false;
  return node.childNodes.every(serializable);
}

async function writeNode(node: MimeNode, out: Buffer[]): Promise<void> {
  // `serializable` let only string or Buffer content through.
  const content = node.content as string | Buffer | undefined;
  // As MimeNode.stream: the header block (which decides the transfer encoding and records it as
  // a header, and sets the content type, multipart subtype and boundary read below), then the
  // content, then the child parts. Reading the recorded encoding back saves a second scan of the
  // content by getTransferEncoding. One part per turn of the event loop (see serializeMimeTree).
  await new Promise<void>((resolve) => setImmediate(resolve));
  out.push(Buffer.from(`${node.buildHeaders()}\r\n\r\n`));
  const transferEncoding = String(node.getHeader('Content-Transfer-Encoding') ?? '').toLowerCase();
  if (content) {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    if (transferEncoding === 'quoted-printable') {
      out.push(encodeWith(new QpEncoder({ binary: !/^text\//i.test(node.contentType ?? '') }), bytes));
    } else if (transferEncoding === 'base64') {
      out.push(encodeWith(new Base64Encoder(), bytes));
    } else {
      out.push(bytes);
    }
  }
  if (node.multipart) {
    for (const [i, child] of node.childNodes.entries()) {
      out.push(Buffer.from(`${i > 0 ? '\r\n' : ''}--${String(node.boundary)}\r\n`));
      await writeNode(child, out);
    }
    out.push(Buffer.from(`\r\n--${String(node.boundary)}--\r\n`));
  }
}

/** One whole input through an encoder's transform and flush steps, collecting what they push. */
function encodeWith(encoder: Transform, input: Buffer): Buffer {
  const pushed: Buffer[] = [];
  encoder.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk !== null && chunk !== undefined) pushed.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), encoding));
    return true;
  };
  const fail = (error?: Error | null): void => {
    if (error) throw error;
  };
  // 'buffer' is what a stream passes with Buffer chunks; Node's typings only list string encodings.
  encoder._transform(input, 'buffer' as BufferEncoding, fail);
  encoder._flush(fail);
  return Buffer.concat(pushed);
}
