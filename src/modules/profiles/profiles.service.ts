/**
 * Profiles: identity resolution (events.md §3, shared by events.track, emails.send, triggers and
 * ingest), last-write-wins Profile Properties with lineage (events.md §4), and the Profile JSON
 * shape (profiles.md §1). Resolution decides every outcome before writing anything, so a
 * conflict leaves the database untouched.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { toIso } from '../../lib/clock.js';
import type { Clock } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { findSuppression } from '../subscriptions/suppressions.service.js';
import {
  countProfileRows,
  deleteIdentity,
  insertIdentities,
  insertProfile,
  selectAnonymousIdOwner,
  selectIdentityOwners,
  selectProfile,
  selectProperties,
  selectPropertyValue,
  touchProfile,
  updateProfile,
  upsertAnonymousIdLink,
  upsertProperties,
  type ProfileRow,
} from './profiles.store.js';

export type SourceTag = 'api' | 'csv_import' | 'jsonl_import' | 'ingest' | 'segment' | 'form_submission' | 'wordpress' | 'woocommerce' | 'shopify';

export type PropertySource =
  | 'events.track'
  | 'journeys.trigger'
  | 'ingest.identify'
  | 'segment.identify'
  | 'journey.update_profile'
  | 'import'
  | 'ingest.consent';

export type ResolveError =
  | { type: 'identity_conflict'; byExternalId: string | null; byEmail: string }
  /** `by: 'profileId'`: a referenced profileId is unknown; otherwise an externalId-only identity. */
  | { type: 'profile_not_found'; by?: 'profileId' };

export interface IdentityInput {
  /** Canonical (trimmed, lower-cased) email. */
  email?: string;
  externalId?: string;
}

export interface ResolvedProfile {
  profile: ProfileRow;
  created: boolean;
}

interface ServiceDeps {
  clock: Clock;
  ids: IdGenerator;
}

/** events.md §3: externalId first, then email; creates with an email, never without one. */
export async function resolveProfile(
  db: Kysely<Database>,
  deps: ServiceDeps,
  organizationId: string,
  identity: IdentityInput,
  sourceTag: SourceTag,
  /** The `phone` property about to be written, so a new Profile is inserted with its mirror. */
  initialPhone?: unknown,
): Promise<Result<ResolvedProfile, ResolveError>> {
  const { email, externalId } = identity;
  const owners = await selectIdentityOwners(db, organizationId, identity);
  const px = owners.byExternalId;
  const pe = owners.byEmail;
  const now = deps.clock.now();

  if (px !== null) {
    if (email !== undefined && pe !== null && pe.id !== px.id) return err({ type: 'identity_conflict', byExternalId: px.id, byEmail: pe.id });
    if (email !== undefined && pe === null) {
      // Email change: the old email stops resolving to this Profile.
      await deleteIdentity(db, organizationId, 'email', px.email);
      await insertIdentities(db, [{ organization_id: organizationId, kind: 'email', value: email, profile_id: px.id, created_at: now }]);
      px.email = email;
      px.updated_at = now;
      await updateProfile(db, px.id, { email, updated_at: now });
    }
    return ok({ profile: await withSourceTag(db, px, sourceTag, now), created: false });
  }
  if (email === undefined) return err({ type: 'profile_not_found' });
  if (pe !== null) {
    if (externalId !== undefined) {
      if (pe.external_id !== null) return err({ type: 'identity_conflict', byExternalId: null, byEmail: pe.id });
      await insertIdentities(db, [{ organization_id: organizationId, kind: 'external_id', value: externalId, profile_id: pe.id, created_at: now }]);
      pe.external_id = externalId;
      pe.updated_at = now;
      await updateProfile(db, pe.id, { external_id: externalId, updated_at: now });
    }
    return ok({ profile: await withSourceTag(db, pe, sourceTag, now), created: false });
  }
  const profile = newProfileRow(deps, organizationId, { email, externalId }, sourceTag, initialPhone, now);
  // Identities first: their primary key is what makes a concurrent duplicate creation fail.
  await insertIdentities(db, [
    { organization_id: organizationId, kind: 'email', value: email, profile_id: profile.id, created_at: now },
    ...(externalId !== undefined
      ? [{ organization_id: organizationId, kind: 'external_id' as const, value: externalId, profile_id: profile.id, created_at: now }]
      : []),
  ]);
  await insertProfile(db, profile);
  return ok({ profile, created: true });
}

/** The row of a Profile created from an identity with an email (not yet stored). */
export function newProfileRow(
  deps: { ids: IdGenerator },
  organizationId: string,
  identity: { email: string; externalId?: string | undefined },
  sourceTag: SourceTag,
  initialPhone: unknown,
  now: number,
): ProfileRow {
  return {
    id: deps.ids(),
    organization_id: organizationId,
    email: identity.email,
    external_id: identity.externalId ?? null,
    phone: typeof initialPhone === 'string' ? initialPhone : null,
    sources: JSON.stringify([sourceTag]),
    created_at: now,
    updated_at: now,
  };
}

async function withSourceTag(db: Kysely<Database>, profile: ProfileRow, tag: SourceTag, now: number): Promise<ProfileRow> {
  const sources = JSON.parse(profile.sources) as string[];
  if (sources.includes(tag)) return profile;
  sources.push(tag);
  profile.sources = JSON.stringify(sources);
  profile.updated_at = now;
  await updateProfile(db, profile.id, { sources: profile.sources, updated_at: now });
  return profile;
}

/** What linking an anonymousId did; `relinked` names the Profile it was taken from. */
export type AnonymousIdLink = { outcome: 'linked' | 'unchanged' } | { outcome: 'relinked'; previousProfileId: string };

/**
 * Links an anonymousId to a resolved Profile (profiles.md §2; journeys.trigger, and ingest once
 * it exists). An anonymousId is only ever linked, never used to find or create a Profile. Linking
 * it again to the same Profile changes nothing; one linked to another Profile is re-linked to
 * this, the newer one (ingest.md §2.2 — older events stay where they are), and the outcome names
 * the previous Profile so the caller can record the move.
 */
export async function linkAnonymousId(
  db: Kysely<Database>,
  deps: { clock: Clock },
  profile: Pick<ProfileRow, 'id' | 'organization_id'>,
  anonymousId: string,
): Promise<AnonymousIdLink> {
  const owner = await selectAnonymousIdOwner(db, profile.organization_id, anonymousId);
  if (owner === profile.id) return { outcome: 'unchanged' };
  await upsertAnonymousIdLink(db, { organizationId: profile.organization_id, anonymousId, profileId: profile.id, now: deps.clock.now() });
  return owner === null ? { outcome: 'linked' } : { outcome: 'relinked', previousProfileId: owner };
}

export interface PropertyWrite {
  properties: Record<string, unknown>;
  source: PropertySource;
  /** The effective time for last-write-wins. */
  updatedAt: number;
  eventId: string | null;
}

/**
 * Applies properties last-write-wins; keeps `phone` mirrored. Returns the keys written. A Profile
 * created in this transaction already carries its timestamps and phone, so it is not touched again.
 */
export async function applyProperties(
  db: Kysely<Database>,
  deps: { clock: Clock },
  profile: ProfileRow,
  write: PropertyWrite,
  created = false,
): Promise<string[]> {
  const keys = Object.keys(write.properties);
  if (keys.length === 0) return [];
  const written = await upsertProperties(
    db,
    keys.map((key) => ({
      organization_id: profile.organization_id,
      profile_id: profile.id,
      key,
      value_json: JSON.stringify(write.properties[key] ?? null),
      source: write.source,
      updated_at: write.updatedAt,
      event_id: write.eventId,
    })),
  );
  if (written.length === 0 || created) return written;
  const now = deps.clock.now();
  profile.updated_at = now;
  if (!written.includes('phone')) {
    await touchProfile(db, profile.id, now);
    return written;
  }
  const stored = await selectPropertyValue(db, profile.id, 'phone');
  const value: unknown = stored === undefined ? null : JSON.parse(stored);
  profile.phone = typeof value === 'string' ? value : null;
  await touchProfile(db, profile.id, now, profile.phone);
  return written;
}

export interface PropertyView {
  value: unknown;
  source: string;
  updatedAt: string;
  eventId?: string;
}

export interface ProfileView {
  id: string;
  email: string;
  externalId: string | null;
  phone: string | null;
  sources: string[];
  properties: Record<string, PropertyView>;
  segments: { id: string; name: string; type: 'dynamic' }[];
  deliverySuppression: {
    suppressed: boolean;
    email: string;
    reason: 'hard_bounce' | 'complaint' | 'manual' | null;
    suppressedAt: string | null;
    latestBounceReason: string | null;
    latestBounceDiagnosticCode: string | null;
  };
  createdAt: string;
  updatedAt: string;
}

/** The Profile JSON; `secret` (the instance secret) finds the address on the suppression list. */
export async function getProfile(db: Kysely<Database>, organizationId: string, profileId: string, secret: string): Promise<ProfileView | null> {
  const row = await selectProfile(db, organizationId, profileId.toLowerCase());
  if (!row) return null;
  const suppression = await findSuppression(db, secret, organizationId, row.email);
  const properties: Record<string, PropertyView> = Object.create(null) as Record<string, PropertyView>;
  for (const p of await selectProperties(db, row.id)) {
    const view: PropertyView = { value: JSON.parse(p.value_json) as unknown, source: p.source, updatedAt: toIso(p.updated_at) };
    if (p.event_id !== null) view.eventId = p.event_id;
    properties[p.key] = view;
  }
  return {
    id: row.id,
    email: row.email,
    externalId: row.external_id,
    phone: row.phone,
    sources: JSON.parse(row.sources) as string[],
    properties,
    segments: [],
    deliverySuppression: {
      suppressed: suppression !== null,
      email: row.email,
      reason: suppression?.reason ?? null,
      suppressedAt: suppression ? toIso(suppression.suppressedAt) : null,
      latestBounceReason: suppression?.latestBounceReason ?? null,
      latestBounceDiagnosticCode: suppression?.latestBounceDiagnosticCode ?? null,
    },
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

/** The stored id of a Profile of this organization (ids compare case-insensitively), or null. */
export async function findProfileId(db: Kysely<Database>, organizationId: string, profileId: string): Promise<string | null> {
  return (await selectProfile(db, organizationId, profileId.toLowerCase()))?.id ?? null;
}

export function countProfiles(db: Kysely<Database>, organizationId: string): Promise<number> {
  return countProfileRows(db, organizationId);
}

/**
 * The `/profile/*` render state (templates.md §5): built-in fields, then each property value by
 * key; built-ins win on a name clash.
 */
export function profileRenderState(profile: ProfileView): Record<string, unknown> {
  const state: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, property] of Object.entries(profile.properties)) state[key] = property.value;
  state.id = profile.id;
  state.email = profile.email;
  state.externalId = profile.externalId;
  state.phone = profile.phone;
  state.createdAt = profile.createdAt;
  return state;
}
