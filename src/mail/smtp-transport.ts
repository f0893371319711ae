/**
 * The `smtp` transport (emails.md §6): nodemailer, pooled by default, sending the stored MIME
 * byte for byte with the explicit envelope (so bcc recipients get RCPT TO without a header).
 *
 * Failures become `TransportError`s. `permanent` is true only when retrying the same message
 * cannot help: a 5xx reply (except 503, a sequencing error) to MAIL FROM, RCPT TO or DATA, or an
 * envelope nodemailer refuses to send at all. Everything else — 4xx, 503, refused or dropped
 * connections, timeouts, TLS trouble and authentication failures (configuration the operator can
 * fix while the job retries) — is transient. `code` is the enhanced status code (e.g. `5.1.1`)
 * when the server gave one, else nodemailer's error code (`ECONNECTION`, `ETIMEDOUT`, …).
 *
 * Recipients: the primary recipient is `envelope.to[0]`. If the server refuses it the send fails
 * with that refusal even when cc/bcc recipients were accepted (they already received the
 * message; a retry may repeat it for them under the same Message-ID). Refused cc/bcc recipients
 * alone do not fail the send; they are returned in `rejectedRecipients`.
 */
import nodemailer from 'nodemailer';
import type { NodemailerError } from 'nodemailer/lib/errors';
import type { SendMailOptions } from 'nodemailer/lib/mailer';
import type { SMTPSentMessageInfo } from 'nodemailer/lib/smtp-transport';
import type { MailTransport, OutboundMessage, RejectedRecipient, SendResult } from './transport.js';
import { TransportError } from './transport.js';
import { parseSmtpUrl, type SmtpSettings } from './smtp-url.js';

/** What this transport uses of nodemailer's pooled and single-connection transporters alike. */
interface Sender {
  sendMail(mail: SendMailOptions): Promise<SMTPSentMessageInfo>;
  close(): void;
}

const ENVELOPE_COMMANDS = new Set(['MAIL FROM', 'RCPT TO', 'DATA']);

/** The enhanced status code (RFC 3463) at the start of a reply, e.g. `550 5.1.1 …` → `5.1.1`. */
export function enhancedStatusCode(response: string | undefined): string | undefined {
  if (response === undefined) return undefined;
  return /^[2-5][0-9]{2}[ -]([245]\.[0-9]{1,3}\.[0-9]{1,3})(?![0-9.])/.exec(response)?.[1];
}

/** The receiver's queue id from a success reply (`… queued as ABC123`, `… id=1abc-…`), if it names one. */
export function queueIdFromResponse(response: string): string | undefined {
  return /\bqueued as:?\s+<?([\w.@+-]+)>?/i.exec(response)?.[1] ?? /\bid=([\w.@+-]+)/i.exec(response)?.[1];
}

function isPermanentReply(responseCode: number | undefined): boolean {
  return responseCode !== undefined && responseCode >= 500 && responseCode < 600 && responseCode !== 503;
}

function asNodemailerError(error: unknown): NodemailerError {
  return error instanceof Error ? (error as NodemailerError) : new Error(String(error));
}

/** Maps a nodemailer failure (or one recipient's refusal) to the transport-neutral error. */
export function toTransportError(error: unknown): TransportError {
  const e = asNodemailerError(error);
  const onEnvelope = e.command !== undefined && ENVELOPE_COMMANDS.has(e.command);
  const refusedByNodemailer = e.code === 'EENVELOPE' && e.command === 'API';
  const permanent = (onEnvelope && isPermanentReply(e.responseCode)) || refusedByNodemailer;
  return new TransportError(e.message, {
    permanent,
    code: enhancedStatusCode(e.response) ?? e.code,
    response: e.response,
    responseCode: e.responseCode,
    recipient: e.recipient,
    cause: error,
  });
}

function toRejectedRecipient(error: NodemailerError, recipient: string): RejectedRecipient {
  const mapped = toTransportError(error);
  const rejected: RejectedRecipient = { recipient, permanent: mapped.permanent };
  if (mapped.code !== undefined) rejected.code = mapped.code;
  if (mapped.response !== undefined) rejected.response = mapped.response;
  if (mapped.responseCode !== undefined) rejected.responseCode = mapped.responseCode;
  return rejected;
}

function nodemailerOptions(settings: SmtpSettings) {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTLS,
    tls: { rejectUnauthorized: settings.rejectUnauthorized },
    ...(settings.auth === null ? {} : { auth: { user: settings.auth.user, pass: settings.auth.pass } }),
    ...(settings.connectionTimeoutMs === null ? {} : { connectionTimeout: settings.connectionTimeoutMs }),
    ...(settings.greetingTimeoutMs === null ? {} : { greetingTimeout: settings.greetingTimeoutMs }),
    ...(settings.socketTimeoutMs === null ? {} : { socketTimeout: settings.socketTimeoutMs }),
  };
}

/** Throws when the URL is invalid (a start-up error); see `parseSmtpUrl` to validate first. */
export function createSmtpTransport(url: string): MailTransport {
  const parsed = parseSmtpUrl(url);
  if (!parsed.ok) throw new Error(`invalid SMTP URL: ${parsed.error.join('; ')}`);
  const settings = parsed.value;
  const transporter: Sender = settings.pool
    ? nodemailer.createTransport({ ...nodemailerOptions(settings), pool: true, maxConnections: settings.maxConnections })
    : nodemailer.createTransport(nodemailerOptions(settings));

  return {
    name: 'smtp',
    async send(msg: OutboundMessage): Promise<SendResult> {
      let info: SMTPSentMessageInfo;
      try {
        info = await transporter.sendMail({ envelope: { from: msg.envelope.from, to: msg.envelope.to }, raw: msg.raw });
      } catch (error) {
        throw toTransportError(error);
      }
      const primary = msg.envelope.to[0];
      const refusals = (info.rejectedErrors ?? []).map((e) => ({ error: e, recipient: e.recipient ?? '' }));
      const primaryRefusal = refusals.find((r) => primary !== undefined && r.recipient.toLowerCase() === primary.toLowerCase());
      if (primaryRefusal !== undefined) throw toTransportError(primaryRefusal.error);
      const result: SendResult = { transportMessageId: queueIdFromResponse(info.response) ?? info.serverMessageId ?? info.response };
      if (refusals.length > 0) result.rejectedRecipients = refusals.map((r) => toRejectedRecipient(r.error, r.recipient));
      return result;
    },
    async close(): Promise<void> {
      transporter.close();
    },
  };
}
