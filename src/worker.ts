/**
 * The background worker: a JobRunner with every job handler of the product registered, plus the
 * recurring maintenance jobs: email delivery, journey steps and timers, purges.
 */
import type { Deps } from './deps.js';
import { purgeExpiredIdempotencyRecords } from './http/idempotency.js';
import { JobRunner } from './jobs/runner.js';
import { purgeFinishedJobs } from './jobs/queue.js';
import { createMailTransport } from './mail/create-transport.js';
import type { MailTransport } from './mail/transport.js';
import { createDeliveryHandler } from './modules/emails/delivery.js';
import { createEmailSend, DELIVER_JOB } from './modules/emails/emails.service.js';
import { runRenderState } from './modules/journeys/runs/run-state.js';
import { purgeEntryDecisions } from './modules/journeys/runs/runs.service.js';
import { STEP_JOB } from './modules/journeys/runs/lifecycle.js';
import { reapRunsOfFailedStepJobs, RUN_REAP_INTERVAL_MS, RUN_REAP_JOB } from './modules/journeys/runs/reaper.js';
import { createStepHandler } from './modules/journeys/runs/step-engine.js';

const HOUR_MS = 3600_000;
/** Completed and failed jobs are kept a week for inspection, then purged. */
const FINISHED_JOB_RETENTION_MS = 7 * 24 * HOUR_MS;

export interface Worker {
  runner: JobRunner;
  transport: MailTransport;
  start(): void;
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

export interface WorkerOptions {
  transport?: MailTransport;
  /** Replaces the emails service in journey steps (tests simulate crashes with it). */
  journeySendEmail?: typeof createEmailSend;
}

export function createWorker(deps: Deps, options: WorkerOptions = {}): Worker {
  const transport = options.transport ?? createMailTransport(deps.config, deps.db, deps.clock, deps.committer);
  const runner = new JobRunner({
    db: deps.db,
    clock: deps.clock,
    ids: deps.ids,
    logger: deps.logger,
    concurrency: deps.config.workerConcurrency,
    committer: deps.committer,
  });
  runner.register('idempotency.purge', async () => {
    const purged = await purgeExpiredIdempotencyRecords(deps.db.kysely, deps.clock.now());
    if (purged > 0) deps.logger.info({ purged }, 'purged expired idempotency records');
  });
  runner.register('jobs.purge', async () => {
    await purgeFinishedJobs(deps.db.kysely, deps.clock.now() - FINISHED_JOB_RETENTION_MS);
  });
  const handlerDeps = { db: deps.db, committer: deps.committer, clock: deps.clock, ids: deps.ids, logger: deps.logger, secret: deps.secret, publicUrl: deps.config.publicUrl };
  runner.register(
    DELIVER_JOB,
    createDeliveryHandler({
      ...handlerDeps,
      transport,
      maxAttempts: deps.config.emailMaxAttempts,
      runRenderState: (trx, organizationId, runId, roots) => runRenderState(trx, deps, organizationId, runId, roots),
    }),
  );
  runner.register(STEP_JOB, createStepHandler({ ...handlerDeps, sendEmail: options.journeySendEmail ?? createEmailSend }));
  runner.register('journeys.entry-decisions.purge', async () => {
    await purgeEntryDecisions(deps.db.kysely, deps.clock.now() - deps.config.entryDecisionRetentionDays * 24 * HOUR_MS);
  });
  runner.register(RUN_REAP_JOB, async () => {
    await reapRunsOfFailedStepJobs(deps.db.kysely, deps);
  });
  return {
    runner,
    transport,
    start() {
      runner.start();
      void Promise.all([
        runner.schedule('idempotency.purge', HOUR_MS),
        runner.schedule('jobs.purge', HOUR_MS),
        runner.schedule('journeys.entry-decisions.purge', HOUR_MS),
        runner.schedule(RUN_REAP_JOB, RUN_REAP_INTERVAL_MS),
      ]).catch((error: unknown) =>
        deps.logger.error({ err: error }, 'scheduling maintenance jobs failed'),
      );
    },
    async stop(stopOptions) {
      await runner.stop(stopOptions);
      await transport.close();
    },
  };
}
