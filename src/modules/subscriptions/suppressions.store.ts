/** SQL for the suppression list. Rows are found by `email_hash`, never by the clear address. */
import type { Kysely } from 'kysely';
import { PreparedQuery } from '../../db/prepared.js';
import type { Database, SuppressionReason, SuppressionsTable } from '../../db/tables.js';

export type SuppressionRow = SuppressionsTable;

const SUPPRESSION_BY_HASH = new PreparedQuery((db, p: { organizationId: string; emailHash: string }) => db.selectFrom('suppressions').selectAll().where('organization_id', '=', p.organizationId).where('email_hash', '=', p.emailHash));

export function selectSuppressionByHash(db: Kysely<Database>, organizationId: string, emailHash: string): Promise<SuppressionRow | undefined> {
  return SUPPRESSION_BY_HASH.first(db, { organizationId, emailHash });
}

/** Inserts unless the address is already listed; true when a row was inserted. */
export async function insertSuppressionIfAbsent(db: Kysely<Database>, row: SuppressionRow): Promise<boolean> {
  const inserted = await db
    .insertInto('suppressions')
    .values(row)
    .onConflict((oc) => oc.columns(['organization_id', 'email_hash']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function updateSuppressionRow(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Pick<SuppressionRow, 'reason' | 'latest_bounce_reason' | 'latest_bounce_diagnostic_code'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('suppressions').set(changes).where('id', '=', id).execute();
}

export async function deleteSuppressionByHash(db: Kysely<Database>, organizationId: string, emailHash: string): Promise<boolean> {
  const deleted = await db
    .deleteFrom('suppressions')
    .where('organization_id', '=', organizationId)
    .where('email_hash', '=', emailHash)
    .returning('id')
    .executeTakeFirst();
  return deleted !== undefined;
}

/** Newest first (id descending), strictly before `beforeId` when given. */
export function selectSuppressionsPage(
  db: Kysely<Database>,
  organizationId: string,
  filter: { reason?: SuppressionReason; emailHash?: string },
  page: { limit: number; beforeId: string | null },
): Promise<SuppressionRow[]> {
  let q = db.selectFrom('suppressions').selectAll().where('organization_id', '=', organizationId);
  if (filter.reason !== undefined) q = q.where('reason', '=', filter.reason);
  if (filter.emailHash !== undefined) q = q.where('email_hash', '=', filter.emailHash);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  return q.orderBy('id', 'desc').limit(page.limit).execute();
}
