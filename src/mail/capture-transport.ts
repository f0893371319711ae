/**
 * The `capture` transport (emails.md §6, the default): delivers nothing and keeps the full MIME
 * per Message-ID in `captured_messages`, where `GET /api/v1/emails/{id}/message` and the
 * dashboard read it.
 *
 * The delivery worker hands off inside its own transaction (`sendInTransaction`), so a captured
 * copy, its send's `Sent` status and the job's completion commit together or not at all: a
 * worker crash cannot repeat the hand-off. `send` is the stand-alone form, for callers without a
 * transaction; a repeated hand-off of one Message-ID through it (§5.7) keeps the first copy and
 * only counts the hand-off — one upsert, so two racing callers cannot both insert.
 */
import type { Kysely } from 'kysely';
import type { Db } from '../db/connect.js';
import type { GroupCommitter } from '../db/group-commit.js';
import { PreparedQuery } from '../db/prepared.js';
import type { CapturedMessagesTable, Database } from '../db/tables.js';
import type { Clock } from '../lib/clock.js';
import type { MailTransport, OutboundMessage, SendResult } from './transport.js';

export type CapturedMessageRow = CapturedMessagesTable;

/** A repeated hand-off of the same Message-ID keeps the first copy and counts the hand-off. */
const CAPTURE = new PreparedQuery((db, p: { messageIdHeader: string; organizationId: string; emailSendId: string; raw: string; capturedAt: number }) =>
  db
    .insertInto('captured_messages')
    .values({ message_id_header: p.messageIdHeader, organization_id: p.organizationId, email_send_id: p.emailSendId, raw: p.raw, handoff_count: 1, captured_at: p.capturedAt })
    .onConflict((oc) => oc.column('message_id_header').doUpdateSet((eb) => ({ handoff_count: eb('captured_messages.handoff_count', '+', 1) }))),
);

/**
 * With a `committer`, concurrent hand-offs share one transaction (one commit for a batch of
 * deliveries instead of one each); the hand-off still resolves only after its row committed.
 */
export function createCaptureTransport(db: Db, clock: Clock, committer?: GroupCommitter): MailTransport {
  const run = committer ? committer.run.bind(committer) : <T>(work: (trx: Kysely<Database>) => Promise<T>) => work(db.kysely);
  const capture = async (trx: Kysely<Database>, msg: OutboundMessage): Promise<SendResult> => {
    await CAPTURE.run(trx, {
      messageIdHeader: msg.messageIdHeader,
      organizationId: msg.organizationId,
      emailSendId: msg.emailSendId,
      raw: msg.raw.toString('utf8'),
      capturedAt: clock.now(),
    });
    return { transportMessageId: msg.messageIdHeader };
  };
  return {
    name: 'capture',
    send: (msg) => run((trx) => capture(trx, msg)),
    sendInTransaction: capture,
    async close(): Promise<void> {
      // The database belongs to the caller; there is nothing of our own to release.
    },
  };
}

/** The captured copy of an EmailSend's message, or undefined when none was captured. */
export async function getCapturedMessage(
  db: Db,
  organizationId: string,
  emailSendId: string,
): Promise<CapturedMessageRow | undefined> {
  return db.kysely
    .selectFrom('captured_messages')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('email_send_id', '=', emailSendId)
    .orderBy('captured_at', 'asc')
    .limit(1)
    .executeTakeFirst();
}
