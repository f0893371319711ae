/**
 * Runs whose step job failed outside the step handler (journeys.md §6.1, §6.2): a worker dies
 * holding the job on every attempt, the queue's lease recovery marks the job `failed`, and the
 * `journeys.runs.reap` maintenance job of the worker fails the run — once, with its live-run count
 * released once, even with two reapers at the same time — while a run that moved past the failed
 * job's step is left alone. The step handler's own failure path leaves nothing for the reaper.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Dialect } from '../../../src/db/connect.js';
import { claimDueJobs } from '../../../src/jobs/queue.js';
import { createEmailSend } from '../../../src/modules/emails/emails.service.js';
import { STEP_JOB, STEP_MAX_ATTEMPTS } from '../../../src/modules/journeys/runs/lifecycle.js';
import { reapRunsOfFailedStepJobs, RUN_REAP_INTERVAL_MS, RUN_REAP_JOB } from '../../../src/modules/journeys/runs/reaper.js';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, type TestApp, type TestOrg } from '../../harness/app.js';
import { getRun, HOUR, insertJourney, newWorker, orgWithSender, publishedTemplate, runsOf, trackOk } from './support.js';

const LEASE_MS = 1000;
const DEAD_WORKER = 'dead-worker';

forEachDialect('journey run reaper', (dialect: Dialect) => {
  /** A fresh database per test: the dead worker must not pick up another test's due jobs. */
  async function withApp(body: (t: TestApp, org: TestOrg) => Promise<void>): Promise<void> {
    const t = await createTestApp(dialect);
    try {
      await body(t, await orgWithSender(t));
    } finally {
      await t.close();
    }
  }

  /** A worker that claims the due step jobs and dies every time: each claim's lease expires. */
  async function crashOnEveryAttempt(t: TestApp, expected: number): Promise<void> {
    for (let attempt = 1; attempt <= STEP_MAX_ATTEMPTS; attempt++) {
      const claimed = await claimDueJobs(t.database.db, { workerId: DEAD_WORKER, limit: 10, leaseMs: LEASE_MS, now: t.clock.now(), types: [STEP_JOB] });
      assert.equal(claimed.length, expected);
      assert.ok(claimed.every((j) => j.attempts === attempt));
      t.clock.advance(LEASE_MS + 1);
    }
  }

  const activeRuns = async (t: TestApp, journeyId: string) =>
    Number((await t.database.db.kysely.selectFrom('journey_profile_state').select('active_runs').where('journey_id', '=', journeyId).executeTakeFirstOrThrow()).active_runs);

  const jobOfStep = (t: TestApp, runId: string, stepId: string) =>
    t.database.db.kysely.selectFrom('jobs').select(['status', 'attempts', 'last_error']).where('unique_key', '=', `journey-step:${runId}:${stepId}`).executeTakeFirstOrThrow();

  /** Two runs of one Profile: `stuck`, whose first step job failed by lease expiry, and `live`, waiting in a delay. */
  async function stuckAndLiveRun(t: TestApp, org: TestOrg) {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'reap.test' },
      start: 'd',
      steps: { d: { type: 'delay', duration: 'P1D', next: 'done' }, done: { type: 'exit' } },
    });
    await trackOk(t, org, 'reap.test', 'reap@example.com');
    const stuck = (await runsOf(t, org, journey.id))[0]!;
    await crashOnEveryAttempt(t, 1);
    // The next claim (the real worker's) recovers the expired lease: no attempt left → failed.
    const worker = newWorker(t);
    await worker.runner.runDueJobsOnce();
    const job = await jobOfStep(t, stuck.runId, 'd');
    assert.equal(job.status, 'failed');
    assert.equal(job.attempts, STEP_MAX_ATTEMPTS);
    assert.match(String(job.last_error), /lease expired while held by dead-worker/);
    assert.equal((await getRun(t, org, stuck.runId)).status, 'queued', 'the queue alone leaves the run live');

    await trackOk(t, org, 'reap.test', 'reap@example.com');
    await worker.runner.runDueJobsOnce();
    const live = (await runsOf(t, org, journey.id)).find((r) => r.runId !== stuck.runId)!;
    assert.equal((await getRun(t, org, live.runId)).status, 'running');
    assert.equal(await activeRuns(t, journey.id), 2);
    return { journey, stuck, live, worker };
  }

  test('a step job failed by lease expiry after its last attempt: the worker\'s reap job fails the run, once', async () => {
    await withApp(async (t, org) => {
      const { journey, stuck, live, worker } = await stuckAndLiveRun(t, org);
      // The worker schedules the reap job at start(); here the test does it and moves the clock.
      await worker.runner.schedule(RUN_REAP_JOB, RUN_REAP_INTERVAL_MS);
      t.clock.advance(RUN_REAP_INTERVAL_MS);
      await worker.runner.runDueJobsOnce();

      const failed = await getRun(t, org, stuck.runId);
      assert.equal(failed.status, 'failed');
      assert.match(String(failed.error), /^step d: its job failed after its last attempt \(lease expired while held by dead-worker\)$/);
      assert.ok(failed.completedAt);
      assert.equal(failed.currentStepId, null);
      assert.deepEqual(failed.steps.map((s) => [s.stepId, s.type, s.status, s.reason]), [['d', 'delay', 'failed', 'internal_error']]);
      assert.equal(await activeRuns(t, journey.id), 1, 'the failed run released its live-run count');
      assert.equal((await getRun(t, org, live.runId)).status, 'running', 'the other run is untouched');

      // Again at the next interval: nothing changes (idempotent).
      t.clock.advance(RUN_REAP_INTERVAL_MS);
      await worker.runner.runDueJobsOnce();
      assert.deepEqual(await getRun(t, org, stuck.runId), failed);
      assert.equal(await activeRuns(t, journey.id), 1);
      const reapJobs = await t.database.db.kysely.selectFrom('jobs').select('status').where('type', '=', RUN_REAP_JOB).where('status', '=', 'completed').execute();
      assert.equal(reapJobs.length, 2);

      // The live run still finishes normally.
      t.clock.advance(24 * HOUR);
      await worker.runner.runDueJobsOnce();
      assert.equal((await getRun(t, org, live.runId)).status, 'completed');
      assert.equal(await activeRuns(t, journey.id), 0);
    });
  });

  test('two reapers at once fail the run once and release its count once', async () => {
    await withApp(async (t, org) => {
      const { journey, stuck } = await stuckAndLiveRun(t, org);
      const deps = { clock: t.clock, ids: t.deps.ids, logger: t.deps.logger };
      const reaped = await Promise.all([reapRunsOfFailedStepJobs(t.database.db.kysely, deps), reapRunsOfFailedStepJobs(t.database.db.kysely, deps)]);
      assert.equal(reaped[0]! + reaped[1]!, 1);
      const run = await getRun(t, org, stuck.runId);
      assert.equal(run.status, 'failed');
      assert.equal(run.steps.length, 1);
      assert.equal(await activeRuns(t, journey.id), 1);
    });
  });

  test('a failed job of a step the run has already left fails nothing', async () => {
    await withApp(async (t, org) => {
      const journey = await insertJourney(t, org.id, {
        entry: { type: 'event', event: 'wait.test' },
        start: 'w',
        steps: { w: { type: 'wait_for_event', event: 'paid', timeout: 'PT1H', onEvent: 'done', onTimeout: 'done' }, done: { type: 'exit' } },
      });
      await trackOk(t, org, 'wait.test', 'left@example.com');
      const worker = newWorker(t);
      await worker.runner.runDueJobsOnce();
      const run = (await runsOf(t, org, journey.id))[0]!;
      // The wait's re-check timer falls due and dies with its worker on every attempt.
      t.clock.advance(5_000);
      await crashOnEveryAttempt(t, 1);
      // An event settles the wait meanwhile: the run moves on to `done` (its job not yet run).
      await trackOk(t, org, 'paid', 'left@example.com');
      // Lease recovery only (no job type matches the claim): the re-check job ends failed.
      await claimDueJobs(t.database.db, { workerId: 'recovery-only', limit: 1, leaseMs: LEASE_MS, now: t.clock.now(), types: ['no.such.type'] });
      const recheck = await t.database.db.kysely.selectFrom('jobs').select('status').where('unique_key', '=', `journey-recheck:${run.runId}:w`).executeTakeFirstOrThrow();
      assert.equal(recheck.status, 'failed');

      assert.equal(await reapRunsOfFailedStepJobs(t.database.db.kysely, { clock: t.clock, ids: t.deps.ids, logger: t.deps.logger }), 0);
      let current = await getRun(t, org, run.runId);
      assert.equal(current.status, 'running');
      assert.equal(current.currentStepId, 'done');
      await worker.runner.runDueJobsOnce();
      current = await getRun(t, org, run.runId);
      assert.equal(current.status, 'completed');
      assert.deepEqual(current.steps.map((s) => [s.stepId, s.status, s.reason]), [['w', 'completed', 'event_received'], ['done', 'completed', null]]);
    });
  });

  test('the step handler\'s own failure path: run failed, its job completed, nothing left to reap', async () => {
    await withApp(async (t, org) => {
      const templateId = await publishedTemplate(t, org);
      const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'boom.test' }, start: 'boom', steps: { boom: { type: 'send_email', templateId } } });
      const failing: typeof createEmailSend = async () => {
        throw new Error('smtp config exploded');
      };
      const worker = newWorker(t, { journeySendEmail: failing });
      await trackOk(t, org, 'boom.test', 'boom@example.com');
      for (let i = 0; i < STEP_MAX_ATTEMPTS + 2; i++) {
        await worker.runner.runDueJobsOnce();
        t.clock.advance(2 * HOUR);
      }
      const run = (await runsOf(t, org, journey.id))[0]!;
      const failed = await getRun(t, org, run.runId);
      assert.equal(failed.status, 'failed');
      assert.match(String(failed.error), /^step boom: smtp config exploded/);
      assert.equal((await jobOfStep(t, run.runId, 'boom')).status, 'completed');
      assert.equal(await reapRunsOfFailedStepJobs(t.database.db.kysely, { clock: t.clock, ids: t.deps.ids, logger: t.deps.logger }), 0);
      assert.deepEqual(await getRun(t, org, run.runId), failed);
      assert.equal(await activeRuns(t, journey.id), 0);
    });
  });
});
