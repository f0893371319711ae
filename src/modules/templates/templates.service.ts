/**
 * Templates (templates.md): drafts with a json-render definition, publishing into immutable
 * snapshots, and rendering previews. Definitions are validated and rendered by ./render; this
 * module decides lifecycle, references, completeness and which definition a render uses.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { parseFriendlyAddress } from '../../lib/email.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { journeysUsing } from '../journeys/journeys.references.js';
import { selectDefaultSenderProfile, selectSenderProfile, selectSenderProfileByEmail } from '../senders/senders.store.js';
import { missingForPublish, normalizeDefinition, validateDefinition, type TemplateDefinition } from './render/definition.js';
import {
  deleteTemplateRow,
  insertSnapshot,
  insertTemplate,
  selectLatestVersion,
  selectSnapshot,
  selectSnapshotsPage,
  selectTemplate,
  selectTemplateIdsBySenderProfile,
  selectTemplates,
  updateTemplateRow,
  type SnapshotRow,
  type TemplateRow,
} from './templates.store.js';

export const PURPOSES = ['General', 'Newsletter', 'Promotional', 'Transactional', 'LeadMagnetDelivery'] as const;
export type TemplatePurpose = (typeof PURPOSES)[number];
export type TemplateSource = 'api' | 'dashboard' | 'broadcast' | 'import' | 'starter';

export interface TemplateInput {
  name?: string;
  purpose?: TemplatePurpose;
  definition?: Record<string, unknown>;
  senderProfileId?: string | null;
  brandKitId?: string | null;
  subType?: string | null;
  defaultSegmentId?: string | null;
  language?: string;
}

export type TemplateError =
  | { type: 'invalid_definition'; errors: { pointer: string; message: string }[] }
  | { type: 'reference_not_found'; pointers: string[] }
  | { type: 'template_not_found' }
  | { type: 'template_archived' }
  | { type: 'template_incomplete'; missing: ('subject' | 'sender' | 'body')[] }
  | { type: 'resource_in_use'; references: { type: string; id: string }[] };

export interface TemplateView {
  id: string;
  organizationId: string;
  name: string;
  type: 'email';
  status: 'Active' | 'Archived';
  purpose: string;
  isComplete: boolean;
  senderProfileId: string | null;
  brandKitId: string | null;
  defaultSegmentId: string | null;
  subType: string | null;
  source: string;
  language: string;
  lastGeneratedAt: null;
  lastGenerationError: null;
  websiteId: null;
  website: null;
  createdAt: string;
  updatedAt: string;
  definition: TemplateDefinition;
  currentSnapshotId: string | null;
}

export type TemplateSummary = Omit<TemplateView, 'definition' | 'currentSnapshotId' | 'senderProfileId' | 'brandKitId' | 'subType'>;

export interface SnapshotView {
  id: string;
  templateId: string;
  version: number;
  definition: TemplateDefinition;
  senderProfileId: string | null;
  brandKitId: string | null;
  purpose: string;
  language: string;
  createdAt: string;
}

interface Deps {
  clock: Clock;
  ids: IdGenerator;
}

export function toTemplateView(row: TemplateRow): TemplateView {
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    type: 'email',
    status: row.status,
    purpose: row.purpose,
    isComplete: row.is_complete === 1,
    senderProfileId: row.sender_profile_id,
    brandKitId: row.brand_kit_id,
    defaultSegmentId: row.default_segment_id,
    subType: row.sub_type,
    source: row.source,
    language: row.language,
    lastGeneratedAt: null,
    lastGenerationError: null,
    websiteId: null,
    website: null,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
    definition: JSON.parse(row.definition) as TemplateDefinition,
    currentSnapshotId: row.current_snapshot_id,
  };
}

export function toTemplateSummary(row: TemplateRow): TemplateSummary {
  const { definition: _d, currentSnapshotId: _c, senderProfileId: _s, brandKitId: _b, subType: _t, ...summary } = toTemplateView(row);
  return summary;
}

export function toSnapshotView(row: SnapshotRow): SnapshotView {
  return {
    id: row.id,
    templateId: row.template_id,
    version: row.version,
    definition: JSON.parse(row.definition) as TemplateDefinition,
    senderProfileId: row.sender_profile_id,
    brandKitId: row.brand_kit_id,
    purpose: row.purpose,
    language: row.language,
    createdAt: toIso(row.created_at),
  };
}

/** Validates and normalises a (partial) definition merged over `base`. */
export function prepareDefinition(base: TemplateDefinition | null, given: Record<string, unknown> | undefined): Result<TemplateDefinition, TemplateError> {
  const merged: Record<string, unknown> = { ...(base ?? {}), ...(given ?? {}) };
  // `text: null` clears the explicit plain-text part (conventions.md §1), so it is derived again.
  if (given?.text === null) delete merged.text;
  const errors = validateDefinition(merged);
  if (errors.length > 0) return err({ type: 'invalid_definition', errors });
  return ok(normalizeDefinition(merged));
}

/** Ids in the body that must name existing records of this organization (templates.md §2). */
async function checkReferences(db: Kysely<Database>, organizationId: string, input: TemplateInput): Promise<string[]> {
  const missing: string[] = [];
  if (input.senderProfileId != null && !(await selectSenderProfile(db, organizationId, input.senderProfileId.toLowerCase()))) missing.push('/senderProfileId');
  // Brand kits and segments arrive in later modules: until then no id can exist.
  if (input.brandKitId != null) missing.push('/brandKitId');
  if (input.defaultSegmentId != null) missing.push('/defaultSegmentId');
  return missing;
}

async function senderResolvable(db: Kysely<Database>, organizationId: string, senderProfileId: string | null, def: TemplateDefinition): Promise<boolean> {
  if (senderProfileId !== null && (await selectSenderProfile(db, organizationId, senderProfileId))) return true;
  if (typeof def.from === 'string' && def.from !== '') {
    const parsed = parseFriendlyAddress(def.from);
    if (parsed && (await selectSenderProfileByEmail(db, organizationId, parsed.email.toLowerCase()))) return true;
  }
  return (await selectDefaultSenderProfile(db, organizationId)) !== undefined;
}

async function computeMissing(db: Kysely<Database>, row: Pick<TemplateRow, 'organization_id' | 'sender_profile_id'>, def: TemplateDefinition) {
  return missingForPublish(def, await senderResolvable(db, row.organization_id, row.sender_profile_id, def));
}

export async function createTemplate(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  input: TemplateInput & { name: string },
  source: TemplateSource = 'api',
): Promise<Result<TemplateView, TemplateError>> {
  const def = prepareDefinition(null, input.definition);
  if (!def.ok) return def;
  const missingRefs = await checkReferences(db, organizationId, input);
  if (missingRefs.length > 0) return err({ type: 'reference_not_found', pointers: missingRefs });
  const now = deps.clock.now();
  const row: TemplateRow = {
    id: deps.ids(),
    organization_id: organizationId,
    name: input.name,
    purpose: input.purpose ?? 'General',
    status: 'Active',
    sender_profile_id: input.senderProfileId?.toLowerCase() ?? null,
    brand_kit_id: null,
    default_segment_id: null,
    sub_type: input.subType ?? null,
    source,
    language: input.language ?? 'en',
    definition: JSON.stringify(def.value),
    is_complete: 0,
    current_snapshot_id: null,
    created_at: now,
    updated_at: now,
  };
  row.is_complete = (await computeMissing(db, row, def.value)).length === 0 ? 1 : 0;
  await insertTemplate(db, row);
  return ok(toTemplateView(row));
}

export async function getTemplate(db: Kysely<Database>, organizationId: string, id: string): Promise<TemplateView | null> {
  const row = await selectTemplate(db, organizationId, id.toLowerCase());
  return row ? toTemplateView(row) : null;
}

export async function listTemplates(db: Kysely<Database>, organizationId: string, filter: { statuses?: string[]; purpose?: string }): Promise<TemplateSummary[]> {
  return (await selectTemplates(db, organizationId, filter)).map(toTemplateSummary);
}

/** Ids of the Templates that reference a SenderProfile (they block its deletion). */
export async function templateIdsUsingSenderProfile(db: Kysely<Database>, organizationId: string, senderProfileId: string): Promise<string[]> {
  return (await selectTemplateIdsBySenderProfile(db, organizationId, senderProfileId)).map((r) => r.id);
}

export async function updateTemplate(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
  input: TemplateInput,
): Promise<Result<TemplateView, TemplateError>> {
  const row = await selectTemplate(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  const def = prepareDefinition(JSON.parse(row.definition) as TemplateDefinition, input.definition);
  if (!def.ok) return def;
  const missingRefs = await checkReferences(db, organizationId, input);
  if (missingRefs.length > 0) return err({ type: 'reference_not_found', pointers: missingRefs });
  const next: TemplateRow = {
    ...row,
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.purpose !== undefined ? { purpose: input.purpose } : {}),
    ...(input.senderProfileId !== undefined ? { sender_profile_id: input.senderProfileId?.toLowerCase() ?? null } : {}),
    ...(input.subType !== undefined ? { sub_type: input.subType } : {}),
    ...(input.language !== undefined ? { language: input.language } : {}),
    definition: JSON.stringify(def.value),
    updated_at: deps.clock.now(),
  };
  next.is_complete = (await computeMissing(db, next, def.value)).length === 0 ? 1 : 0;
  const { id: _id, organization_id: _org, ...changes } = next;
  await updateTemplateRow(db, row.id, changes);
  return ok(toTemplateView(next));
}

export async function duplicateTemplate(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
  name: string | undefined,
): Promise<Result<TemplateView, TemplateError>> {
  const row = await selectTemplate(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  const now = deps.clock.now();
  const copy: TemplateRow = {
    ...row,
    id: deps.ids(),
    name: name ?? `${row.name} (copy)`.slice(0, 200),
    status: 'Active',
    current_snapshot_id: null,
    created_at: now,
    updated_at: now,
  };
  await insertTemplate(db, copy);
  return ok(toTemplateView(copy));
}

export async function setTemplateStatus(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
  status: 'Active' | 'Archived',
): Promise<Result<TemplateView, TemplateError>> {
  const row = await selectTemplate(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  if (row.status === status) return ok(toTemplateView(row));
  const next = { ...row, status, updated_at: deps.clock.now() };
  await updateTemplateRow(db, row.id, { status, updated_at: next.updated_at });
  return ok(toTemplateView(next));
}

export async function deleteTemplate(db: Kysely<Database>, organizationId: string, id: string): Promise<Result<null, TemplateError>> {
  const row = await selectTemplate(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  // Broadcasts and newsletter issues do not exist yet; live journeys are the only holders.
  const references = await journeysUsing(db, organizationId, 'template', row.id);
  if (references.length > 0) return err({ type: 'resource_in_use', references });
  await deleteTemplateRow(db, organizationId, row.id);
  return ok(null);
}

/** Freezes the draft into a new snapshot unless it equals the current one (templates.md §2). */
export async function publishTemplate(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
): Promise<Result<TemplateView, TemplateError>> {
  const row = await selectTemplate(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  if (row.status === 'Archived') return err({ type: 'template_archived' });
  const def = JSON.parse(row.definition) as TemplateDefinition;
  const missing = await computeMissing(db, row, def);
  if (missing.length > 0) return err({ type: 'template_incomplete', missing });
  const frozen = { definition: row.definition, sender_profile_id: row.sender_profile_id, brand_kit_id: row.brand_kit_id, purpose: row.purpose, language: row.language };
  if (row.current_snapshot_id !== null) {
    const current = await selectSnapshot(db, organizationId, row.id, row.current_snapshot_id);
    if (current && sameContent(current, frozen)) return ok(toTemplateView(row));
  }
  const now = deps.clock.now();
  const snapshot: SnapshotRow = {
    id: deps.ids(),
    organization_id: organizationId,
    template_id: row.id,
    version: (await selectLatestVersion(db, row.id)) + 1,
    ...frozen,
    created_at: now,
  };
  await insertSnapshot(db, snapshot);
  const next = { ...row, current_snapshot_id: snapshot.id, is_complete: 1, updated_at: now };
  await updateTemplateRow(db, row.id, { current_snapshot_id: snapshot.id, is_complete: 1, updated_at: now });
  return ok(toTemplateView(next));
}

function sameContent(a: Pick<SnapshotRow, 'definition' | 'sender_profile_id' | 'brand_kit_id' | 'purpose' | 'language'>, b: typeof a): boolean {
  return (
    canonicalJson(JSON.parse(a.definition)) === canonicalJson(JSON.parse(b.definition)) &&
    a.sender_profile_id === b.sender_profile_id &&
    a.brand_kit_id === b.brand_kit_id &&
    a.purpose === b.purpose &&
    a.language === b.language
  );
}

export async function listSnapshots(
  db: Kysely<Database>,
  organizationId: string,
  templateId: string,
  page: { limit: number; beforeVersion: number | null },
): Promise<Result<SnapshotView[], TemplateError>> {
  const row = await selectTemplate(db, organizationId, templateId.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  return ok((await selectSnapshotsPage(db, organizationId, row.id, page)).map(toSnapshotView));
}

/**
 * One snapshot of a template that exists. A deleted template's snapshots stay in the database for
 * the sends pinned to them, but the API no longer shows them (as the list does not).
 */
export async function getSnapshot(db: Kysely<Database>, organizationId: string, templateId: string, snapshotId: string): Promise<SnapshotView | null> {
  const template = await selectTemplate(db, organizationId, templateId.toLowerCase());
  if (!template) return null;
  const row = await selectSnapshot(db, organizationId, template.id, snapshotId.toLowerCase());
  return row ? toSnapshotView(row) : null;
}
