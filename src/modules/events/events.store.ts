/**
 * SQL for UserEvents. The insert is on every events.track request: one fixed text per row count
 * (a `StatementFamily`), so a group of tracked events is one statement.
 */
import type { Kysely } from 'kysely';
import { StatementFamily, valueRows } from '../../db/statement.js';
import type { Database, UserEventsTable } from '../../db/tables.js';

export type UserEventRow = UserEventsTable;

const insertRows = new StatementFamily(
  (count) =>
    `insert into user_events (id, organization_id, profile_id, type, event, data, redacted_paths, reference_id, occurred_at, received_at, source, message_id, user_id, anonymous_id, context)
     values ${valueRows(count, 15)}`,
);

export async function insertUserEvent(db: Kysely<Database>, r: UserEventRow): Promise<void> {
  await insertUserEvents(db, [r]);
}

/** Several UserEvents in one statement. */
export async function insertUserEvents(db: Kysely<Database>, rows: UserEventRow[]): Promise<void> {
  await insertRows.allRows(
    db,
    rows.map((r) => [
      r.id, r.organization_id, r.profile_id, r.type, r.event, r.data, r.redacted_paths, r.reference_id,
      r.occurred_at, r.received_at, r.source, r.message_id, r.user_id, r.anonymous_id, r.context,
    ]),
  );
}

export function selectUserEvent(db: Kysely<Database>, organizationId: string, id: string): Promise<UserEventRow | undefined> {
  return db.selectFrom('user_events').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export interface EventFilter {
  profileId?: string;
  event?: string;
  referenceId?: string;
  source?: string;
  since?: number;
  until?: number;
}

/** Newest `received_at` first (ties by id); `after` is the last row of the previous page. */
export function selectUserEventsPage(
  db: Kysely<Database>,
  organizationId: string,
  filter: EventFilter,
  page: { limit: number; after: { receivedAt: number; id: string } | null },
): Promise<UserEventRow[]> {
  let q = db.selectFrom('user_events').selectAll().where('organization_id', '=', organizationId);
  if (filter.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId);
  if (filter.event !== undefined) q = q.where('event', '=', filter.event);
  if (filter.referenceId !== undefined) q = q.where('reference_id', '=', filter.referenceId);
  if (filter.source !== undefined) q = q.where('source', '=', filter.source);
  if (filter.since !== undefined) q = q.where('received_at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('received_at', '<', filter.until);
  const after = page.after;
  if (after !== null) {
    q = q.where((eb) => eb.or([eb('received_at', '<', after.receivedAt), eb.and([eb('received_at', '=', after.receivedAt), eb('id', '<', after.id)])]));
  }
  return q.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
}
