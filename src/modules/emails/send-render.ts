/**
 * Rendering a send's pinned snapshot (templates.md §5): the state an EmailSend renders with —
 * `/data/*` from the send, `/profile/*` as the Profile is now, `/variables/*` from the snapshot,
 * `/event/*` and `/waited/*` from a journey run when there is one, `/brand/*`, and the signed
 * unsubscribe and preferences URLs. Used at creation (subject, from, reply-to only) and by the
 * delivery worker (the whole message).
 */
import type { Kysely } from 'kysely';
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

const ROOTS_CACHE_LIMIT = 1000;
const rootsBySnapshot = new Map<string, ReadonlySet<StateRoot>>();

/** The state roots a snapshot's definition may read (snapshots are immutable, so cached by id). */
export function snapshotStateRoots(snapshot: Pick<SnapshotRow, 'id' | 'definition'>): ReadonlySet<StateRoot> {
  let roots = rootsBySnapshot.get(snapshot.id);
  if (!roots) {
    roots = stateRootsRead(JSON.parse(snapshot.definition));
    if (rootsBySnapshot.size >= ROOTS_CACHE_LIMIT) rootsBySnapshot.delete(rootsBySnapshot.keys().next().value!);
    rootsBySnapshot.set(snapshot.id, roots);
  }
  return roots;
}

export function selectSnapshotById(db: Kysely<Database>, organizationId: string, id: string): Promise<SnapshotRow | undefined> {
  return db.selectFrom('template_snapshots').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
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
  const definition = JSON.parse(snapshot.definition) as TemplateDefinition;
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
