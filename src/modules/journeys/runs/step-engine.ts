/**
 * The step job (journeys.md §6.2): durable, at-most-once step execution.
 *
 * One job per step visit (`{runId, stepId}`, ids only), plus timer jobs of the same shape for
 * waiting steps. A job runs in one transaction that first completes the job, then locks the run,
 * returns if the run finished or the step already ended, executes the step, writes its row and
 * queues what comes next — so a crash anywhere rolls everything back and the retried job finds
 * the same state. The step row's `(run_id, step_id)` uniqueness, the acyclic graph and the
 * per-step job keys make each step run at most once per run.
 *
 * Consecutive instant steps (send_email, branch, update_profile, exit, a delay already past)
 * share the transaction, each with its own row — on the first attempt only: a retry executes
 * just its own step and queues the next, so after five failed attempts the step that failed is
 * the one recorded as `failed` (and the run `failed`).
 *
 * Paused journeys: a job that falls due while its journey is Paused is held — completed and
 * queued again (same payload) HOLD_MS later under a `journey-held:<journeyId>:…` key, until the
 * journey is resumed; resume makes those jobs due at once (`releaseHeldSteps`), and the hold
 * re-check covers a resume by a process that raced with a hold. Archived journeys: the run is
 * exited (`journey_archived`).
 */
import type { Kysely } from 'kysely';
import type { GroupCommitter } from '../../../db/group-commit.js';
import type { Database } from '../../../db/tables.js';
import { enqueueJob, JobLeaseLostError, type ClaimedJob } from '../../../jobs/queue.js';
import { PermanentJobError, type JobContext, type JobHandler } from '../../../jobs/runner.js';
import type { Logger } from '../../../logger.js';
import { enqueueStep, enqueueTimer, exitRun, finishRun, heldJobKey, HOLD_MS, STEP_JOB, STEP_MAX_ATTEMPTS } from './lifecycle.js';
import { cancelWaits, failStep, finishWaitingStep, insertStep, lockRun, selectJourneyStatus, selectStep, updateRun, type RunRow } from './runs.store.js';
import { enterStep, resumeWaitingStep, type StepDeps, type StepResult } from './steps.js';
import { loadVersion } from './versions.js';

const MAX_ERROR_LENGTH = 500;

export interface StepEngineDeps extends StepDeps {
  /** Step transactions of concurrent jobs share a commit (a timer burst is thousands at once). */
  committer: GroupCommitter;
  logger: Pick<Logger, 'error' | 'warn'>;
}

/** The handler of `journey.step` jobs, for the worker to register. */
export function createStepHandler(deps: StepEngineDeps): JobHandler {
  return async (job: ClaimedJob, ctx: JobContext) => {
    const { runId, stepId } = payloadOf(job);
    // Where the transaction was when it threw: the step to blame once attempts are exhausted.
    const progress = { stepId };
    try {
      await deps.committer.run(async (trx) => {
        await ctx.completeInTransaction(trx);
        await advanceRun(trx, deps, { runId, stepId, dueAt: job.runAt, chain: job.attempts === 1 && job.maxAttempts > 1, progress });
      });
    } catch (error) {
      if (error instanceof JobLeaseLostError || job.attempts < job.maxAttempts) throw error;
      deps.logger.error({ err: error, jobId: job.id, runId, stepId: progress.stepId }, 'journey step failed after its last attempt; the run fails');
      await deps.committer.run(async (trx) => {
        await ctx.completeInTransaction(trx);
        await failRunAtStep(trx, deps, runId, progress.stepId, error);
      });
    }
  };
}

function payloadOf(job: ClaimedJob): { runId: string; stepId: string } {
  const { runId, stepId } = job.payload as { runId?: unknown; stepId?: unknown };
  if (typeof runId !== 'string' || typeof stepId !== 'string') throw new PermanentJobError(`job ${job.id}: payload is not {runId, stepId}`);
  return { runId, stepId };
}

export interface AdvanceOptions {
  runId: string;
  stepId: string;
  /** When the job fell due: the entry time of its step (events since then count for a wait). */
  dueAt: number;
  /** Continue with the following instant steps in this transaction. */
  chain: boolean;
  progress: { stepId: string };
}

/** Runs the job's step (and, chaining, the instant steps after it) inside `trx`. */
export async function advanceRun(trx: Kysely<Database>, deps: StepDeps, options: AdvanceOptions): Promise<void> {
  const run = await lockRun(trx, options.runId);
  // Deleted with its Profile, or already finished: nothing left to do.
  if (!run || (run.status !== 'queued' && run.status !== 'running')) return;
  const journey = await selectJourneyStatus(trx, run.journey_id);
  if (!journey) return;
  if (journey.status === 'Archived') {
    await exitRun(trx, deps, run.id, 'journey_archived');
    return;
  }
  if (journey.status === 'Paused') {
    const now = deps.clock.now();
    await enqueueJob(trx, deps, { type: STEP_JOB, organizationId: run.organization_id, payload: { runId: run.id, stepId: options.stepId }, runAt: now + HOLD_MS, uniqueKey: heldJobKey(run.journey_id, run.id, options.stepId, now), maxAttempts: STEP_MAX_ATTEMPTS });
    return;
  }
  const { definition } = await loadVersion(trx, run.version_id);
  let stepId: string | null = options.stepId;
  let enteredAt = Math.min(options.dueAt, deps.clock.now());
  let first = true;
  while (stepId !== null) {
    options.progress.stepId = stepId;
    const step = definition.steps[stepId];
    if (step === undefined) throw new Error(`run ${run.id}: version ${run.version_id} has no step ${stepId}`);
    const now = deps.clock.now();
    let result: StepResult;
    const existing = await selectStep(trx, run.id, stepId);
    if (existing !== undefined) {
      // Only the job's own step can exist already: a timer of a waiting step, or a duplicate job.
      if (!first || existing.status !== 'waiting') return;
      const resumed = await resumeWaitingStep(trx, deps, run, existing, step);
      if (resumed === null) return;
      await finishWaitingStep(trx, run.id, stepId, { status: resumed.status, reason: resumed.reason, outcome: jsonOrNull(resumed.outcome), completed_at: now });
      result = resumed;
    } else {
      if (run.status === 'queued') {
        run.status = 'running';
        await updateRun(trx, run.id, { status: 'running', started_at: now, updated_at: now });
      }
      result = await enterStep(trx, deps, run, stepId, step, enteredAt);
      await insertStep(trx, {
        id: deps.ids(),
        organization_id: run.organization_id,
        run_id: run.id,
        step_id: stepId,
        type: step.type,
        status: result.status,
        reason: result.reason,
        outcome: jsonOrNull(result.outcome),
        due_at: result.status === 'waiting' ? result.dueAt : null,
        entered_at: enteredAt,
        completed_at: result.status === 'waiting' ? null : now,
      });
    }
    if (result.status === 'waiting') {
      for (const timer of result.timers) await enqueueTimer(trx, deps, run, stepId, timer.runAt, timer.kind);
      await updateRun(trx, run.id, { current_step_id: stepId, updated_at: now });
      return;
    }
    if (result.next === null) {
      await finishRun(trx, deps, run, 'completed');
      return;
    }
    if (!options.chain) {
      await updateRun(trx, run.id, { current_step_id: result.next, updated_at: now });
      await enqueueStep(trx, deps, run, result.next);
      return;
    }
    stepId = result.next;
    enteredAt = now;
    first = false;
  }
}

/**
 * The last attempt failed: the step is `failed` (`internal_error`) and the run `failed` with the
 * error. Also used by the reaper (./reaper.ts) for step jobs that failed outside the handler.
 */
export async function failRunAtStep(trx: Kysely<Database>, deps: Pick<StepDeps, 'clock' | 'ids'>, runId: string, stepId: string, error: unknown): Promise<void> {
  const run: RunRow | undefined = await lockRun(trx, runId);
  if (!run || (run.status !== 'queued' && run.status !== 'running')) return;
  const now = deps.clock.now();
  const { definition } = await loadVersion(trx, run.version_id);
  const existing = await selectStep(trx, run.id, stepId);
  if (existing === undefined) {
    await insertStep(trx, {
      id: deps.ids(),
      organization_id: run.organization_id,
      run_id: run.id,
      step_id: stepId,
      type: definition.steps[stepId]?.type ?? 'unknown',
      status: 'failed',
      reason: 'internal_error',
      outcome: null,
      due_at: null,
      entered_at: now,
      completed_at: now,
    });
  } else if (existing.status === 'waiting' || existing.status === 'entered') {
    await failStep(trx, existing.id, now);
  }
  await cancelWaits(trx, run.id);
  const message = error instanceof Error ? error.message : String(error);
  await finishRun(trx, deps, run, 'failed', `step ${stepId}: ${message}`.slice(0, MAX_ERROR_LENGTH));
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
