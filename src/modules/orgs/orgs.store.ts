/** SQL for organizations and the instance settings table. */
import type { Kysely } from 'kysely';
import type { Database, OrganizationsTable } from '../../db/tables.js';

export type OrganizationRow = OrganizationsTable;

export async function insertOrganization(db: Kysely<Database>, row: OrganizationRow): Promise<boolean> {
  const inserted = await db
    .insertInto('organizations')
    .values(row)
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export function selectOrganizations(db: Kysely<Database>): Promise<OrganizationRow[]> {
  return db.selectFrom('organizations').selectAll().orderBy('created_at').orderBy('id').execute();
}

export function selectOrganizationById(db: Kysely<Database>, id: string): Promise<OrganizationRow | undefined> {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}

export function selectOrganizationByName(db: Kysely<Database>, name: string): Promise<OrganizationRow | undefined> {
  return db.selectFrom('organizations').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function countOrganizations(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('organizations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Inserts a setting unless it exists; returns the value now stored. */
export async function claimSetting(db: Kysely<Database>, key: string, value: string): Promise<{ value: string; created: boolean }> {
  const inserted = await db
    .insertInto('instance_settings')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('value')
    .executeTakeFirst();
  if (inserted) return { value: inserted.value, created: true };
  const row = await db.selectFrom('instance_settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
  return { value: row.value, created: false };
}
