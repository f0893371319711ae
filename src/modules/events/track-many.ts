/**
 * events.track for a group of concurrent requests sharing one transaction (the group committer
 * hands them over together): the decisions `trackEvent` takes item by item, in order, with one
 * statement per step for the whole group — identities read together, then new identities,
 * new Profiles, properties, Profile touches and events each written in one statement.
 *
 * It covers what a steady stream of events mostly is. A group holding anything else is run
 * through `trackEvent` item by item instead, before anything is written:
 * - an identity change (an email change, an externalId added to a Profile), or a Profile not yet
 *   tagged with the `api` source;
 * - a `phone` property for a Profile the same item does not create (its mirror is re-read);
 * - an event that could touch a journey (`JourneyEvaluator.mayTouch`): when none can, evaluation
 *   would write nothing and count zeros for each event.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../../db/tables.js';
import { compareStrings } from '../../lib/compare.js';
import { err, ok, type Result } from '../../lib/result.js';
import { newProfileRow, type SourceTag } from '../profiles/profiles.service.js';
import { insertIdentities, insertProfiles, selectIdentityOwnersIn, selectPropertyStamps, touchProfiles, upsertProperties, type ProfileRow, type PropertyRow } from '../profiles/profiles.store.js';
import { insertUserEvents } from './events.store.js';
import { trackedEventRow, trackEvent, type TrackDeps, type TrackError, type TrackInput, type TrackResult } from './events.service.js';

const SOURCE_TAG: SourceTag = 'api';

type Planned = { input: TrackInput; profile: ProfileRow; created: boolean; eventId: string } | { error: TrackError };

/** Results in the order of `inputs`, as `trackEvent` on each in turn would give them. */
export async function trackEvents(trx: Transaction<Database>, deps: TrackDeps, inputs: TrackInput[]): Promise<Result<TrackResult, TrackError>[]> {
  const planned = await plan(trx, deps, inputs);
  if (planned === null) {
    const results: Result<TrackResult, TrackError>[] = [];
    for (const input of inputs) results.push(await trackEvent(trx, deps, input));
    return results;
  }
  await write(trx, deps, planned);
  return planned.map((p) =>
    'error' in p ? err(p.error) : ok({ eventId: p.eventId, profileId: p.profile.id, matchedJourneys: 0, enrolledJourneys: 0, skippedJourneys: 0 }),
  );
}

/** Resolution of every item against the identities read at once; null when the group is not one this path takes. */
async function plan(trx: Transaction<Database>, deps: TrackDeps, inputs: TrackInput[]): Promise<Planned[] | null> {
  const owners = await readOwners(trx, inputs);
  const now = deps.clock.now();
  const planned: Planned[] = [];
  const createdProfiles = new Set<ProfileRow>();
  for (const input of inputs) {
    const org = input.organizationId;
    const { email, externalId } = input;
    const px = externalId === undefined ? null : (owners.get(slot(org, 'external_id', externalId)) ?? null);
    const pe = email === undefined ? null : (owners.get(slot(org, 'email', email)) ?? null);
    let profile: ProfileRow;
    let created = false;
    if (px !== null) {
      if (email !== undefined && pe !== null && pe.id !== px.id) {
        planned.push({ error: { type: 'identity_conflict', byExternalId: px.id, byEmail: pe.id } });
        continue;
      }
      if (email !== undefined && pe === null) return null;
      profile = px;
    } else if (email === undefined) {
      planned.push({ error: { type: 'profile_not_found' } });
      continue;
    } else if (pe !== null) {
      if (externalId !== undefined) {
        if (pe.external_id !== null) {
          planned.push({ error: { type: 'identity_conflict', byExternalId: null, byEmail: pe.id } });
          continue;
        }
        return null;
      }
      profile = pe;
    } else {
      profile = newProfileRow(deps, org, { email, externalId }, SOURCE_TAG, input.properties?.phone, now);
      created = true;
      createdProfiles.add(profile);
      owners.set(slot(org, 'email', email), profile);
      if (externalId !== undefined) owners.set(slot(org, 'external_id', externalId), profile);
    }
    if (!created) {
      if (!(JSON.parse(profile.sources) as string[]).includes(SOURCE_TAG)) return null;
      if (input.properties !== undefined && Object.hasOwn(input.properties, 'phone')) return null;
    }
    planned.push({ input, profile, created, eventId: deps.ids() });
  }
  // Journeys: the names of the events stored, and the Profiles that existed before this group.
  const inPlay = new Map<string, { events: Set<string>; profileIds: Set<string> }>();
  for (const p of planned) {
    if ('error' in p) continue;
    let group = inPlay.get(p.input.organizationId);
    if (!group) inPlay.set(p.input.organizationId, (group = { events: new Set(), profileIds: new Set() }));
    group.events.add(p.input.event);
    if (!createdProfiles.has(p.profile)) group.profileIds.add(p.profile.id);
  }
  for (const [organizationId, group] of inPlay) {
    if (await deps.journeys.mayTouch(trx, organizationId, [...group.events], [...group.profileIds])) return null;
  }
  return planned;
}

function slot(organizationId: string, kind: 'email' | 'external_id', value: string): string {
  return `${organizationId}\n${kind}\n${value}`;
}

/** The Profiles owning the group's emails and externalIds, one object per Profile. */
async function readOwners(trx: Transaction<Database>, inputs: TrackInput[]): Promise<Map<string, ProfileRow>> {
  const wanted = new Map<string, { email: Set<string>; external_id: Set<string> }>();
  for (const input of inputs) {
    let sets = wanted.get(input.organizationId);
    if (!sets) wanted.set(input.organizationId, (sets = { email: new Set(), external_id: new Set() }));
    if (input.email !== undefined) sets.email.add(input.email);
    if (input.externalId !== undefined) sets.external_id.add(input.externalId);
  }
  const owners = new Map<string, ProfileRow>();
  const byId = new Map<string, ProfileRow>();
  for (const [org, sets] of wanted) {
    for (const kind of ['external_id', 'email'] as const) {
      for (const [value, row] of await selectIdentityOwnersIn(trx, org, kind, [...sets[kind]])) {
        const profile = byId.get(row.id) ?? row;
        byId.set(profile.id, profile);
        owners.set(slot(org, kind, value), profile);
      }
    }
  }
  return owners;
}

/** The writes of the planned items, one statement per table, in the order `trackEvent` makes them. */
async function write(trx: Transaction<Database>, deps: TrackDeps, planned: Planned[]): Promise<void> {
  const items = planned.filter((p): p is Exclude<Planned, { error: TrackError }> => !('error' in p));
  const created = items.filter((p) => p.created).map((p) => p.profile);
  const stamps = await selectPropertyStamps(trx, [...new Set(items.filter((p) => !p.created && p.input.properties !== undefined).map((p) => p.profile.id))]);

  // Last write wins, item by item: a write lands when it is not older than what is there.
  const now = deps.clock.now();
  const finalRows = new Map<string, PropertyRow>();
  const touched = new Set<ProfileRow>();
  for (const { input, profile, created: isNew, eventId } of items) {
    let wrote = false;
    for (const [key, value] of Object.entries(input.properties ?? {})) {
      const at = `${profile.id}\n${key}`;
      const stored = finalRows.get(at)?.updated_at ?? stamps.get(at);
      if (stored !== undefined && stored > input.occurredAt) continue;
      wrote = true;
      finalRows.set(at, {
        organization_id: profile.organization_id,
        profile_id: profile.id,
        key,
        value_json: JSON.stringify(value ?? null),
        source: 'events.track',
        updated_at: input.occurredAt,
        event_id: eventId,
      });
    }
    if (wrote && !isNew) touched.add(profile);
  }
  const createdSet = new Set(created);
  for (const profile of touched) profile.updated_at = now;

  await insertIdentities(
    trx,
    created
      .flatMap((p) => [
        { organization_id: p.organization_id, kind: 'email' as const, value: p.email, profile_id: p.id, created_at: p.created_at },
        ...(p.external_id !== null ? [{ organization_id: p.organization_id, kind: 'external_id' as const, value: p.external_id, profile_id: p.id, created_at: p.created_at }] : []),
      ])
      .sort((a, b) => compareStrings(a.organization_id, b.organization_id) || compareStrings(a.kind, b.kind) || compareStrings(a.value, b.value)),
  );
  await insertProfiles(trx, created);
  await upsertProperties(trx, [...finalRows.values()].sort((a, b) => compareStrings(a.profile_id, b.profile_id) || compareStrings(a.key, b.key)));
  await touchProfiles(trx, [...touched].filter((p) => !createdSet.has(p)).map((p) => p.id).sort(compareStrings), now);
  await insertUserEvents(trx, items.map(({ input, profile, eventId }) => trackedEventRow(input, profile.id, eventId)));
}
