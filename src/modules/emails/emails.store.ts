/** SQL for EmailSends and their Messages (the outbox). */
import type { Kysely } from 'kysely';
import { PreparedQuery, preparedInsert, preparedUpdate } from '../../db/prepared.js';
import type { Database, EmailSendsTable, MessagesTable } from '../../db/tables.js';

export type EmailSendRow = EmailSendsTable;
export type MessageRow = MessagesTable;

export const insertEmailSend: (db: Kysely<Database>, row: EmailSendRow) => Promise<void> = preparedInsert('email_sends');

const SEND_IN_ORG = new PreparedQuery((db, p: { organizationId: string; id: string }) =>
  db.selectFrom('email_sends').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.id));

export function selectEmailSend(db: Kysely<Database>, organizationId: string, id: string): Promise<EmailSendRow | undefined> {
  return SEND_IN_ORG.first(db, { organizationId, id });
}

const SEND_BY_ID = new PreparedQuery((db, p: { id: string }) => db.selectFrom('email_sends').selectAll().where('id', '=', p.id));

export function selectEmailSendById(db: Kysely<Database>, id: string): Promise<EmailSendRow | undefined> {
  return SEND_BY_ID.first(db, { id });
}

const SEND_BY_SEND_KEY = new PreparedQuery((db, p: { organizationId: string; sendKey: string }) =>
  db.selectFrom('email_sends').selectAll().where('organization_id', '=', p.organizationId).where('send_key', '=', p.sendKey));

export function selectEmailSendBySendKey(db: Kysely<Database>, organizationId: string, sendKey: string): Promise<EmailSendRow | undefined> {
  return SEND_BY_SEND_KEY.first(db, { organizationId, sendKey });
}

const UPDATE_SEND = preparedUpdate('email_sends', 'id');

export async function updateEmailSend(db: Kysely<Database>, id: string, changes: Partial<Omit<EmailSendRow, 'id' | 'organization_id'>>): Promise<void> {
  await UPDATE_SEND(db, id, changes);
}

export interface EmailSendFilter {
  status?: string;
  profileId?: string;
  templateId?: string;
  journeyRunId?: string;
  broadcastId?: string;
  since?: number;
  until?: number;
}

export function selectEmailSendsPage(
  db: Kysely<Database>,
  organizationId: string,
  filter: EmailSendFilter,
  page: { limit: number; beforeId: string | null },
): Promise<EmailSendRow[]> {
  let q = db.selectFrom('email_sends').selectAll().where('organization_id', '=', organizationId);
  if (filter.status !== undefined) q = q.where('status', '=', filter.status as EmailSendRow['status']);
  if (filter.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId);
  if (filter.templateId !== undefined) q = q.where('template_id', '=', filter.templateId);
  if (filter.journeyRunId !== undefined) q = q.where('journey_run_id', '=', filter.journeyRunId);
  if (filter.broadcastId !== undefined) q = q.where('broadcast_id', '=', filter.broadcastId);
  if (filter.since !== undefined) q = q.where('created_at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('created_at', '<', filter.until);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  return q.orderBy('id', 'desc').limit(page.limit).execute();
}

const MESSAGE_BY_SEND = new PreparedQuery((db, p: { emailSendId: string }) => db.selectFrom('messages').selectAll().where('email_send_id', '=', p.emailSendId));

export function selectMessageBySend(db: Kysely<Database>, emailSendId: string): Promise<MessageRow | undefined> {
  return MESSAGE_BY_SEND.first(db, { emailSendId });
}

export const insertMessage: (db: Kysely<Database>, row: MessageRow) => Promise<void> = preparedInsert('messages');

const UPDATE_MESSAGE = preparedUpdate('messages', 'id');

export async function updateMessage(db: Kysely<Database>, id: string, changes: Partial<Omit<MessageRow, 'id' | 'organization_id' | 'email_send_id'>>): Promise<void> {
  await UPDATE_MESSAGE(db, id, changes);
}
