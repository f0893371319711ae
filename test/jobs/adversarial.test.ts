/**
 * Adversarial tests of the job runner together with the group committer, on both databases:
 * a batch in which one job's unit lost its lease, a handler that swallows the rollback of a
 * transaction in which it had already completed its job, stopping the runner while a committer
 * batch is in flight, and (PostgreSQL) two runners on two connections racing over the same jobs.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely, Transaction } from 'kysely';
import type { Db } from '../../src/db/connect.js';
import { GroupCommitter } from '../../src/db/group-commit.js';
import type { Database } from '../../src/db/tables.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { enqueueJob } from '../../src/jobs/queue.js';
import { JobRunner, type JobRunnerOptions } from '../../src/jobs/runner.js';
import { createTestDatabase, forEachDialect, type TestDatabase } from '../harness/database.js';
import { CapturingLogger, connectSecond, deferred, eventually, jobRow, settledWithin } from './support.js';

const MINUTE = 60_000;

forEachDialect('job runner with the group committer (adversarial)', (dialect) => {
  let tdb: TestDatabase;
  let db: Db;
  let clock: FakeClock;
  let logger: CapturingLogger;
  const runners: JobRunner[] = [];
  const extraDbs: Db[] = [];
  const deps = () => ({ clock, ids: uuidV7 });
  const makeRunner = (options: Partial<JobRunnerOptions> = {}): JobRunner => {
    const runner = new JobRunner({ db, clock, ids: uuidV7, logger, pollIntervalMs: 10, ...options });
    runners.push(runner);
    return runner;
  };

  /** The handler's "state change": a marker row (a far-future job of type `marker`) naming the job. */
  const writeMarker = (trx: Kysely<Database>, jobId: string) =>
    enqueueJob(trx, deps(), { type: 'marker', payload: { of: jobId }, runAt: clock.now() + 1000 * 24 * 3600_000 });
  const markersOf = async (jobId: string, executor: Kysely<Database> = db.kysely): Promise<number> => {
    const rows = await executor.selectFrom('jobs').select('payload').where('type', '=', 'marker').execute();
    return rows.filter((r) => (JSON.parse(r.payload) as { of?: string }).of === jobId).length;
  };

  beforeEach(async () => {
    tdb = await createTestDatabase(dialect);
    db = tdb.db;
    clock = new FakeClock();
    logger = new CapturingLogger();
  });
  afterEach(async () => {
    for (const runner of runners.splice(0)) if (runner.running) await runner.stop({ timeoutMs: 1000 });
    for (const extra of extraDbs.splice(0)) await extra.close();
    await tdb.destroy();
  });

  test('stragglers holding more than half the slots do not stall a backlog', async () => {
    const runner = makeRunner({ concurrency: 4 });
    const release = deferred<void>();
    runner.register('slow', async () => {
      await release.promise;
    });
    runner.register('quick', async () => {});
    for (let i = 0; i < 3; i++) await enqueueJob(db.kysely, deps(), { type: 'slow', payload: {} });
    const quick: string[] = [];
    for (let i = 0; i < 6; i++) quick.push((await enqueueJob(db.kysely, deps(), { type: 'quick', payload: {} })).id);
    runner.start();
    try {
      await eventually(async () => {
        for (const id of quick) if ((await jobRow(db, id)).status !== 'completed') return false;
        return true;
      }, 3000);
    } finally {
      release.resolve();
    }
  });

  test('a job this runner reclaims from itself after its lease expired: stop() waits for both executions', async () => {
    const runner = makeRunner({ concurrency: 4, leaseMs: MINUTE });
    const first = deferred<void>();
    const second = deferred<void>();
    const firstStarted = deferred<void>();
    const secondStarted = deferred<void>();
    runner.register('long', async (job) => {
      if (job.attempts === 1) {
        firstStarted.resolve();
        await first.promise;
      } else {
        secondStarted.resolve();
        await second.promise;
      }
    });
    await enqueueJob(db.kysely, deps(), { type: 'long', payload: {} });
    runner.start();
    await firstStarted.promise;
    clock.advance(MINUTE + 1);
    await secondStarted.promise;
    first.resolve();
    await eventually(() => logger.entries.some((e) => /lease was lost/.test(e.msg ?? '')));
    const stopped = runner.stop({ timeoutMs: 5000 });
    const early = await settledWithin(stopped, 100);
    second.resolve();
    await stopped;
    assert.equal(early, 'pending', 'stop() must wait for the second execution');
  });

  test('a batch where one unit lost its lease: the others commit exactly once, the loser neither completes nor writes', async () => {
    const committer = new GroupCommitter(db);
    const runner = makeRunner({ workerId: 'w1', concurrency: 8 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await enqueueJob(db.kysely, deps(), { type: 'step', payload: { i } })).id);
    const victim = ids[2]!;

    // Every handler waits at the gate until all four arrived, so their units join one batch.
    const gate = deferred();
    let arrived = 0;
    const trxOf = new Map<string, Transaction<Database>[]>();
    runner.register('step', async (job, ctx) => {
      if (job.id === victim) {
        // Another worker reclaimed it meanwhile (its lease expired): same id, new lease.
        await db.kysely.updateTable('jobs').set({ locked_by: 'thief', attempts: job.attempts + 1 }).where('id', '=', job.id).execute();
      }
      if (++arrived === ids.length) gate.resolve();
      await gate.promise;
      await committer.run(async (trx) => {
        trxOf.set(job.id, [...(trxOf.get(job.id) ?? []), trx]);
        await ctx.completeInTransaction(trx);
        await writeMarker(trx, job.id);
      });
    });

    assert.equal(await runner.runDueJobsOnce(), 4);

    // The scenario really happened: all four units ran first in one shared transaction.
    const firstTrx = new Set(ids.map((id) => trxOf.get(id)![0]));
    assert.equal(firstTrx.size, 1, 'the four units shared their first transaction');
    // ...and the survivors were re-run alone after the batch rolled back.
    for (const id of ids) if (id !== victim) assert.equal(trxOf.get(id)!.length, 2, 'batch run, then alone');

    for (const id of ids) {
      const row = await jobRow(db, id);
      if (id === victim) {
        assert.equal(row.status, 'running', 'the thief still holds it');
        assert.equal(row.locked_by, 'thief');
        assert.equal(await markersOf(id), 0, 'no partial state of the lost lease');
      } else {
        assert.equal(row.status, 'completed');
        assert.equal(await markersOf(id), 1, `job ${id}: its state committed exactly once`);
      }
    }
    assert.ok(logger.at('warn').some((e) => e.obj.jobId === victim && /lease lost/.test(e.msg ?? '')));
  });

  test('a batch where one unit throws a unique violation: the neighbours commit once, the thrower rolls back and retries', async () => {
    const committer = new GroupCommitter(db);
    const runner = makeRunner({ workerId: 'w1', concurrency: 8 });
    await enqueueJob(db.kysely, deps(), { type: 'taken', payload: {}, runAt: clock.now() + 1000 * 24 * 3600_000, uniqueKey: 'taken-key' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await enqueueJob(db.kysely, deps(), { type: 'step', payload: { i } })).id);
    const thrower = ids[1]!;
    const gate = deferred();
    let arrived = 0;
    runner.register('step', async (job, ctx) => {
      if (++arrived === ids.length) gate.resolve();
      await gate.promise;
      await committer.run(async (trx) => {
        await ctx.completeInTransaction(trx);
        await writeMarker(trx, job.id);
        if (job.id === thrower) {
          // A plain insert of a key that exists: a real unique violation from the database.
          await trx.insertInto('jobs').values({
            id: uuidV7(), type: 'dup', organization_id: null, payload: '{}', status: 'queued', run_at: clock.now() + 1000 * 24 * 3600_000,
            attempts: 0, max_attempts: 1, locked_by: null, lease_expires_at: null, last_error: null, unique_key: 'taken-key', created_at: clock.now(), updated_at: clock.now(),
          }).execute();
        }
      });
    });
    assert.equal(await runner.runDueJobsOnce(), 3);
    for (const id of ids) {
      const row = await jobRow(db, id);
      if (id === thrower) {
        assert.equal(row.status, 'queued', 'failed attempt, retried later');
        assert.equal(row.attempts, 1);
        assert.match(row.last_error ?? '', /unique|UNIQUE|duplicate/);
        assert.equal(await markersOf(id), 0);
      } else {
        assert.equal(row.status, 'completed');
        assert.equal(await markersOf(id), 1);
      }
    }
  });

  test('a handler swallowing the rollback of a transaction that completed its job: the job is not marked completed', async () => {
    const committer = new GroupCommitter(db);
    const runner = makeRunner({ workerId: 'w1', leaseMs: MINUTE });
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'swallow', payload: {} });
    let calls = 0;
    runner.register('swallow', async (job, ctx) => {
      calls++;
      try {
        await committer.run(async (trx) => {
          await ctx.completeInTransaction(trx);
          await writeMarker(trx, job.id);
          if (job.attempts === 1) throw new Error('rolled back after completing');
        });
      } catch {
        // Swallowed: the handler returns normally although nothing committed.
      }
    });
    assert.equal(await runner.runDueJobsOnce(), 1);
    let row = await jobRow(db, id);
    assert.notEqual(row.status, 'completed', 'completed without its state');
    assert.equal(await markersOf(id), 0);
    // Left to its lease (acceptable): once it expires the job runs again and commits its state.
    clock.advance(MINUTE + 1);
    assert.equal(await runner.runDueJobsOnce(), 1);
    row = await jobRow(db, id);
    assert.equal(row.status, 'completed');
    assert.equal(row.attempts, 2);
    assert.equal(await markersOf(id), 1);
    assert.equal(calls, 2);
  });

  test('a unit rolled back with its batch, then re-run alone, still commits its completion and state once', async () => {
    // The stale completedInTransaction flag of the rolled-back batch run must not matter.
    const committer = new GroupCommitter(db);
    const runner = makeRunner({ workerId: 'w1' });
    const a = (await enqueueJob(db.kysely, deps(), { type: 'step', payload: {} })).id;
    const b = (await enqueueJob(db.kysely, deps(), { type: 'step', payload: {} })).id;
    const gate = deferred();
    let arrived = 0;
    let bRuns = 0;
    runner.register('step', async (job, ctx) => {
      if (++arrived === 2) gate.resolve();
      await gate.promise;
      await committer.run(async (trx) => {
        await ctx.completeInTransaction(trx);
        await writeMarker(trx, job.id);
        if (job.id === b && bRuns++ === 0) throw Object.assign(new Error('deadlock detected'), { code: dialect === 'postgres' ? '40P01' : 'SQLITE_BUSY' });
      });
    });
    assert.equal(await runner.runDueJobsOnce(), 2);
    for (const id of [a, b]) {
      assert.equal((await jobRow(db, id)).status, 'completed');
      assert.equal(await markersOf(id), 1);
    }
    assert.equal(bRuns, 2);
  });

  test('stop() while a committer batch is in flight waits for the commit; the job is completed with its state', async () => {
    const committer = new GroupCommitter(db);
    const runner = makeRunner({ workerId: 'w1', concurrency: 4 });
    const inBatch = deferred();
    const release = deferred();
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'slow', payload: {} });
    runner.register('slow', async (job, ctx) => {
      await committer.run(async (trx) => {
        await ctx.completeInTransaction(trx);
        await writeMarker(trx, job.id);
        inBatch.resolve();
        await release.promise;
      });
    });
    runner.start();
    await inBatch.promise;
    const stopped = runner.stop({ timeoutMs: 10_000 });
    assert.equal(await settledWithin(stopped, 50), 'pending', 'stop waits for the batch');
    release.resolve();
    await stopped;
    assert.equal(runner.running, false);
    assert.equal((await jobRow(db, id)).status, 'completed');
    assert.equal(await markersOf(id), 1);
    // Nothing is claimed after stop.
    const later = await enqueueJob(db.kysely, deps(), { type: 'slow', payload: {} });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal((await jobRow(db, later.id)).status, 'queued');
    await committer.drain();
  });

  test('stop() timing out while a batch is in flight: the straggler still commits completion and state together', async () => {
    const committer = new GroupCommitter(db);
    const runner = makeRunner({ workerId: 'w1' });
    const inBatch = deferred();
    const release = deferred();
    const { id } = await enqueueJob(db.kysely, deps(), { type: 'slow', payload: {} });
    let signal: AbortSignal | undefined;
    runner.register('slow', async (job, ctx) => {
      signal = ctx.signal;
      await committer.run(async (trx) => {
        await ctx.completeInTransaction(trx);
        inBatch.resolve();
        await release.promise;
        await writeMarker(trx, job.id);
      });
    });
    runner.start();
    await inBatch.promise;
    await runner.stop({ timeoutMs: 20 });
    assert.equal(signal?.aborted, true);
    release.resolve();
    await committer.drain();
    assert.equal((await jobRow(db, id)).status, 'completed');
    assert.equal(await markersOf(id), 1);
  });

  if (dialect === 'postgres') {
    test('two runners on two connections, each with its own committer, race over 60 jobs: every job commits exactly once', async () => {
      const second = connectSecond(tdb);
      extraDbs.push(second);
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) ids.push((await enqueueJob(db.kysely, deps(), { type: 'step', payload: { i } })).id);
      const runs = new Map<string, number>();
      const build = (workerDb: Db, workerId: string) => {
        const committer = new GroupCommitter(workerDb);
        const runner = new JobRunner({ db: workerDb, clock, ids: uuidV7, logger, workerId, concurrency: 7 });
        runners.push(runner);
        runner.register('step', async (job, ctx) => {
          await committer.run(async (trx) => {
            await ctx.completeInTransaction(trx);
            await writeMarker(trx, job.id);
          });
          runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        });
        return runner;
      };
      const r1 = build(db, 'w1');
      const r2 = build(second, 'w2');
      const [n1, n2] = await Promise.all([r1.runDueJobsOnce(), r2.runDueJobsOnce()]);
      assert.equal(n1 + n2, 60);
      for (const id of ids) {
        assert.equal((await jobRow(db, id)).status, 'completed');
        assert.equal(await markersOf(id), 1);
        assert.equal(runs.get(id), 1);
      }
    });
  }
});
