/** SQL for Domains and SenderProfiles. */
import { sql, type Kysely } from 'kysely';
import { PreparedQuery } from '../../db/prepared.js';
import type { Database, DomainsTable, SenderProfilesTable } from '../../db/tables.js';

export type SenderProfileRow = SenderProfilesTable;
export type DomainRow = DomainsTable;

const SENDER_PROFILE = new PreparedQuery((db, p: { organizationId: string; id: string }) => db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.id));

export function selectSenderProfile(db: Kysely<Database>, organizationId: string, id: string): Promise<SenderProfileRow | undefined> {
  return SENDER_PROFILE.first(db, { organizationId, id });
}

export function selectSenderProfileByEmail(db: Kysely<Database>, organizationId: string, email: string): Promise<SenderProfileRow | undefined> {
  return db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', organizationId).where('email', '=', email).executeTakeFirst();
}

/**
 * `is_default = 1` is written as a literal: the one-default index is partial (`WHERE is_default =
 * 1`), and with a bound parameter SQLite re-plans the statement on every run to check the index
 * still applies (9 µs instead of 2.5 µs per lookup, measured) — once per send.
 */
const IS_DEFAULT = sql.lit(1);

const DEFAULT_SENDER_PROFILE = new PreparedQuery((db, p: { organizationId: string }) =>
  db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', p.organizationId).where('is_default', '=', IS_DEFAULT));

export function selectDefaultSenderProfile(db: Kysely<Database>, organizationId: string): Promise<SenderProfileRow | undefined> {
  return DEFAULT_SENDER_PROFILE.first(db, { organizationId });
}

/** Newest first (id descending), strictly before `beforeId` when given. */
export function selectSenderProfilesPage(
  db: Kysely<Database>,
  organizationId: string,
  page: { limit: number; beforeId: string | null },
): Promise<SenderProfileRow[]> {
  let q = db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', organizationId);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  return q.orderBy('id', 'desc').limit(page.limit).execute();
}

/** The oldest SenderProfile of the organization (the heir when the default is deleted). */
export function selectOldestSenderProfile(db: Kysely<Database>, organizationId: string): Promise<SenderProfileRow | undefined> {
  return db.selectFrom('sender_profiles').selectAll().where('organization_id', '=', organizationId).orderBy('id', 'asc').limit(1).executeTakeFirst();
}

export function selectSenderProfileIdsByDomain(db: Kysely<Database>, organizationId: string, domainId: string): Promise<{ id: string }[]> {
  return db.selectFrom('sender_profiles').select('id').where('organization_id', '=', organizationId).where('domain_id', '=', domainId).orderBy('id').execute();
}

export async function insertSenderProfile(db: Kysely<Database>, row: SenderProfileRow): Promise<void> {
  await db.insertInto('sender_profiles').values(row).execute();
}

export async function updateSenderProfileRow(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Pick<SenderProfileRow, 'name' | 'reply_to' | 'is_default' | 'updated_at'>>,
): Promise<void> {
  await db.updateTable('sender_profiles').set(changes).where('id', '=', id).execute();
}

/** Clears the default flag of every other SenderProfile of the organization. */
export async function clearOtherDefaults(db: Kysely<Database>, organizationId: string, keepId: string, updatedAt: number): Promise<void> {
  await db
    .updateTable('sender_profiles')
    .set({ is_default: 0, updated_at: updatedAt })
    .where('organization_id', '=', organizationId)
    .where('is_default', '=', IS_DEFAULT)
    .where('id', '!=', keepId)
    .execute();
}

export async function deleteSenderProfileRow(db: Kysely<Database>, organizationId: string, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('sender_profiles').where('organization_id', '=', organizationId).where('id', '=', id).returning('id').executeTakeFirst();
  return deleted !== undefined;
}

export async function insertDomain(db: Kysely<Database>, row: DomainRow): Promise<void> {
  await db.insertInto('domains').values(row).execute();
}

const DOMAIN = new PreparedQuery((db, p: { organizationId: string; id: string }) => db.selectFrom('domains').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.id));

export function selectDomain(db: Kysely<Database>, organizationId: string, id: string): Promise<DomainRow | undefined> {
  return DOMAIN.first(db, { organizationId, id });
}

export function selectDomainByName(db: Kysely<Database>, organizationId: string, name: string): Promise<DomainRow | undefined> {
  return db.selectFrom('domains').selectAll().where('organization_id', '=', organizationId).where('name', '=', name).executeTakeFirst();
}

/** The Domains with these ids (for SenderProfile views). */
export function selectDomainsByIds(db: Kysely<Database>, organizationId: string, ids: readonly string[]): Promise<DomainRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('domains').selectAll().where('organization_id', '=', organizationId).where('id', 'in', ids).execute();
}

/** Newest first (id descending), strictly before `beforeId` when given. */
export function selectDomainsPage(db: Kysely<Database>, organizationId: string, page: { limit: number; beforeId: string | null }): Promise<DomainRow[]> {
  let q = db.selectFrom('domains').selectAll().where('organization_id', '=', organizationId);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  return q.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function updateDomainRow(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Pick<DomainRow, 'verified_at' | 'last_checked_at' | 'last_error' | 'updated_at'>>,
): Promise<void> {
  await db.updateTable('domains').set(changes).where('id', '=', id).execute();
}

export async function deleteDomainRow(db: Kysely<Database>, organizationId: string, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('domains').where('organization_id', '=', organizationId).where('id', '=', id).returning('id').executeTakeFirst();
  return deleted !== undefined;
}
