/**
 * Rendering previews (templates.md §7): choose the definition (draft, current snapshot, a given
 * snapshot, or an unsaved definition), assemble the render state from the caller's sample state
 * and an optional Profile, render, and enforce `strict`. Compiled snapshots are cached: a
 * snapshot never changes, so its render plan is built once per process.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { err, ok, type Result } from '../../lib/result.js';
import { getProfile, profileRenderState } from '../profiles/profiles.service.js';
import type { TemplateDefinition } from './render/definition.js';
import { compileTemplate, EMPTY_BRAND, renderTemplate, type CompiledTemplate, type RenderOutput, type RenderState } from './render/render.js';
import { prepareDefinition, type TemplateError } from './templates.service.js';
import { selectSnapshot, selectTemplate } from './templates.store.js';

export interface SampleState {
  event?: Record<string, unknown>;
  data?: Record<string, unknown>;
  profile?: Record<string, unknown>;
  variables?: Record<string, unknown>;
  brand?: Record<string, unknown>;
  waited?: Record<string, unknown>;
}

export type PreviewError =
  | TemplateError
  | { type: 'template_not_published' }
  | { type: 'snapshot_not_found' }
  | { type: 'render_failed'; reason: string }
  | { type: 'missing_paths'; missingPaths: string[] }
  | { type: 'profile_not_found'; by: 'profileId' };


const CACHE_LIMIT = 500;
const compiledSnapshots = new Map<string, CompiledTemplate>();

/** The compiled plan of an immutable snapshot, built once per process. */
export function compiledSnapshot(snapshotId: string, def: TemplateDefinition, meta: { purpose: string; language: string }): CompiledTemplate {
  let compiled = compiledSnapshots.get(snapshotId);
  if (!compiled) {
    compiled = compileTemplate(def, meta);
    if (compiledSnapshots.size >= CACHE_LIMIT) compiledSnapshots.delete(compiledSnapshots.keys().next().value!);
    compiledSnapshots.set(snapshotId, compiled);
  }
  return compiled;
}

interface PreviewOptions {
  publicUrl: string;
  /** The instance secret (the Profile lookup reads the suppression list). */
  secret: string;
  strict: boolean;
  state: SampleState;
  profileId?: string;
}

async function buildState(
  db: Kysely<Database>,
  organizationId: string,
  def: TemplateDefinition,
  options: PreviewOptions,
): Promise<Result<RenderState, PreviewError>> {
  let profile: Record<string, unknown> = {};
  if (options.profileId !== undefined) {
    const view = await getProfile(db, organizationId, options.profileId, options.secret);
    if (!view) return err({ type: 'profile_not_found', by: 'profileId' });
    profile = profileRenderState(view);
  }
  return ok({
    event: options.state.event ?? {},
    data: options.state.data ?? {},
    profile: { ...profile, ...(options.state.profile ?? {}) },
    variables: { ...def.renderVariables, ...(options.state.variables ?? {}) },
    waited: options.state.waited ?? {},
    brand: options.state.brand ?? EMPTY_BRAND,
    unsubscribeUrl: `${options.publicUrl}/unsubscribe/preview`,
    preferencesUrl: `${options.publicUrl}/preferences/preview`,
  });
}

async function renderWith(
  db: Kysely<Database>,
  organizationId: string,
  compiled: CompiledTemplate,
  def: TemplateDefinition,
  options: PreviewOptions,
): Promise<Result<RenderOutput, PreviewError>> {
  const state = await buildState(db, organizationId, def, options);
  if (!state.ok) return state;
  const rendered = renderTemplate(compiled, state.value, {
    unsubscribeFooter: { unsubscribeUrl: state.value.unsubscribeUrl!, preferencesUrl: state.value.preferencesUrl! },
  });
  if (!rendered.ok) return err(rendered.error);
  if (options.strict && rendered.value.missingPaths.length > 0) return err({ type: 'missing_paths', missingPaths: rendered.value.missingPaths });
  return ok(rendered.value);
}

/** `POST /api/v1/templates/{id}/render`. */
export async function renderSavedTemplate(
  db: Kysely<Database>,
  organizationId: string,
  templateId: string,
  source: string,
  options: PreviewOptions,
): Promise<Result<RenderOutput, PreviewError>> {
  const row = await selectTemplate(db, organizationId, templateId.toLowerCase());
  if (!row) return err({ type: 'template_not_found' });
  if (source === 'draft') {
    const def = JSON.parse(row.definition) as TemplateDefinition;
    return renderWith(db, organizationId, compileTemplate(def, row), def, options);
  }
  const snapshotId = source === 'current' ? row.current_snapshot_id : source.toLowerCase();
  if (snapshotId === null) return err({ type: 'template_not_published' });
  const snapshot = await selectSnapshot(db, organizationId, row.id, snapshotId);
  if (!snapshot) return err({ type: 'snapshot_not_found' });
  const def = JSON.parse(snapshot.definition) as TemplateDefinition;
  return renderWith(db, organizationId, compiledSnapshot(snapshot.id, def, snapshot), def, options);
}

/** `POST /api/v1/templates/preview`: an unsaved definition, validated like a save. */
export async function previewDefinition(
  db: Kysely<Database>,
  organizationId: string,
  input: { definition: Record<string, unknown>; purpose: string; language?: string },
  options: PreviewOptions,
): Promise<Result<RenderOutput, PreviewError>> {
  const def = prepareDefinition(null, input.definition);
  if (!def.ok) return def;
  return renderWith(db, organizationId, compileTemplate(def.value, { purpose: input.purpose, language: input.language ?? 'en' }), def.value, options);
}
