/**
 * The run reaper (journeys.md §6.1, §6.2): a recurring maintenance job that fails the runs whose
 * step job failed without the step handler being able to say so.
 *
 * The step handler fails the run itself when its last attempt throws. A step job can also end
 * `failed` outside the handler: its worker died or stalled on every attempt, and the job queue's
 * lease recovery marks it `failed` once no attempt is left (or recording the run's failure itself
 * failed). Nothing would move such a run again — no job is left for its current step — so it
 * would stay `running` forever. The reaper finds the failed step jobs, and for each whose run is
 * still live and still at that job's step, fails the step and the run the way the handler does
 * (`failRunAtStep`: step `failed`/`internal_error`, wait cancelled, run `failed` with the error,
 * its live-run count released).
 *
 * Safe to repeat and to run in two workers at once: each run is locked and re-checked in its own
 * transaction, and the run's failure is a conditional update on a live status, so a run is failed
 * (and its count released) once. A job whose step the run has left behind fails nothing.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../db/tables.js';
import type { Logger } from '../../../logger.js';
import { STEP_JOB, type JobDeps } from './lifecycle.js';
import { lockRun, selectFailedJobs, selectLiveRunSteps } from './runs.store.js';
import { failRunAtStep } from './step-engine.js';

export const RUN_REAP_JOB = 'journeys.runs.reap';
/** How often the worker looks for runs left behind by failed step jobs. */
export const RUN_REAP_INTERVAL_MS = 5 * 60_000;
const PAGE = 500;

export interface ReaperDeps extends JobDeps {
  logger: Pick<Logger, 'warn'>;
}

/** Why the run failed, as its `error` shows it (after `step <id>: `). */
export class StepJobFailedError extends Error {
  override readonly name = 'StepJobFailedError';
  constructor(jobError: string | null) {
    super(`its job failed after its last attempt (${jobError ?? 'no error recorded'})`);
  }
}

/** Fails every live run whose current step's job failed; returns how many runs it failed. */
export async function reapRunsOfFailedStepJobs(db: Kysely<Database>, deps: ReaperDeps): Promise<number> {
  let reaped = 0;
  let afterId: string | null = null;
  for (;;) {
    const jobs = await selectFailedJobs(db, STEP_JOB, afterId, PAGE);
    if (jobs.length === 0) return reaped;
    afterId = jobs.at(-1)!.id;
    const failed = jobs.flatMap((job) => {
      const payload = stepOf(job.payload);
      return payload === null ? [] : [{ jobId: job.id, error: job.last_error, ...payload }];
    });
    const live = new Map((await selectLiveRunSteps(db, [...new Set(failed.map((f) => f.runId))])).map((r) => [r.id, r.current_step_id]));
    for (const job of failed) {
      if (live.get(job.runId) !== job.stepId) continue;
      const done = await db.transaction().execute(async (trx) => {
        // Under the run's lock: still live and still at this step (an event may have moved it on).
        const run = await lockRun(trx, job.runId);
        if (!run || (run.status !== 'queued' && run.status !== 'running') || run.current_step_id !== job.stepId) return false;
        await failRunAtStep(trx, deps, run.id, job.stepId, new StepJobFailedError(job.error));
        return true;
      });
      if (done) {
        reaped++;
        deps.logger.warn({ runId: job.runId, stepId: job.stepId, jobId: job.jobId }, 'journey step job failed after its last attempt outside the step handler; the run fails');
      }
    }
    if (jobs.length < PAGE) return reaped;
  }
}

/** `{runId, stepId}` of a step job's payload; null for a malformed one (failed for that reason). */
function stepOf(payload: string): { runId: string; stepId: string } | null {
  try {
    const { runId, stepId } = JSON.parse(payload) as { runId?: unknown; stepId?: unknown };
    return typeof runId === 'string' && typeof stepId === 'string' ? { runId, stepId } : null;
  } catch {
    return null;
  }
}
