/**
 * The SMTP receiver of bench/send.ts, run as a child process so that receiving (smtp-server plus
 * mailparser's parse of every message) does not compete with the worker for the parent's event
 * loop. It is the test harness's sink, unchanged (test/harness/smtp-sink.ts); this file only puts
 * it behind an IPC channel: `{ type: 'report' }` answers with what arrived since the previous
 * report (and forgets it, so memory stays bounded across phases).
 */
import { startSmtpSink } from '../test/harness/smtp-sink.js';

export interface SinkReportMessage {
  type: 'report';
  count: number;
  /** The Message-ID header of each message, as mailparser reads it (`<id@domain>`), '' when absent. */
  messageIds: string[];
  /** The RCPT TO addresses of each message, comma-joined. */
  recipients: string[];
  /** Raw bytes received (DATA as the sink stores it). */
  bytes: number;
}

if (process.send === undefined) {
  process.stderr.write('send-sink-child: must be started with an IPC channel (from bench/send.ts)\n');
  process.exit(2);
}

const sink = await startSmtpSink();

process.on('message', (request: { type?: string }) => {
  if (request.type !== 'report') return;
  const batch = sink.messages.splice(0);
  const report: SinkReportMessage = {
    type: 'report',
    count: batch.length,
    messageIds: batch.map((m) => m.parsed.messageId ?? ''),
    recipients: batch.map((m) => m.envelope.to.join(',')),
    bytes: batch.reduce((sum, m) => sum + m.raw.length, 0),
  };
  process.send!(report);
});

const shutdown = () => {
  void sink.close().finally(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
// The parent went away without stopping us: never outlive it.
process.once('disconnect', shutdown);

process.stdout.write(`listening on ${sink.port}\n`);
