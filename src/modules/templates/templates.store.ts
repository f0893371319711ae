/** SQL for Templates and TemplateSnapshots. Definitions are stored as JSON text. */
import type { Kysely } from 'kysely';
import { PreparedQuery } from '../../db/prepared.js';
import type { Database, TemplateSnapshotsTable, TemplatesTable } from '../../db/tables.js';

export type TemplateRow = TemplatesTable;
export type SnapshotRow = TemplateSnapshotsTable;

export async function insertTemplate(db: Kysely<Database>, row: TemplateRow): Promise<void> {
  await db.insertInto('templates').values(row).execute();
}

const TEMPLATE = new PreparedQuery((db, p: { organizationId: string; id: string }) => db.selectFrom('templates').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.id));

export function selectTemplate(db: Kysely<Database>, organizationId: string, id: string): Promise<TemplateRow | undefined> {
  return TEMPLATE.first(db, { organizationId, id });
}

export function selectTemplateByName(db: Kysely<Database>, organizationId: string, name: string): Promise<TemplateRow | undefined> {
  return db
    .selectFrom('templates')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('name', '=', name)
    .orderBy('created_at')
    .executeTakeFirst();
}

export function selectTemplates(
  db: Kysely<Database>,
  organizationId: string,
  filter: { statuses?: readonly string[]; purpose?: string },
): Promise<TemplateRow[]> {
  let q = db.selectFrom('templates').selectAll().where('organization_id', '=', organizationId);
  if (filter.statuses && filter.statuses.length > 0) q = q.where('status', 'in', filter.statuses as TemplateRow['status'][]);
  if (filter.purpose !== undefined) q = q.where('purpose', '=', filter.purpose);
  return q.orderBy('updated_at', 'desc').orderBy('id', 'desc').execute();
}

/** Ids of the Templates whose draft names this SenderProfile. */
export function selectTemplateIdsBySenderProfile(db: Kysely<Database>, organizationId: string, senderProfileId: string): Promise<{ id: string }[]> {
  return db.selectFrom('templates').select('id').where('organization_id', '=', organizationId).where('sender_profile_id', '=', senderProfileId).orderBy('id').execute();
}

export async function updateTemplateRow(db: Kysely<Database>, id: string, changes: Partial<Omit<TemplateRow, 'id' | 'organization_id'>>): Promise<void> {
  await db.updateTable('templates').set(changes).where('id', '=', id).execute();
}

export async function deleteTemplateRow(db: Kysely<Database>, organizationId: string, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('templates').where('organization_id', '=', organizationId).where('id', '=', id).returning('id').executeTakeFirst();
  return deleted !== undefined;
}

export async function insertSnapshot(db: Kysely<Database>, row: SnapshotRow): Promise<void> {
  await db.insertInto('template_snapshots').values(row).execute();
}

export function selectSnapshot(db: Kysely<Database>, organizationId: string, templateId: string, id: string): Promise<SnapshotRow | undefined> {
  return db
    .selectFrom('template_snapshots')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('template_id', '=', templateId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function selectLatestVersion(db: Kysely<Database>, templateId: string): Promise<number> {
  const row = await db
    .selectFrom('template_snapshots')
    .select((eb) => eb.fn.max('version').as('v'))
    .where('template_id', '=', templateId)
    .executeTakeFirst();
  return Number(row?.v ?? 0);
}

export function selectSnapshotsPage(
  db: Kysely<Database>,
  organizationId: string,
  templateId: string,
  page: { limit: number; beforeVersion: number | null },
): Promise<SnapshotRow[]> {
  let q = db.selectFrom('template_snapshots').selectAll().where('organization_id', '=', organizationId).where('template_id', '=', templateId);
  if (page.beforeVersion !== null) q = q.where('version', '<', page.beforeVersion);
  return q.orderBy('version', 'desc').limit(page.limit).execute();
}
