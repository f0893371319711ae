/**
 * Runs as the API sees them (journeys.md §7, §7.1, §8): the API trigger, run inspection and
 * lists, manual exit, entry decisions and stats. The engine itself lives in ./entry.ts,
 * ./step-engine.ts and ./lifecycle.ts.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, JourneyRunStatus, JourneyStatus } from '../../../db/tables.js';
import { err, ok, type Result } from '../../../lib/result.js';
import { applyProperties, linkAnonymousId, resolveProfile, type AnonymousIdLink, type IdentityInput, type ResolveError } from '../../profiles/profiles.service.js';
import { selectJourney, selectJourneyByKey } from '../journeys.store.js';
import { decideEligibility, enrollRun, recordEntryDecision, type EligibilityRule, type EntryRequest } from './entry.js';
import { exitRun, type JobDeps } from './lifecycle.js';
import { selectSteps, type RunRow } from './runs.store.js';
import { toRunStepView, toRunView, type EntryDecisionView, type RunView, type RunWithJourney } from './runs.view.js';
import { loadVersion } from './versions.js';

export type RunError =
  | { type: 'journey_not_found' }
  | { type: 'invalid_state'; status: JourneyStatus }
  | { type: 'journey_not_api_entry' }
  | { type: 'not_eligible'; rule: EligibilityRule }
  | { type: 'run_not_found' }
  | { type: 'run_finished'; status: JourneyRunStatus };

function runsWithJourney(db: Kysely<Database>) {
  return db
    .selectFrom('journey_runs as r')
    .innerJoin('journeys as j', 'j.id', 'r.journey_id')
    .innerJoin('journey_versions as v', 'v.id', 'r.version_id')
    .selectAll('r')
    .select(['j.key as journey_key', 'v.version as version_number']);
}

function selectRunWithJourney(db: Kysely<Database>, organizationId: string, runId: string): Promise<RunWithJourney | undefined> {
  return runsWithJourney(db).where('r.organization_id', '=', organizationId).where('r.id', '=', runId.toLowerCase()).executeTakeFirst();
}

/** The Run with its steps, or null. */
export async function getRun(db: Kysely<Database>, organizationId: string, runId: string): Promise<RunView | null> {
  const row = await selectRunWithJourney(db, organizationId, runId);
  if (!row) return null;
  const { definition } = await loadVersion(db, row.version_id);
  const steps = await selectSteps(db, row.id);
  return { ...toRunView(row), steps: steps.map((s) => toRunStepView(s, definition)) };
}

export interface RunFilter {
  journeyId?: string;
  profileId?: string;
  status?: JourneyRunStatus;
}

/** Newest first; `beforeId` is the last id of the previous page. */
export async function listRuns(db: Kysely<Database>, organizationId: string, filter: RunFilter, page: { limit: number; beforeId: string | null }): Promise<RunView[]> {
  let q = runsWithJourney(db).where('r.organization_id', '=', organizationId);
  if (filter.journeyId !== undefined) q = q.where('r.journey_id', '=', filter.journeyId.toLowerCase());
  if (filter.profileId !== undefined) q = q.where('r.profile_id', '=', filter.profileId.toLowerCase());
  if (filter.status !== undefined) q = q.where('r.status', '=', filter.status);
  if (page.beforeId !== null) q = q.where('r.id', '<', page.beforeId);
  const rows = await q.orderBy('r.id', 'desc').limit(page.limit).execute();
  return rows.map(toRunView);
}

/** Manual exit (§6.5): 409 on a finished run. */
export async function exitRunManually(db: Kysely<Database>, deps: JobDeps, organizationId: string, runId: string): Promise<Result<RunView, RunError>> {
  const row = await selectRunWithJourney(db, organizationId, runId);
  if (!row) return err({ type: 'run_not_found' });
  const exited: RunRow | null = await exitRun(db, deps, row.id, 'manual');
  if (!exited) {
    const current = await selectRunWithJourney(db, organizationId, row.id);
    return err({ type: 'run_finished', status: current?.status ?? row.status });
  }
  return ok((await getRun(db, organizationId, row.id))!);
}

export async function journeyExists(db: Kysely<Database>, organizationId: string, journeyId: string): Promise<string | null> {
  return (await selectJourney(db, organizationId, journeyId.toLowerCase()))?.id ?? null;
}

export async function listEntryDecisions(
  db: Kysely<Database>,
  organizationId: string,
  journeyId: string,
  filter: { profileId?: string; outcome?: 'enrolled' | 'skipped' },
  page: { limit: number; beforeId: string | null },
): Promise<EntryDecisionView[]> {
  let q = db.selectFrom('journey_entry_decisions').selectAll().where('organization_id', '=', organizationId).where('journey_id', '=', journeyId);
  if (filter.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId.toLowerCase());
  if (filter.outcome !== undefined) q = q.where('outcome', '=', filter.outcome);
  if (page.beforeId !== null) q = q.where('id', '<', page.beforeId);
  const rows = await q.orderBy('id', 'desc').limit(page.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    journeyId: r.journey_id,
    versionId: r.version_id,
    profileId: r.profile_id,
    eventId: r.event_id,
    outcome: r.outcome,
    reason: r.reason,
    runId: r.run_id,
    decidedAt: new Date(r.decided_at).toISOString(),
  }));
}

const RUN_STATUSES: readonly JourneyRunStatus[] = ['queued', 'running', 'completed', 'failed', 'exited'];
const STEP_STATUSES = ['entered', 'waiting', 'completed', 'skipped', 'failed'] as const;
type StepCounts = Record<(typeof STEP_STATUSES)[number], number>;

export interface JourneyStats {
  runs: Record<JourneyRunStatus, number>;
  entries: { enrolled: number; skipped: number };
  steps: Record<string, StepCounts>;
}

/** Stats (§8) over all versions, or one. `entered` counts the runs that reached the step. */
export async function journeyStats(db: Kysely<Database>, organizationId: string, journeyId: string, versionId: string | null): Promise<JourneyStats> {
  const version = versionId?.toLowerCase() ?? null;
  let runsQ = db
    .selectFrom('journey_runs')
    .select(['status', (eb) => eb.fn.countAll().as('n')])
    .where('organization_id', '=', organizationId)
    .where('journey_id', '=', journeyId);
  if (version !== null) runsQ = runsQ.where('version_id', '=', version);
  let entriesQ = db
    .selectFrom('journey_entry_decisions')
    .select(['outcome', (eb) => eb.fn.countAll().as('n')])
    .where('organization_id', '=', organizationId)
    .where('journey_id', '=', journeyId);
  if (version !== null) entriesQ = entriesQ.where('version_id', '=', version);
  let stepsQ = db
    .selectFrom('journey_run_steps as s')
    .innerJoin('journey_runs as r', 'r.id', 's.run_id')
    .select(['s.step_id', 's.status', (eb) => eb.fn.countAll().as('n')])
    .where('r.organization_id', '=', organizationId)
    .where('r.journey_id', '=', journeyId);
  if (version !== null) stepsQ = stepsQ.where('r.version_id', '=', version);

  const runs = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<JourneyRunStatus, number>;
  for (const row of await runsQ.groupBy('status').execute()) runs[row.status] = Number(row.n);
  const entries = { enrolled: 0, skipped: 0 };
  for (const row of await entriesQ.groupBy('outcome').execute()) entries[row.outcome] = Number(row.n);
  // Step ids are user-chosen (`constructor` is a valid one): no prototype to collide with.
  const steps: Record<string, StepCounts> = Object.create(null) as Record<string, StepCounts>;
  for (const row of await stepsQ.groupBy(['s.step_id', 's.status']).execute()) {
    const counts = (steps[row.step_id] ??= { entered: 0, waiting: 0, completed: 0, skipped: 0, failed: 0 });
    const n = Number(row.n);
    counts.entered += n;
    if (row.status !== 'entered' && (STEP_STATUSES as readonly string[]).includes(row.status)) counts[row.status as keyof StepCounts] += n;
  }
  return { runs, entries, steps };
}

export interface TriggerInput {
  identity: IdentityInput;
  /** Linked to the resolved Profile; never finds or creates one. */
  anonymousId?: string;
  properties?: Record<string, unknown>;
  variables: Record<string, unknown>;
  receivedAt: number;
}

export interface TriggerResult {
  runId: string;
  status: 'queued';
  profileId: string;
  /** What linking `anonymousId` did; null without one. */
  anonymousIdLink: AnonymousIdLink | null;
}

/**
 * `POST /api/v1/journeys/{journeyKey}/trigger` (§7.1): resolve the Profile as events.track does,
 * apply its properties, decide eligibility, link the anonymousId and enroll. Every refusal writes
 * nothing: the Profile work and the entry checks run under a savepoint that a refusal rolls back
 * (the caller's transaction still stores the idempotency record of the refusal); the link is
 * made only once the run is certain, in the same transaction as the run.
 */
export async function triggerJourney(
  db: Kysely<Database>,
  deps: JobDeps,
  organizationId: string,
  journeyKey: string,
  input: TriggerInput,
): Promise<Result<TriggerResult, RunError | ResolveError>> {
  const journey = await selectJourneyByKey(db, organizationId, journeyKey);
  if (!journey) return err({ type: 'journey_not_found' });
  if (journey.status !== 'Active') return err({ type: 'invalid_state', status: journey.status });
  const version = await loadVersion(db, journey.version_id);
  if (version.definition.entry.type !== 'api') return err({ type: 'journey_not_api_entry' });

  await sql`savepoint journey_trigger`.execute(db);
  const refuse = async <E>(error: E): Promise<Result<never, E>> => {
    await sql`rollback to savepoint journey_trigger`.execute(db);
    await sql`release savepoint journey_trigger`.execute(db);
    return err(error);
  };
  const resolved = await resolveProfile(db, deps, organizationId, input.identity, 'api', input.properties?.phone);
  if (!resolved.ok) return refuse(resolved.error);
  const { profile, created } = resolved.value;
  if (input.properties !== undefined) {
    await applyProperties(db, deps, profile, { properties: input.properties, source: 'journeys.trigger', updatedAt: input.receivedAt, eventId: null }, created);
  }
  const request: EntryRequest = {
    organizationId,
    journeyId: journey.id,
    version,
    profileId: profile.id,
    entry: { type: 'api' },
    entryData: input.variables,
    variables: input.variables,
  };
  const runId = deps.ids();
  const eligibility = await decideEligibility(db, deps, request, runId);
  if (!eligibility.eligible) return refuse({ type: 'not_eligible' as const, rule: eligibility.rule });
  const anonymousIdLink = input.anonymousId === undefined ? null : await linkAnonymousId(db, deps, profile, input.anonymousId);
  await enrollRun(db, deps, request, runId, eligibility.entryKey);
  await recordEntryDecision(db, deps, request, { outcome: 'enrolled', runId });
  await sql`release savepoint journey_trigger`.execute(db);
  return ok({ runId, status: 'queued', profileId: profile.id, anonymousIdLink });
}

/** Deletes entry decisions older than the retention window (the periodic purge job). */
export async function purgeEntryDecisions(db: Kysely<Database>, olderThan: number): Promise<number> {
  const result = await db.deleteFrom('journey_entry_decisions').where('decided_at', '<', olderThan).executeTakeFirst();
  return Number(result.numDeletedRows);
}
