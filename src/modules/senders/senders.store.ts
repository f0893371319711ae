/**
 * SQL for SenderProfiles and Domains. The lookups templates need live here now; the CRUD routes
 * arrive with the emails module.
 */
import type { Kysely } from 'kysely';
import type { Database, SenderProfilesTable } from '../../db/tables.js';

export type SenderProfileRow = SenderProfilesTable;

export function selectSenderProfile(db: Kysely<Database>, organizationId: string, id: string): Promise<SenderProfileRow | undefined> {
  return db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export function selectSenderProfileByEmail(db: Kysely<Database>, organizationId: string, email: string): Promise<SenderProfileRow | undefined> {
  return db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', organizationId).where('email', '=', email).executeTakeFirst();
}

export function selectDefaultSenderProfile(db: Kysely<Database>, organizationId: string): Promise<SenderProfileRow | undefined> {
  return db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', organizationId).where('is_default', '=', 1).executeTakeFirst();
}

export async function insertDomain(db: Kysely<Database>, row: Database['domains']): Promise<void> {
  await db.insertInto('domains').values(row).execute();
}

export async function insertSenderProfile(db: Kysely<Database>, row: SenderProfileRow): Promise<void> {
  await db.insertInto('sender_profiles').values(row).execute();
}
