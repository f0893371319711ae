/** SQL for SubscriptionGroups and the per-Profile subscription statuses. */
import type { Kysely } from 'kysely';
import type { Database, SubscriptionGroupsTable, SubscriptionStatusesTable } from '../../db/tables.js';

export type SubscriptionGroupRow = SubscriptionGroupsTable;
export type SubscriptionStatusRow = SubscriptionStatusesTable;

export function selectSubscriptionGroup(db: Kysely<Database>, organizationId: string, id: string): Promise<SubscriptionGroupRow | undefined> {
  return db.selectFrom('subscription_groups').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export function selectSubscriptionGroupByName(db: Kysely<Database>, organizationId: string, name: string): Promise<SubscriptionGroupRow | undefined> {
  return db.selectFrom('subscription_groups').selectAll().where('organization_id', '=', organizationId).where('name', '=', name).executeTakeFirst();
}

/** Newest first (id descending), strictly before `beforeId` when given. */
export function selectSubscriptionGroupsPage(
  db: Kysely<Database>,
  organizationId: string,
  page: { limit: number; beforeId: string | null },
): Promise<SubscriptionGroupRow[]> {
  let q = db.selectFrom('subscription_groups').selectAll().where('organization_id', '=', organizationId);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  return q.orderBy('id', 'desc').limit(page.limit).execute();
}

/** Every group of the organization in creation order (id ascending). */
export function selectAllSubscriptionGroups(db: Kysely<Database>, organizationId: string): Promise<SubscriptionGroupRow[]> {
  return db.selectFrom('subscription_groups').selectAll().where('organization_id', '=', organizationId).orderBy('id', 'asc').execute();
}

export async function insertSubscriptionGroup(db: Kysely<Database>, row: SubscriptionGroupRow): Promise<void> {
  await db.insertInto('subscription_groups').values(row).execute();
}

export async function updateSubscriptionGroupRow(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Pick<SubscriptionGroupRow, 'name' | 'description' | 'updated_at'>>,
): Promise<void> {
  await db.updateTable('subscription_groups').set(changes).where('id', '=', id).execute();
}

/** Deletes the group and every status recorded for it. */
export async function deleteSubscriptionGroupRow(db: Kysely<Database>, organizationId: string, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('subscription_groups').where('organization_id', '=', organizationId).where('id', '=', id).returning('id').executeTakeFirst();
  if (deleted === undefined) return false;
  await db.deleteFrom('subscription_statuses').where('organization_id', '=', organizationId).where('subscription_group_id', '=', id).execute();
  return true;
}

export function selectSubscriptionStatus(
  db: Kysely<Database>,
  organizationId: string,
  profileId: string,
  subscriptionGroupId: string,
): Promise<SubscriptionStatusRow | undefined> {
  return db
    .selectFrom('subscription_statuses')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('profile_id', '=', profileId)
    .where('subscription_group_id', '=', subscriptionGroupId)
    .executeTakeFirst();
}

export function selectProfileStatuses(db: Kysely<Database>, organizationId: string, profileId: string): Promise<SubscriptionStatusRow[]> {
  return db.selectFrom('subscription_statuses').selectAll().where('organization_id', '=', organizationId).where('profile_id', '=', profileId).execute();
}

/** Insert or replace the status of one Profile in one group. */
export async function upsertSubscriptionStatus(db: Kysely<Database>, row: SubscriptionStatusRow): Promise<void> {
  await db
    .insertInto('subscription_statuses')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['profile_id', 'subscription_group_id']).doUpdateSet((eb) => ({
        status: eb.ref('excluded.status'),
        source: eb.ref('excluded.source'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** Explicit status counts per group: `{ groupId → { subscribed, unsubscribed } }`. */
export async function countStatusesByGroup(
  db: Kysely<Database>,
  organizationId: string,
  groupIds: readonly string[],
): Promise<Map<string, { subscribed: number; unsubscribed: number }>> {
  const counts = new Map<string, { subscribed: number; unsubscribed: number }>();
  if (groupIds.length === 0) return counts;
  const rows = await db
    .selectFrom('subscription_statuses')
    .select((eb) => ['subscription_group_id', 'status', eb.fn.countAll().as('n')])
    .where('organization_id', '=', organizationId)
    .where('subscription_group_id', 'in', groupIds)
    .groupBy(['subscription_group_id', 'status'])
    .execute();
  for (const row of rows) {
    const entry = counts.get(row.subscription_group_id) ?? { subscribed: 0, unsubscribed: 0 };
    entry[row.status] = Number(row.n);
    counts.set(row.subscription_group_id, entry);
  }
  return counts;
}
