/**
 * The provider interface every mail transport implements (emails.md §6): the worker hands a
 * transport one finished RFC 5322 message plus its envelope and gets back the transport's own
 * message id, or a `TransportError` that says whether retrying can help. The shapes follow the
 * spec; the few additions are optional or marked "ours" and are documented where they appear.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';

export interface OutboundStructured {
  /** The From header value, e.g. `Acme <hello@example.com>`. */
  from: string;
  /** The primary recipient's address. */
  to: string;
  cc: string[];
  replyTo: string | null;
  subject: string;
  html: string;
  text: string;
  /** Extra headers carried by `raw` (X-Segmentflow-Email-Send-Id, List-Unsubscribe, …). */
  headers: [string, string][];
}

export interface OutboundMessage {
  /**
   * Ours (not in the spec's interface): the owning organization, which the capture transport
   * files the message under. HTTP providers ignore it.
   */
  organizationId: string;
  emailSendId: string;
  /** Always the EmailSend id, so a repeated hand-off is recognisable by providers that dedupe. */
  idempotencyKey: string;
  /** `<{emailSendId}@{from-domain}>`, exactly as in the message. */
  messageIdHeader: string;
  /** The SMTP envelope: primary recipient first, then cc, then bcc. */
  envelope: { from: string; to: string[] };
  /** The RFC 5322 message, sent byte for byte. */
  raw: Buffer;
  /** The same message as fields, for HTTP providers that want JSON rather than MIME. */
  structured: OutboundStructured;
}

/** One envelope recipient the receiver refused while still accepting the message for others. */
export interface RejectedRecipient {
  recipient: string;
  permanent: boolean;
  code?: string;
  response?: string;
  responseCode?: number;
}

export interface SendResult {
  transportMessageId: string;
  /**
   * Ours (optional): cc/bcc recipients refused while the primary recipient was accepted, so the
   * caller can suppress hard-bouncing addresses (emails.md §5.5). Absent when none were refused.
   */
  rejectedRecipients?: RejectedRecipient[];
}

export interface MailTransport {
  readonly name: string;
  /** Throws `TransportError` for every delivery failure; never resolves without a hand-off. */
  send(msg: OutboundMessage): Promise<SendResult>;
  /**
   * Ours, optional: a transport that stores into this database (capture) takes the hand-off
   * inside the delivery's own transaction. The hand-off, the `Sent` status and the job's
   * completion then commit together or not at all — exactly once, and one commit instead of
   * three; a rollback undoes the hand-off. Transports that talk to the network cannot offer it.
   */
  sendInTransaction?(trx: Kysely<Database>, msg: OutboundMessage): Promise<SendResult>;
  close(): Promise<void>;
}

export interface TransportErrorDetails {
  /** True when retrying the same message cannot succeed (e.g. SMTP 5xx to MAIL/RCPT/DATA). */
  permanent: boolean;
  /** The enhanced status code (RFC 3463, e.g. `5.1.1`) when the receiver gave one, else the transport's error code. */
  code?: string | undefined;
  /** The receiver's full response line(s). */
  response?: string | undefined;
  responseCode?: number | undefined;
  /** Ours: the envelope recipient the failure is about, when it is about one. */
  recipient?: string | undefined;
  cause?: unknown;
}

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly permanent: boolean;
  readonly code?: string;
  readonly response?: string;
  readonly responseCode?: number;
  readonly recipient?: string;

  constructor(message: string, details: TransportErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.permanent = details.permanent;
    if (details.code !== undefined) this.code = details.code;
    if (details.response !== undefined) this.response = details.response;
    if (details.responseCode !== undefined) this.responseCode = details.responseCode;
    if (details.recipient !== undefined) this.recipient = details.recipient;
  }
}

/** An RFC 3463 `5.1.x` status (bad mailbox / destination address): the address should be suppressed. */
export function isHardBounceCode(code: string | undefined): boolean {
  return code !== undefined && /^5\.1\.\d{1,3}$/.test(code);
}
