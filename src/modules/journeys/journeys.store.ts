/** SQL for Journeys and their versions. Runs live in ./runs (the engine). */
import type { Kysely } from 'kysely';
import type { Database, JourneysTable, JourneyVersionsTable } from '../../db/tables.js';

export type JourneyRow = JourneysTable;
export type JourneyVersionRow = JourneyVersionsTable;

export async function insertJourney(db: Kysely<Database>, row: JourneyRow): Promise<void> {
  await db.insertInto('journeys').values(row).execute();
}

export async function updateJourneyRow(db: Kysely<Database>, id: string, changes: Partial<Omit<JourneyRow, 'id' | 'organization_id' | 'key'>>): Promise<void> {
  await db.updateTable('journeys').set(changes).where('id', '=', id).execute();
}

export function selectJourney(db: Kysely<Database>, organizationId: string, id: string): Promise<JourneyRow | undefined> {
  return db.selectFrom('journeys').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export function selectJourneyByKey(db: Kysely<Database>, organizationId: string, key: string): Promise<JourneyRow | undefined> {
  return db.selectFrom('journeys').selectAll().where('organization_id', '=', organizationId).where('key', '=', key).executeTakeFirst();
}

/**
 * Active journeys entered by this event name — the index events.track uses, so the cost does
 * not grow with journeys listening to other events.
 */
export function selectActiveJourneysByEvent(db: Kysely<Database>, organizationId: string, event: string): Promise<JourneyRow[]> {
  return db
    .selectFrom('journeys')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('entry_event', '=', event)
    .where('status', '=', 'Active')
    .orderBy('id')
    .execute();
}

export function selectJourneysPage(
  db: Kysely<Database>,
  organizationId: string,
  filter: { status?: string; key?: string },
  page: { limit: number; beforeId: string | null },
): Promise<JourneyRow[]> {
  let q = db.selectFrom('journeys').selectAll().where('organization_id', '=', organizationId);
  if (filter.status !== undefined) q = q.where('status', '=', filter.status as JourneyRow['status']);
  if (filter.key !== undefined) q = q.where('key', '=', filter.key);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  return q.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function insertJourneyVersion(db: Kysely<Database>, row: JourneyVersionRow): Promise<void> {
  await db.insertInto('journey_versions').values(row).execute();
}

export function selectJourneyVersion(db: Kysely<Database>, versionId: string): Promise<JourneyVersionRow | undefined> {
  return db.selectFrom('journey_versions').selectAll().where('id', '=', versionId).executeTakeFirst();
}

/** A page of a journey's versions, newest first, below `beforeVersion` when given. */
export function selectJourneyVersions(db: Kysely<Database>, journeyId: string, page: { limit: number; beforeVersion: number | null }): Promise<JourneyVersionRow[]> {
  return db
    .selectFrom('journey_versions')
    .selectAll()
    .where('journey_id', '=', journeyId)
    .$if(page.beforeVersion !== null, (q) => q.where('version', '<', page.beforeVersion ?? 0))
    .orderBy('version', 'desc')
    .limit(page.limit)
    .execute();
}
