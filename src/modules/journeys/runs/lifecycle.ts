/**
 * How runs move and end (journeys.md §6.1, §6.5): the step jobs (payload ids only, a unique key
 * per step visit so a step is never queued twice), and the ways a run finishes — completed,
 * failed, exited — each of which also releases its place in the Profile's live-run count and
 * leaves no pending timer behind. Every function works inside the caller's transaction.
 */
import type { Kysely } from 'kysely';
import type { Database, JourneyRunStatus } from '../../../db/tables.js';
import { enqueueJob } from '../../../jobs/queue.js';
import type { Clock } from '../../../lib/clock.js';
import type { IdGenerator } from '../../../lib/ids.js';
import {
  cancelQueuedJobs,
  cancelWaits,
  countRunFinished,
  finishLiveRun,
  lockRun,
  selectJourneyStatus,
  selectLiveRunIdsOfJourney,
  skipOpenSteps,
  type RunRow,
} from './runs.store.js';
import type { JourneyRunControl } from '../journeys.service.js';

export const STEP_JOB = 'journey.step';
/** journeys.md §6.2: an unexpected error retries the step with backoff, 5 attempts in all. */
export const STEP_MAX_ATTEMPTS = 5;
/** A step job falling due while its journey is Paused is queued again this much later (see step-engine.ts). */
export const HOLD_MS = 60_000;

export type ExitReason = 'exit_event' | 'journey_archived' | 'manual';

export interface JobDeps {
  clock: Clock;
  ids: IdGenerator;
}

/** Unique keys of the jobs of one step visit: entering it, and its timer (delay / wait deadline or re-check). */
export const stepJobKey = (runId: string, stepId: string): string => `journey-step:${runId}:${stepId}`;
export const timerJobKey = (runId: string, stepId: string, kind: 'due' | 'recheck'): string => `journey-${kind}:${runId}:${stepId}`;
/** A step job held while its journey is Paused; keyed by journey first, so resume finds them by prefix. */
export const heldJobKey = (journeyId: string, runId: string, stepId: string, at: number): string => `journey-held:${journeyId}:${runId}:${stepId}:${at}`;

/** Makes every held step job of the journey due now (resume, §6.5: held jobs run on resume). */
export async function releaseHeldSteps(db: Kysely<Database>, deps: { clock: Clock }, journeyId: string): Promise<void> {
  const now = deps.clock.now();
  // A held job is due at most HOLD_MS after it was held, so only queued jobs due in the next
  // 2 × HOLD_MS are looked at (the margin covers a worker whose clock runs ahead of this one): a
  // bounded range of the due-order index, however many timers lie further ahead. Among them a
  // prefix match, not a key range: under a linguistic collation (PostgreSQL en_US…) punctuation
  // does not order as in ASCII.
  await db
    .updateTable('jobs')
    .set({ run_at: now, updated_at: now })
    .where('status', '=', 'queued')
    .where('run_at', '>', now)
    .where('run_at', '<=', now + 2 * HOLD_MS)
    .where('unique_key', 'like', `journey-held:${journeyId.toLowerCase()}:%`)
    .execute();
}

/** Queues the job that enters `stepId` of the run (due now unless `runAt`). */
export async function enqueueStep(db: Kysely<Database>, deps: JobDeps, run: Pick<RunRow, 'id' | 'organization_id'>, stepId: string): Promise<void> {
  await enqueueJob(db, deps, {
    type: STEP_JOB,
    organizationId: run.organization_id,
    payload: { runId: run.id, stepId },
    maxAttempts: STEP_MAX_ATTEMPTS,
    uniqueKey: stepJobKey(run.id, stepId),
  });
}

/** Queues a timer of a waiting step: the same job type and payload, found by the step row being `waiting`. */
export async function enqueueTimer(
  db: Kysely<Database>,
  deps: JobDeps,
  run: Pick<RunRow, 'id' | 'organization_id'>,
  stepId: string,
  runAt: number,
  kind: 'due' | 'recheck',
): Promise<void> {
  await enqueueJob(db, deps, {
    type: STEP_JOB,
    organizationId: run.organization_id,
    payload: { runId: run.id, stepId },
    runAt,
    maxAttempts: STEP_MAX_ATTEMPTS,
    uniqueKey: timerJobKey(run.id, stepId, kind),
  });
}

function jobKeysOf(runId: string, stepIds: Iterable<string>): string[] {
  const keys: string[] = [];
  for (const stepId of stepIds) keys.push(stepJobKey(runId, stepId), timerJobKey(runId, stepId, 'due'), timerJobKey(runId, stepId, 'recheck'));
  return keys;
}

/** Ends a live run as completed or failed; false when it had already finished. */
export async function finishRun(
  db: Kysely<Database>,
  deps: { clock: Clock },
  run: Pick<RunRow, 'id' | 'journey_id' | 'profile_id'>,
  status: Extract<JourneyRunStatus, 'completed' | 'failed'>,
  error: string | null = null,
): Promise<boolean> {
  const now = deps.clock.now();
  const finished = await finishLiveRun(db, run.id, { status, finished_at: now, updated_at: now, error });
  if (!finished) return false;
  await countRunFinished(db, run.journey_id, run.profile_id, now);
  return true;
}

/**
 * Exits a live run (journeys.md §6.5): status `exited` with the reason, its open step marked
 * `skipped` (`run_exited`), its wait cancelled, its pending jobs cancelled (jobs already claimed
 * find the run finished and do nothing). Sends already created are not recalled. Returns the
 * exited run, or null when the run does not exist or had already finished.
 */
export async function exitRun(
  db: Kysely<Database>,
  deps: { clock: Clock },
  runId: string,
  reason: ExitReason,
  exitEventId: string | null = null,
): Promise<RunRow | null> {
  const now = deps.clock.now();
  const live = await lockRun(db, runId);
  if (!live || (live.status !== 'queued' && live.status !== 'running')) return null;
  const exited = await finishLiveRun(db, runId, { status: 'exited', exit_reason: reason, exit_event_id: exitEventId, finished_at: now, updated_at: now });
  if (!exited) return null;
  const skipped = await skipOpenSteps(db, runId, now);
  await cancelWaits(db, runId);
  const steps = new Set(skipped);
  if (live.current_step_id !== null) steps.add(live.current_step_id);
  await cancelQueuedJobs(db, jobKeysOf(runId, steps), now);
  await countRunFinished(db, exited.journey_id, exited.profile_id, now);
  return exited;
}

/** The runs side of journey status changes, for the journeys service (routes and `journeys apply`). */
export function journeyRunControl(deps: { clock: Clock }): JourneyRunControl {
  return {
    exitActiveRuns: async (trx, journeyId, reason) => {
      await exitActiveRuns(trx, deps, journeyId, reason);
    },
    releaseHeldSteps: (trx, journeyId) => releaseHeldSteps(trx, deps, journeyId),
  };
}

/** Exits every queued or running run of the journey (archive: reason `journey_archived`). Returns how many. */
export async function exitActiveRuns(db: Kysely<Database>, deps: { clock: Clock }, journeyId: string, reason: ExitReason): Promise<number> {
  const journey = await selectJourneyStatus(db, journeyId);
  if (!journey) return 0;
  let exited = 0;
  for (const { id } of await selectLiveRunIdsOfJourney(db, journey.organization_id, journeyId)) {
    if (await exitRun(db, deps, id, reason)) exited++;
  }
  return exited;
}
