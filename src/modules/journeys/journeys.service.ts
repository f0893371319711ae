/**
 * Journey management (journeys.md §1, §4, §7): create, update (a changed definition is a new
 * immutable version; running runs stay on theirs), lifecycle transitions, versions and
 * validation. Definitions are checked by ./definition; this module loads the references they
 * name and decides statuses. Archiving hands the journey's live runs to the run engine to exit.
 */
import type { Kysely } from 'kysely';
import type { Database, JourneyStatus } from '../../db/tables.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import {
  referencedIds,
  validateDefinitionSemantics,
  validateDefinitionStructure,
  type DefinitionError,
  type DefinitionRefs,
  type JourneyDefinition,
} from './definition/definition.js';
import {
  insertJourney,
  insertJourneyVersion,
  selectJourney,
  selectJourneyByKey,
  selectJourneyVersion,
  selectJourneyVersions,
  updateJourneyRow,
  type JourneyRow,
  type JourneyVersionRow,
} from './journeys.store.js';

export const RESERVED_KEYS = ['runs', 'validate'];

export type JourneyError =
  | { type: 'journey_not_found' }
  | { type: 'already_exists'; field: 'key' }
  /** Structure (§4): answered 400 with pointers. */
  | { type: 'journey_definition_malformed'; errors: DefinitionError[] }
  /** Semantics (§4): answered 422 invalid_definition (or the publication reason). */
  | { type: 'journey_definition_invalid'; errors: DefinitionError[] }
  | { type: 'invalid_state'; status: JourneyStatus };

export interface JourneyView {
  id: string;
  key: string;
  name: string;
  description: string | null;
  status: JourneyStatus;
  version: number;
  versionId: string;
  definition: JourneyDefinition;
  activatedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface JourneyVersionView {
  versionId: string;
  version: number;
  definition: JourneyDefinition;
  createdAt: string;
}

/** What a journey status change does to its runs (the runs module implements it). */
export interface JourneyRunControl {
  exitActiveRuns(trx: Kysely<Database>, journeyId: string, reason: 'journey_archived'): Promise<void>;
  /** Resume: step jobs held while the journey was Paused run now, not at their next hold check. */
  releaseHeldSteps(trx: Kysely<Database>, journeyId: string): Promise<void>;
}

interface Deps {
  clock: Clock;
  ids: IdGenerator;
}

export function toJourneyView(row: JourneyRow, version: JourneyVersionRow): JourneyView {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    status: row.status,
    version: row.version,
    versionId: row.version_id,
    definition: JSON.parse(version.definition) as JourneyDefinition,
    activatedAt: row.activated_at === null ? null : toIso(row.activated_at),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

export function toVersionView(row: JourneyVersionRow): JourneyVersionView {
  return { versionId: row.id, version: row.version, definition: JSON.parse(row.definition) as JourneyDefinition, createdAt: toIso(row.created_at) };
}

async function loadRefs(db: Kysely<Database>, organizationId: string, def: JourneyDefinition): Promise<DefinitionRefs> {
  const ids = referencedIds(def);
  const templates = ids.templateIds.length === 0 ? [] : await db
    .selectFrom('templates')
    .select(['id', 'purpose', 'status', 'current_snapshot_id'])
    .where('organization_id', '=', organizationId)
    .where('id', 'in', ids.templateIds)
    .execute();
  const groups = ids.subscriptionGroupIds.length === 0 ? [] : await db
    .selectFrom('subscription_groups')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('id', 'in', ids.subscriptionGroupIds)
    .execute();
  const senders = ids.senderProfileIds.length === 0 ? [] : await db
    .selectFrom('sender_profiles')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('id', 'in', ids.senderProfileIds)
    .execute();
  return {
    templates: new Map(templates.map((t) => [t.id, { purpose: t.purpose, published: t.current_snapshot_id !== null, archived: t.status === 'Archived' }])),
    subscriptionGroups: new Set(groups.map((g) => g.id)),
    senderProfiles: new Set(senders.map((s) => s.id)),
  };
}

/** §4: structure (400) first, then semantics (422), all errors at once. */
export async function checkDefinition(
  db: Kysely<Database>,
  organizationId: string,
  value: unknown,
  requirePublished: boolean,
): Promise<Result<JourneyDefinition, JourneyError>> {
  const structure = validateDefinitionStructure(value);
  if (structure.length > 0) return err({ type: 'journey_definition_malformed', errors: structure });
  const def = value as JourneyDefinition;
  const semantics = validateDefinitionSemantics(def, await loadRefs(db, organizationId, def), { requirePublished });
  return semantics.length > 0 ? err({ type: 'journey_definition_invalid', errors: semantics }) : ok(def);
}

function entryEvent(def: JourneyDefinition): string | null {
  return def.entry.type === 'event' ? def.entry.event : null;
}

export interface JourneyInput {
  key: string;
  name: string;
  description?: string | null;
  definition: unknown;
}

export async function createJourney(db: Kysely<Database>, deps: Deps, organizationId: string, input: JourneyInput): Promise<Result<JourneyView, JourneyError>> {
  if (await selectJourneyByKey(db, organizationId, input.key)) return err({ type: 'already_exists', field: 'key' });
  const def = await checkDefinition(db, organizationId, input.definition, false);
  if (!def.ok) return def;
  const now = deps.clock.now();
  const version: JourneyVersionRow = { id: deps.ids(), organization_id: organizationId, journey_id: deps.ids(), version: 1, definition: JSON.stringify(def.value), created_at: now };
  const row: JourneyRow = {
    id: version.journey_id,
    organization_id: organizationId,
    key: input.key,
    name: input.name,
    description: input.description ?? null,
    status: 'Draft',
    version: 1,
    version_id: version.id,
    entry_event: entryEvent(def.value),
    activated_at: null,
    created_at: now,
    updated_at: now,
  };
  await insertJourney(db, row);
  await insertJourneyVersion(db, version);
  return ok(toJourneyView(row, version));
}

async function load(db: Kysely<Database>, organizationId: string, id: string): Promise<{ row: JourneyRow; version: JourneyVersionRow } | null> {
  const row = await selectJourney(db, organizationId, id.toLowerCase());
  if (!row) return null;
  const version = await selectJourneyVersion(db, row.version_id);
  if (!version) throw new Error(`journey ${row.id} points at missing version ${row.version_id}`);
  return { row, version };
}

export async function getJourney(db: Kysely<Database>, organizationId: string, id: string): Promise<JourneyView | null> {
  const found = await load(db, organizationId, id);
  return found ? toJourneyView(found.row, found.version) : null;
}

export async function updateJourney(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
  input: { name?: string; description?: string | null; definition?: unknown },
): Promise<Result<JourneyView, JourneyError>> {
  const found = await load(db, organizationId, id);
  if (!found) return err({ type: 'journey_not_found' });
  let { row, version } = found;
  if (row.status === 'Archived') return err({ type: 'invalid_state', status: row.status });
  const now = deps.clock.now();
  const changes: Partial<JourneyRow> = {};
  if (input.definition !== undefined && canonicalJson(input.definition) !== canonicalJson(JSON.parse(version.definition))) {
    const def = await checkDefinition(db, organizationId, input.definition, row.status !== 'Draft');
    if (!def.ok) return def;
    version = { id: deps.ids(), organization_id: organizationId, journey_id: row.id, version: row.version + 1, definition: JSON.stringify(def.value), created_at: now };
    await insertJourneyVersion(db, version);
    Object.assign(changes, { version: version.version, version_id: version.id, entry_event: entryEvent(def.value) });
  }
  if (input.name !== undefined) changes.name = input.name;
  if (input.description !== undefined) changes.description = input.description;
  if (Object.keys(changes).length === 0) return ok(toJourneyView(row, version));
  changes.updated_at = now;
  await updateJourneyRow(db, row.id, changes);
  row = { ...row, ...changes };
  return ok(toJourneyView(row, version));
}

/** §7 lifecycle table. */
export async function transitionJourney(
  db: Kysely<Database>,
  deps: Deps,
  runs: JourneyRunControl,
  organizationId: string,
  id: string,
  action: 'activate' | 'pause' | 'archive',
): Promise<Result<JourneyView, JourneyError>> {
  const found = await load(db, organizationId, id);
  if (!found) return err({ type: 'journey_not_found' });
  const { row, version } = found;
  const target: JourneyStatus = action === 'activate' ? 'Active' : action === 'pause' ? 'Paused' : 'Archived';
  if (row.status === target) return ok(toJourneyView(row, version));
  if (row.status === 'Archived' || (action === 'pause' && row.status === 'Draft')) return err({ type: 'invalid_state', status: row.status });
  if (action === 'activate') {
    // Activation requires every referenced template to be published and not archived.
    const def = await checkDefinition(db, organizationId, JSON.parse(version.definition), true);
    if (!def.ok) return def;
  }
  const now = deps.clock.now();
  const changes: Partial<JourneyRow> = { status: target, updated_at: now };
  if (action === 'activate' && row.activated_at === null) changes.activated_at = now;
  await updateJourneyRow(db, row.id, changes);
  if (action === 'archive') await runs.exitActiveRuns(db, row.id, 'journey_archived');
  if (action === 'activate' && row.status === 'Paused') await runs.releaseHeldSteps(db, row.id);
  return ok(toJourneyView({ ...row, ...changes }, version));
}

/** A page of versions (newest first) below `beforeVersion`; `limit` rows at most. */
export async function listJourneyVersions(
  db: Kysely<Database>,
  organizationId: string,
  id: string,
  page: { limit: number; beforeVersion: number | null },
): Promise<Result<JourneyVersionView[], JourneyError>> {
  const row = await selectJourney(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'journey_not_found' });
  return ok((await selectJourneyVersions(db, row.id, page)).map(toVersionView));
}

export { loadRefs as loadDefinitionRefs };
