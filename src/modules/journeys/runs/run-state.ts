/**
 * The state conditions and `$state` values read (journeys.md §3): `/event` (the run's triggering
 * event, stored and redacted; `{}` for API entry), `/profile` (the Profile now), `/variables`
 * (trigger variables), `/waited/<stepId>` (the event that satisfied that wait) and, for wait and
 * exit filters, `/candidate`. Only the roots an expression actually reads are loaded: building
 * `/profile` costs several queries, and most filters never look at it.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../db/tables.js';
import { parsePointer } from '../../../lib/json-pointer.js';
import type { Condition, StateRoot } from '../definition/condition.js';
import { getProfile, profileRenderState } from '../../profiles/profiles.service.js';
import type { RunRenderState } from '../../emails/delivery.js';
import { selectEventData, selectMatchedWaits, selectRun, type RunRow } from './runs.store.js';

export type RunState = Record<string, unknown>;

/** The roots read by a condition (paths and `$state` values). */
export function conditionRoots(condition: Condition, into: Set<string> = new Set()): Set<string> {
  if ('all' in condition) for (const c of condition.all) conditionRoots(c, into);
  else if ('any' in condition) for (const c of condition.any) conditionRoots(c, into);
  else if ('not' in condition) conditionRoots(condition.not, into);
  else {
    addRoot(condition.path, into);
    const value = condition.value;
    if (isStateReference(value)) addRoot(value.$state, into);
  }
  return into;
}

export function isStateReference(value: unknown): value is { $state: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { $state?: unknown }).$state === 'string' && Object.keys(value).length === 1;
}

export function addRoot(pointer: string, into: Set<string>): Set<string> {
  const root = pointer.startsWith('/') ? parsePointer(pointer)[0] : undefined;
  if (root !== undefined) into.add(root);
  return into;
}

export interface StateDeps {
  secret: string;
}

export async function profileState(db: Kysely<Database>, deps: StateDeps, organizationId: string, profileId: string): Promise<RunState> {
  const profile = await getProfile(db, organizationId, profileId, deps.secret);
  return profile ? profileRenderState(profile) : {};
}

/** The run's state for `roots` (others are empty objects). */
export async function loadRunState(
  db: Kysely<Database>,
  deps: StateDeps,
  run: Pick<RunRow, 'id' | 'organization_id' | 'profile_id' | 'event_id' | 'variables'>,
  roots: ReadonlySet<string>,
): Promise<RunState> {
  const state: RunState = { event: {}, profile: {}, variables: JSON.parse(run.variables) as unknown, waited: {} };
  const eventIds: string[] = [];
  const waits = roots.has('waited') ? await selectMatchedWaits(db, run.id) : [];
  if (roots.has('event') && run.event_id !== null) eventIds.push(run.event_id);
  for (const w of waits) eventIds.push(w.eventId);
  const data = await selectEventData(db, run.organization_id, eventIds);
  if (roots.has('event') && run.event_id !== null) state.event = data.get(run.event_id) ?? {};
  if (waits.length > 0) {
    const waited: RunState = {};
    for (const w of waits) waited[w.stepId] = data.get(w.eventId) ?? {};
    state.waited = waited;
  }
  if (roots.has('profile')) state.profile = await profileState(db, deps, run.organization_id, run.profile_id);
  return state;
}

export const ALL_RUN_ROOTS: ReadonlySet<StateRoot> = new Set<StateRoot>(['event', 'profile', 'variables', 'waited']);

/**
 * What an email a run sent renders with besides `/data` and `/profile` (§6.3): those of the run's
 * event, variables and matched waits that `roots` names, read when the delivery worker builds the
 * message. Empty when the run is gone (deleted with its Profile).
 */
export async function runRenderState(
  db: Kysely<Database>,
  deps: StateDeps,
  organizationId: string,
  runId: string,
  roots: ReadonlySet<string>,
): Promise<RunRenderState> {
  const run = await selectRun(db, organizationId, runId);
  if (!run) return {};
  const state = await loadRunState(db, deps, run, roots);
  const out: RunRenderState = {};
  if (roots.has('event')) out.event = state.event as Record<string, unknown>;
  if (roots.has('variables')) out.variables = state.variables as Record<string, unknown>;
  if (roots.has('waited')) out.waited = state.waited as Record<string, unknown>;
  return out;
}
