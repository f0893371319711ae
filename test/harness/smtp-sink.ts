/**
 * A real SMTP server for tests (smtp-server on 127.0.0.1, a random port, no STARTTLS, AUTH
 * optional and allowed in plain text). Every accepted message is recorded with its SMTP envelope,
 * the raw bytes and mailparser's parse — recorded before the 250 reply, so it is there as soon as
 * the sender's `send` resolves. `rejectRecipient` lets a test refuse RCPT TO with any reply, e.g.
 * `{ code: 550, message: '5.1.1 User unknown' }` → `550 5.1.1 User unknown`. Accepted messages are
 * answered `250 Message queued as SINK<n>` (n counts from 1 per sink).
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  /** The AUTH user name the client logged in with, or null. */
  authUser: string | null;
  /** The queue id given in the 250 reply. */
  queueId: string;
}

export interface SmtpSinkOptions {
  rejectRecipient?: (address: string) => { code: number; message: string } | null;
}

export interface SmtpSink {
  port: number;
  /** `smtp://127.0.0.1:PORT` */
  url: string;
  messages: SinkMessage[];
  /** Credentials clients logged in with, in order. */
  logins: { username: string; password: string }[];
  close(): Promise<void>;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  const logins: { username: string; password: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onAuth(auth, _session, callback) {
      logins.push({ username: auth.username ?? '', password: auth.password ?? '' });
      callback(null, { user: auth.username ?? '' });
    },
    onRcptTo(address, _session, callback) {
      const refusal = options.rejectRecipient?.(address.address) ?? null;
      if (refusal === null) return callback();
      const error = new Error(refusal.message) as Error & { responseCode: number };
      error.responseCode = refusal.code;
      callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error: Error) => callback(error));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            const queueId = `SINK${messages.length + 1}`;
            messages.push({
              envelope: {
                from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
                to: session.envelope.rcptTo.map((r) => r.address),
              },
              raw,
              parsed,
              authUser: typeof session.user === 'string' ? session.user : null,
              queueId,
            });
            callback(null, `Message queued as ${queueId}`);
          },
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A client dropping its connection mid-test must not crash the test process.
  server.on('error', () => {});
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
