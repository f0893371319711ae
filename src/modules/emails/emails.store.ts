/** SQL for EmailSends and their Messages (the outbox). */
import type { Kysely } from 'kysely';
import type { Database, EmailSendsTable, MessagesTable } from '../../db/tables.js';

export type EmailSendRow = EmailSendsTable;
export type MessageRow = MessagesTable;

export async function insertEmailSend(db: Kysely<Database>, row: EmailSendRow): Promise<void> {
  await db.insertInto('email_sends').values(row).execute();
}

export function selectEmailSend(db: Kysely<Database>, organizationId: string, id: string): Promise<EmailSendRow | undefined> {
  return db.selectFrom('email_sends').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export function selectEmailSendById(db: Kysely<Database>, id: string): Promise<EmailSendRow | undefined> {
  return db.selectFrom('email_sends').selectAll().where('id', '=', id).executeTakeFirst();
}

export function selectEmailSendBySendKey(db: Kysely<Database>, organizationId: string, sendKey: string): Promise<EmailSendRow | undefined> {
  return db.selectFrom('email_sends').selectAll().where('organization_id', '=', organizationId).where('send_key', '=', sendKey).executeTakeFirst();
}

export async function updateEmailSend(db: Kysely<Database>, id: string, changes: Partial<Omit<EmailSendRow, 'id' | 'organization_id'>>): Promise<void> {
  await db.updateTable('email_sends').set(changes).where('id', '=', id).execute();
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

export function selectMessageBySend(db: Kysely<Database>, emailSendId: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('email_send_id', '=', emailSendId).executeTakeFirst();
}

export async function insertMessage(db: Kysely<Database>, row: MessageRow): Promise<void> {
  await db.insertInto('messages').values(row).execute();
}

export async function updateMessage(db: Kysely<Database>, id: string, changes: Partial<Omit<MessageRow, 'id' | 'organization_id' | 'email_send_id'>>): Promise<void> {
  await db.updateTable('messages').set(changes).where('id', '=', id).execute();
}
