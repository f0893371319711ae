/**
 * The job runner against real SQLite and PostgreSQL: due-only runs under a FakeClock, retries,
 * unknown types, completion inside the handler's transaction, the poll loop, graceful stop,
 * lost leases and recurring jobs. Every test gets its own database.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { Db } from '../../src/db/connect.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { claimDueJobs, enqueueJob, type ClaimedJob } from '../../src/jobs/queue.js';
import { JobRunner, PermanentJobError, type JobRunnerOptions } from '../../src/jobs/runner.js';
import { createTestDatabase, forEachDialect, type TestDatabase } from '../harness/database.js';
import { CapturingLogger, connectSecond, deferred, eventually, jobRow, settledWithin } from './support.js';

const HOUR = 3_600_000;

forEachDialect('job runner', (dialect) => {
  let tdb: TestDatabase;
  let db: Db;
  let clock: FakeClock;
  let logger: CapturingLogger;
  const runners: JobRunner[] = [];
  const deps = () => ({ clock, ids: uuidV7 });
  const makeRunner = (options: Partial<JobRunnerOptions> = {}): JobRunner => {
    const runner = new JobRunner({ db, clock, ids: uuidV7, logger, pollIntervalMs: 10, ...options });
    runners.push(runner);
    return runner;
  };

  beforeEach(async () => {
    tdb = await createTestDatabase(dialect);
    db = tdb.db;
    clock = new FakeClock();
    logger = new CapturingLogger();
  });
  afterEach(async () => {
    for (const runner of runners.splice(0)) if (runner.running) await runner.stop({ timeoutMs: 1000 });
    await tdb.destroy();
  });

  test('runDueJobsOnce runs only the jobs due at the fake clock', async () => {
    const runner = makeRunner();
    const seen: string[] = [];
    runner.register('note', async (job) => {
      seen.push(String(job.payload.name));
    });
    const now = clock.now();
    const due = await enqueueJob(db.kysely, deps(), { type: 'note', payload: { name: 'due' } });
    const later = await enqueueJob(db.kysely, deps(), { type: 'note', payload: { name: 'later' }, runAt: now + HOUR });

    assert.equal(await runner.runDueJobsOnce(), 1);
    assert.deepEqual(seen, ['due']);
    assert.equal((await jobRow(db, due.id)).status, 'completed');
    assert.equal((await jobRow(db, later.id)).status, 'queued');
    assert.equal(await runner.runDueJobsOnce(), 0);

    clock.advance(HOUR);
    assert.equal(await runner.runDueJobsOnce(), 1);
    assert.deepEqual(seen, ['due', 'later']);
    assert.equal((await jobRow(db, later.id)).status, 'completed');
  });

  test('runDueJobsOnce also runs jobs that handlers enqueue for now, in batches of the concurrency', async () => {
    const runner = makeRunner({ concurrency: 2 });
    let active = 0;
    let maxActive = 0;
    runner.register('chain', async (job) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const n = Number(job.payload.n);
      if (n < 3) await enqueueJob(db.kysely, deps(), { type: 'chain', payload: { n: n + 1 } });
      active--;
    });
    for (let i = 0; i < 3; i++) await enqueueJob(db.kysely, deps(), { type: 'chain', payload: { n: 1 } });
    assert.equal(await runner.runDueJobsOnce(), 9);
    assert.ok(maxActive <= 2, `max ${maxActive} at once`);
  });

  test('a job enqueued in a rolled-back transaction never reaches its handler', async () => {
    const runner = makeRunner();
    let calls = 0;
    runner.register('journey.step', async () => {
      calls++;
    });
    await assert.rejects(
      db.kysely.transaction().execute(async (trx) => {
        await enqueueJob(trx, deps(), { type: 'journey.step', payload: {} });
        throw new Error('rollback');
      }),
    );
    clock.advance(HOUR);
    assert.equal(await runner.runDueJobsOnce(), 0);
    assert.equal(calls, 0);
  });

  test('a throwing handler is retried with backoff until max_attempts, then failed and logged', async () => {
    const runner = makeRunner();
    let calls = 0;
    runner.register('flaky', async () => {
      calls++;
      throw new Error(`smtp down ${calls}`);
    });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'flaky', payload: { email: 'person@example.com' }, maxAttempts: 3 });

    assert.equal(await runner.runDueJobsOnce(), 1);
    let row = await jobRow(db, id);
    assert.equal(row.status, 'queued');
    assert.equal(row.attempts, 1);
    assert.equal(row.last_error, 'Error: smtp down 1');
    assert.ok(row.run_at >= clock.now() + 800 && row.run_at <= clock.now() + 1200);
    assert.equal(await runner.runDueJobsOnce(), 0, 'not again before the backoff');

    clock.set(row.run_at);
    assert.equal(await runner.runDueJobsOnce(), 1);
    row = await jobRow(db, id);
    assert.equal(row.attempts, 2);
    clock.set(row.run_at);
    assert.equal(await runner.runDueJobsOnce(), 1);
    row = await jobRow(db, id);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 3);
    assert.equal(row.last_error, 'Error: smtp down 3');
    assert.equal(calls, 3);

    assert.equal(logger.at('warn').filter((e) => e.msg === 'job failed; will retry').length, 2);
    const [final] = logger.at('error');
    assert.equal(final?.msg, 'job failed permanently');
    assert.equal(final?.obj.jobId, id);
    assert.ok(!JSON.stringify(logger.entries.map((e) => ({ ...e.obj, err: undefined }))).includes('person@example.com'));
  });

  test('a PermanentJobError fails the job without retrying', async () => {
    const runner = makeRunner();
    runner.register('doomed', async () => {
      throw new PermanentJobError('profile erased');
    });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'doomed', payload: {} });
    await runner.runDueJobsOnce();
    const row = await jobRow(db, id);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 1);
    assert.equal(row.last_error, 'PermanentJobError: profile erased');
  });

  test('a job type without a handler fails with a message (retried, in case a newer process knows it)', async () => {
    const runner = makeRunner();
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'from.the.future', payload: {}, maxAttempts: 2 });
    await runner.runDueJobsOnce();
    let row = await jobRow(db, id);
    assert.equal(row.status, 'queued');
    assert.equal(row.last_error, 'Error: no handler registered for job type "from.the.future"');
    clock.set(row.run_at);
    await runner.runDueJobsOnce();
    row = await jobRow(db, id);
    assert.equal(row.status, 'failed');
    runner.register('x', async () => {});
    assert.throws(() => runner.register('x', async () => {}), /already registered/);
  });

  test('completing inside the handler transaction commits with its state change, or rolls back with it', async () => {
    const runner = makeRunner();
    let failAfterCommitPoint = true;
    runner.register('step', async (job, ctx) => {
      await db.kysely.transaction().execute(async (trx) => {
        await ctx.completeInTransaction(trx);
        await trx.insertInto('instance_settings').values({ key: `step:${job.id}:${job.attempts}`, value: 'done' }).execute();
        if (failAfterCommitPoint) throw new Error('crash before commit');
      });
    });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'step', payload: {} });

    await runner.runDueJobsOnce();
    let row = await jobRow(db, id);
    assert.equal(row.status, 'queued', 'the rolled-back completion leaves the job to retry');
    assert.equal(row.last_error, 'Error: crash before commit');
    assert.deepEqual(await db.kysely.selectFrom('instance_settings').select('key').execute(), []);

    failAfterCommitPoint = false;
    clock.set(row.run_at);
    await runner.runDueJobsOnce();
    row = await jobRow(db, id);
    assert.equal(row.status, 'completed');
    assert.equal(row.attempts, 2);
    assert.deepEqual(await db.kysely.selectFrom('instance_settings').select('key').execute(), [{ key: `step:${id}:2` }]);
    assert.deepEqual(logger.at('warn').filter((e) => /lease lost/.test(e.msg ?? '')), []);
  });

  test('the poll loop picks up jobs as they are enqueued, and claims again at once after a full batch', async () => {
    const runner = makeRunner({ concurrency: 3, pollIntervalMs: 60_000 });
    let active = 0;
    let maxActive = 0;
    const done: number[] = [];
    runner.register('work', async (job) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active--;
      done.push(Number(job.payload.i));
    });
    for (let i = 0; i < 10; i++) await enqueueJob(db.kysely, deps(), { type: 'work', payload: { i } });
    runner.start();
    // With a one-minute poll interval, finishing promptly proves the loop did not wait between batches.
    await eventually(() => done.length === 10, 5000);
    assert.ok(maxActive <= 3, `max ${maxActive} at once`);
    await runner.stop();

    const idle = makeRunner({ pollIntervalMs: 10 });
    let ran = false;
    idle.register('late', async () => {
      ran = true;
    });
    idle.start();
    await new Promise((resolve) => setTimeout(resolve, 30));
    await enqueueJob(db.kysely, deps(), { type: 'late', payload: {} });
    await eventually(() => ran);
    await idle.stop();
  });

  test('working off a backlog lets timers and I/O run between claims (no starvation on SQLite)', async () => {
    const runner = makeRunner({ concurrency: 4, pollIntervalMs: 60_000 });
    let done = 0;
    // A handler that only touches the database: on SQLite it resolves on microtasks alone.
    runner.register('quick', async () => {
      await db.kysely.selectFrom('jobs').select('id').limit(1).execute();
      done++;
    });
    const total = 400;
    await db.kysely.transaction().execute(async (trx) => {
      for (let i = 0; i < total; i++) await enqueueJob(trx, deps(), { type: 'quick', payload: { i } });
    });
    let doneWhenTimerFired = -1;
    setTimeout(() => {
      doneWhenTimerFired = done;
    }, 0);
    runner.start();
    await eventually(() => done === total, 10_000);
    await runner.stop();
    assert.ok(doneWhenTimerFired >= 0 && doneWhenTimerFired < total, `a 0 ms timer fired only after ${doneWhenTimerFired} of ${total} jobs`);
  });

  test('stop waits for an in-flight handler, then claims nothing more', async () => {
    const runner = makeRunner();
    const started = deferred();
    const release = deferred();
    let second = 0;
    runner.register('slow', async () => {
      started.resolve();
      await release.promise;
    });
    runner.register('after', async () => {
      second++;
    });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'slow', payload: {} });
    runner.start();
    await started.promise;

    const stopping = runner.stop({ timeoutMs: 10_000 });
    assert.equal(await settledWithin(stopping, 50), 'pending', 'stop waits for the handler');
    await enqueueJob(db.kysely, deps(), { type: 'after', payload: {} });
    release.resolve();
    await stopping;
    assert.equal(runner.running, false);
    assert.equal((await jobRow(db, id)).status, 'completed');
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(second, 0, 'nothing is claimed after stop');
    assert.deepEqual(logger.at('info').map((e) => e.msg), ['job runner started', 'job runner stopped']);
  });

  test('stop gives up after its timeout and aborts the handler signal; the straggler still records its outcome', async () => {
    const runner = makeRunner();
    const started = deferred();
    const release = deferred();
    let aborted = false;
    runner.register('stuck', async (_job, ctx) => {
      started.resolve();
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      aborted = true;
      await release.promise;
    });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'stuck', payload: {} });
    runner.start();
    await started.promise;
    assert.notEqual(await settledWithin(runner.stop({ timeoutMs: 20 }), 2000), 'pending');
    assert.equal(aborted, true);
    assert.ok(logger.at('warn').some((e) => /still running/.test(e.msg ?? '') && Array.isArray(e.obj.jobIds)));
    assert.equal((await jobRow(db, id)).status, 'running', 'left to its lease, not marked anything');

    release.resolve();
    await eventually(async () => (await jobRow(db, id)).status === 'completed');
  });

  test('a job reclaimed from a stalled worker is not completed by it when it finally returns', async () => {
    const stalled = makeRunner({ workerId: 'stalled', leaseMs: 60_000 });
    const started = deferred();
    const release = deferred();
    stalled.register('long', async () => {
      started.resolve();
      await release.promise;
    });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'long', payload: {} });
    const run = stalled.runDueJobsOnce();
    await started.promise;

    clock.advance(60_001);
    const second = connectSecond(tdb);
    let reclaimed: ClaimedJob[] = [];
    try {
      reclaimed = await claimDueJobs(second, { workerId: 'rescuer', limit: 5, leaseMs: 60_000, now: clock.now() });
    } finally {
      await second.close();
    }
    assert.deepEqual(reclaimed.map((j) => [j.id, j.attempts]), [[id, 2]]);
    release.resolve();
    await run;
    const row = await jobRow(db, id);
    assert.equal(row.status, 'running');
    assert.equal(row.locked_by, 'rescuer');
    assert.ok(logger.at('warn').some((e) => /lease was lost/.test(e.msg ?? '') && e.obj.jobId === id));
  });

  test('the loop survives database errors and carries on once they clear', async () => {
    const runner = makeRunner({ pollIntervalMs: 5 });
    let ran = false;
    runner.register('t', async () => {
      ran = true;
    });
    await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    await sql`ALTER TABLE jobs RENAME TO jobs_away`.execute(db.kysely);
    runner.start();
    await eventually(() => logger.at('error').length >= 2);
    await sql`ALTER TABLE jobs_away RENAME TO jobs`.execute(db.kysely);
    await eventually(() => ran);
    await runner.stop();
    assert.ok(logger.at('error').every((e) => e.msg === 'claiming jobs failed'));
  });

  test('a recurring job is queued once per slot, however many runners schedule it', async () => {
    const second = connectSecond(tdb);
    try {
      const a = makeRunner({ workerId: 'a' });
      const b = new JobRunner({ db: second, clock, ids: uuidV7, logger, workerId: 'b' });
      let runs = 0;
      for (const runner of [a, b]) {
        runner.register('idempotency.purge', async () => {
          runs++;
        });
      }
      const queuedPurges = () =>
        db.kysely.selectFrom('jobs').selectAll().where('type', '=', 'idempotency.purge').where('status', '=', 'queued').execute();

      await Promise.all([a.schedule('idempotency.purge', HOUR), b.schedule('idempotency.purge', HOUR)]);
      await a.schedule('idempotency.purge', HOUR);
      const firstSlot = Math.floor(clock.now() / HOUR) + 1;
      let queued = await queuedPurges();
      assert.equal(queued.length, 1);
      assert.equal(queued[0]?.run_at, firstSlot * HOUR);
      assert.equal(queued[0]?.unique_key, `recurring:idempotency.purge:${firstSlot}`);

      assert.equal(await a.runDueJobsOnce(), 0, 'not due before the boundary');
      clock.set(firstSlot * HOUR);
      const ran = await Promise.all([a.runDueJobsOnce(), b.runDueJobsOnce()]);
      assert.equal(ran[0] + ran[1], 1);
      assert.equal(runs, 1);
      queued = await queuedPurges();
      assert.equal(queued.length, 1, 'exactly one next occurrence');
      assert.equal(queued[0]?.run_at, (firstSlot + 1) * HOUR);

      // Another process starting up in the same hour agrees on the same row.
      await b.schedule('idempotency.purge', HOUR);
      assert.equal((await queuedPurges()).length, 1);
      clock.set((firstSlot + 1) * HOUR + 5);
      await b.runDueJobsOnce();
      assert.equal(runs, 2);
      const all = await db.kysely.selectFrom('jobs').select(['status', 'run_at']).where('type', '=', 'idempotency.purge').orderBy('run_at').execute();
      assert.deepEqual(all, [
        { status: 'completed', run_at: firstSlot * HOUR },
        { status: 'completed', run_at: (firstSlot + 1) * HOUR },
        { status: 'queued', run_at: (firstSlot + 2) * HOUR },
      ]);
    } finally {
      await second.close();
    }
  });
});
