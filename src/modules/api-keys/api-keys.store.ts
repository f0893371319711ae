/** SQL for API keys. Only hashes of secrets are stored. */
import type { Kysely } from 'kysely';
import type { ApiKeysTable, Database } from '../../db/tables.js';

export type ApiKeyRow = ApiKeysTable;

export async function insertApiKey(db: Kysely<Database>, row: ApiKeyRow): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
}

export function selectApiKeyByHash(db: Kysely<Database>, keyHash: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
}

export function selectApiKeysPage(
  db: Kysely<Database>,
  organizationId: string,
  page: { limit: number; beforeId: string | null },
): Promise<ApiKeyRow[]> {
  let query = db.selectFrom('api_keys').selectAll().where('organization_id', '=', organizationId);
  if (page.beforeId !== null) query = query.where('id', '<', page.beforeId);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function revokeApiKeyRow(db: Kysely<Database>, organizationId: string, id: string, now: number): Promise<boolean> {
  const updated = await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return updated !== undefined;
}

export async function selectApiKeyById(db: Kysely<Database>, organizationId: string, id: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export async function touchApiKey(db: Kysely<Database>, id: string, now: number): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
}

/** The organization of a key, by its id alone (ids are unique across organizations): for the CLI's revoke. */
export async function selectApiKeyOrganizationId(db: Kysely<Database>, id: string): Promise<string | undefined> {
  return (await db.selectFrom('api_keys').select('organization_id').where('id', '=', id).executeTakeFirst())?.organization_id;
}
