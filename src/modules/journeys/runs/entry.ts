/**
 * Entry decisions (journeys.md §5) shared by event entry and API triggers: eligibility, then the
 * enrollment — a `queued` JourneyRun pinned to the version and the job of its first step.
 *
 * Policies hold under concurrency because every decision for one (journey, Profile) first
 * upserts that pair's `journey_profile_state` row, which on PostgreSQL locks it until commit (on
 * SQLite the single writer serialises everything anyway); the row's counters then say how many
 * runs were ever started and how many are live. Entry keys are claimed with
 * `INSERT … ON CONFLICT DO NOTHING`, so a duplicate is an answer, never a unique-violation error
 * that would abort the caller's events.track transaction.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../db/tables.js';
import { eligibilityOf, entryKeyText, type JourneyDefinition } from '../definition/definition.js';
import { enqueueStep, type JobDeps } from './lifecycle.js';
import { claimEntryKey, countRunStarted, entryKeyExists, insertEntryDecision, insertRun, lockProfileState } from './runs.store.js';
import type { LoadedVersion } from './versions.js';

export const ENTRY_SKIP_REASONS = ['filter_false', 'already_entered', 'active_run_exists', 'entry_key_missing', 'entry_key_duplicate', 'max_active_runs'] as const;
export type EntrySkipReason = (typeof ENTRY_SKIP_REASONS)[number];
export type EligibilityRule = Exclude<EntrySkipReason, 'filter_false'>;

export type RunEntry = { type: 'event'; event: string; eventId: string } | { type: 'api' };

export interface EntryRequest {
  organizationId: string;
  journeyId: string;
  version: LoadedVersion;
  profileId: string;
  entry: RunEntry;
  /** `/event` data (event entry) or the trigger variables (API entry): where the entry key is read. */
  entryData: Record<string, unknown>;
  variables: Record<string, unknown>;
}

export type Eligibility = { eligible: true; entryKey: string | null } | { eligible: false; rule: EligibilityRule };

/**
 * The eligibility decision for one (journey, Profile), made while holding that pair's state row.
 * When eligible with an entry key, the key is already claimed for `runId`.
 */
export async function decideEligibility(db: Kysely<Database>, deps: JobDeps, request: EntryRequest, runId: string): Promise<Eligibility> {
  const definition: JourneyDefinition = request.version.definition;
  const eligibility = eligibilityOf(definition);
  let entryKey: string | null = null;
  if (eligibility.reEntry === 'once_per_key') {
    const key = entryKeyText(definition, request.entryData);
    if (!key.ok) return { eligible: false, rule: 'entry_key_missing' };
    entryKey = key.key;
  }
  if (eligibility.reEntry === 'always' && eligibility.maxActiveRunsPerProfile === undefined) return { eligible: true, entryKey };

  const state = await lockProfileState(db, { journeyId: request.journeyId, profileId: request.profileId, organizationId: request.organizationId, now: deps.clock.now() });
  if (eligibility.reEntry === 'once' && state.runs_started > 0) return { eligible: false, rule: 'already_entered' };
  if (eligibility.reEntry === 'after_exit' && state.active_runs > 0) return { eligible: false, rule: 'active_run_exists' };
  const overLimit = eligibility.maxActiveRunsPerProfile !== undefined && state.active_runs >= eligibility.maxActiveRunsPerProfile;
  if (entryKey !== null) {
    // The reEntry rule is checked before the limit: a duplicate key is reported as such.
    if (overLimit) return { eligible: false, rule: (await entryKeyExists(db, request.journeyId, request.profileId, entryKey)) ? 'entry_key_duplicate' : 'max_active_runs' };
    if (!(await claimEntryKey(db, { journeyId: request.journeyId, profileId: request.profileId, key: entryKey, runId }))) return { eligible: false, rule: 'entry_key_duplicate' };
  } else if (overLimit) {
    return { eligible: false, rule: 'max_active_runs' };
  }
  return { eligible: true, entryKey };
}

/** Creates the `queued` run and its first step job. */
export async function enrollRun(db: Kysely<Database>, deps: JobDeps, request: EntryRequest, runId: string, entryKey: string | null): Promise<void> {
  const now = deps.clock.now();
  const run = {
    id: runId,
    organization_id: request.organizationId,
    journey_id: request.journeyId,
    version_id: request.version.id,
    profile_id: request.profileId,
    status: 'queued' as const,
    entry: JSON.stringify(request.entry),
    event_id: request.entry.type === 'event' ? request.entry.eventId : null,
    variables: JSON.stringify(request.variables),
    entry_key: entryKey,
    // The step whose job is pending: lets an exit cancel it before it ever runs.
    current_step_id: request.version.definition.start,
    exit_reason: null,
    exit_event_id: null,
    error: null,
    created_at: now,
    started_at: null,
    finished_at: null,
    updated_at: now,
  };
  await insertRun(db, run);
  await countRunStarted(db, { journeyId: request.journeyId, profileId: request.profileId, organizationId: request.organizationId, now });
  await enqueueStep(db, deps, run, request.version.definition.start);
}

export async function recordEntryDecision(
  db: Kysely<Database>,
  deps: JobDeps,
  request: Pick<EntryRequest, 'organizationId' | 'journeyId' | 'version' | 'profileId' | 'entry'>,
  decision: { outcome: 'enrolled'; runId: string } | { outcome: 'skipped'; reason: EntrySkipReason },
): Promise<void> {
  await insertEntryDecision(db, {
    id: deps.ids(),
    organization_id: request.organizationId,
    journey_id: request.journeyId,
    version_id: request.version.id,
    profile_id: request.profileId,
    event_id: request.entry.type === 'event' ? request.entry.eventId : null,
    outcome: decision.outcome,
    reason: decision.outcome === 'skipped' ? decision.reason : null,
    run_id: decision.outcome === 'enrolled' ? decision.runId : null,
    decided_at: deps.clock.now(),
  });
}
