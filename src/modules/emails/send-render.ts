/**
 * Rendering a send's pinned snapshot (templates.md §5): the state an EmailSend renders with —
 * `/data/*` from the send, `/profile/*` as the Profile is now, `/variables/*` from the snapshot,
 * `/event/*` and `/waited/*` from a journey run when there is one, `/brand/*`, and the signed
 * unsubscribe and preferences URLs. Used at creation (subject, from, reply-to only) and by the
 * delivery worker (the whole message).
 */
import type { Kysely } from 'kysely';
import { PreparedQuery } from '../../db/prepared.js';
import type { Database } from '../../db/tables.js';
import { signToken } from '../../lib/signed-token.js';
import type { Result } from '../../lib/result.js';
import type { TemplateDefinition } from '../templates/render/definition.js';
import { EMPTY_BRAND, renderHeaders, renderTemplate, type CompiledTemplate, type RenderedHeaders, type RenderFailure, type RenderOutput, type RenderState } from '../templates/render/render.js';
import { stateRootsRead, type StateRoot } from '../templates/render/state-pointers.js';
import { compiledSnapshot } from '../templates/templates.preview.js';
import type { SnapshotRow } from '../templates/templates.store.js';

export interface SendContext {
  organizationId: string;
  emailSendId: string;
  profileId: string | null;
  subscriptionGroupId: string | null;
  data: Record<string, unknown>;
  profile: Record<string, unknown>;
  event?: Record<string, unknown>;
  variables?: Record<string, unknown>;
  waited?: Record<string, unknown>;
}

const SNAPSHOT_CACHE_LIMIT = 1000;
/** Snapshots are immutable: each one's definition is parsed once, and read, never changed. */
const parsedSnapshots = new Map<string, { definition: TemplateDefinition; roots: ReadonlySet<StateRoot> }>();

function parsedSnapshot(snapshot: Pick<SnapshotRow, 'id' | 'definition'>): { definition: TemplateDefinition; roots: ReadonlySet<StateRoot> } {
  let parsed = parsedSnapshots.get(snapshot.id);
  if (!parsed) {
    const definition = JSON.parse(snapshot.definition) as TemplateDefinition;
    parsed = { definition, roots: stateRootsRead(definition) };
    if (parsedSnapshots.size >= SNAPSHOT_CACHE_LIMIT) parsedSnapshots.delete(parsedSnapshots.keys().next().value!);
    parsedSnapshots.set(snapshot.id, parsed);
  }
  return parsed;
}

/** A snapshot's definition, parsed once per snapshot id. Shared: read it, never change it. */
export function snapshotDefinition(snapshot: Pick<SnapshotRow, 'id' | 'definition'>): TemplateDefinition {
  return parsedSnapshot(snapshot).definition;
}

/** The state roots a snapshot's definition may read. */
export function snapshotStateRoots(snapshot: Pick<SnapshotRow, 'id' | 'definition'>): ReadonlySet<StateRoot> {
  return parsedSnapshot(snapshot).roots;
}

const SNAPSHOT_BY_ID = new PreparedQuery((db, p: { organizationId: string; id: string }) => db.selectFrom('template_snapshots').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.id));

export function selectSnapshotById(db: Kysely<Database>, organizationId: string, id: string): Promise<SnapshotRow | undefined> {
  return SNAPSHOT_BY_ID.first(db, { organizationId, id });
}

/** Signed links of emails.md §9 (unsubscribe and preferences tokens do not expire). */
export function unsubscribeLinks(publicUrl: string, secret: string, ctx: Pick<SendContext, 'organizationId' | 'profileId' | 'subscriptionGroupId' | 'emailSendId'>) {
  const base = { v: 1, o: ctx.organizationId, p: ctx.profileId, g: ctx.subscriptionGroupId, s: ctx.emailSendId };
  return {
    unsubscribeUrl: ctx.subscriptionGroupId === null ? '' : `${publicUrl}/unsubscribe/${signToken(secret, { ...base, k: 'u' })}`,
    preferencesUrl: `${publicUrl}/preferences/${signToken(secret, { ...base, k: 'p' })}`,
  };
}

export function renderSend(
  snapshot: SnapshotRow,
  ctx: SendContext,
  links: { unsubscribeUrl: string; preferencesUrl: string },
): Result<RenderOutput, RenderFailure> {
  const { compiled, state } = renderInput(snapshot, ctx, links);
  return renderTemplate(compiled, state, { unsubscribeFooter: links });
}

/** Subject, from and reply-to only (creation freezes them; the body renders at delivery). */
export function renderSendHeaders(
  snapshot: SnapshotRow,
  ctx: SendContext,
  links: { unsubscribeUrl: string; preferencesUrl: string },
): Result<RenderedHeaders, RenderFailure> {
  const { compiled, state } = renderInput(snapshot, ctx, links);
  return renderHeaders(compiled, state, { unsubscribeFooter: links });
}

function renderInput(snapshot: SnapshotRow, ctx: SendContext, links: { unsubscribeUrl: string; preferencesUrl: string }): { compiled: CompiledTemplate; state: RenderState } {
  const definition = snapshotDefinition(snapshot);
  return {
    compiled: compiledSnapshot(snapshot.id, definition, snapshot),
    state: {
      event: ctx.event ?? {},
      data: ctx.data,
      profile: ctx.profile,
      variables: { ...definition.renderVariables, ...(ctx.variables ?? {}) },
      waited: ctx.waited ?? {},
      brand: EMPTY_BRAND,
      ...links,
    },
  };
}
