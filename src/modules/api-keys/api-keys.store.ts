/** SQL for API keys. Only hashes of secrets are stored. */
import type { Kysely } from 'kysely';
import type { ApiKeysTable, Database } from '../../db/tables.js';
import { API_KEY_PREFIX } from './secrets.js';

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

/**
 * Hashes of the keys labelled `bootstrap` whose secret starts like a generated one: the only keys
 * whose secret the caller chose (SEGMENTFLOW_BOOTSTRAP_API_KEY), so the only `sk_live_` secrets
 * that may lack a valid checksum.
 */
export async function selectBootstrapKeyHashes(db: Kysely<Database>): Promise<string[]> {
  // Few rows; the prefix is checked here because LIKE escapes differ between the dialects.
  const rows = await db.selectFrom('api_keys').select(['key_hash', 'prefix']).where('label', '=', 'bootstrap').where('revoked_at', 'is', null).execute();
  return rows.filter((row) => row.prefix.startsWith(API_KEY_PREFIX)).map((row) => row.key_hash);
}
