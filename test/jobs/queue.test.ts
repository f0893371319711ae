/**
 * The durable queue against real SQLite and PostgreSQL: enqueue in transactions, exclusive
 * claims across connections, leases and their recovery, fenced completion, backoff, dedupe,
 * purge. Every test gets its own database.
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../src/db/connect.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import {
  claimDueJobs,
  completeJob,
  completeJobInTransaction,
  DEFAULT_MAX_ATTEMPTS,
  describeError,
  enqueueJob,
  extendLease,
  failJob,
  JobLeaseLostError,
  MAX_ERROR_LENGTH,
  purgeFinishedJobs,
  retryDelayMs,
  type ClaimedJob,
} from '../../src/jobs/queue.js';
import { createTestDatabase, forEachDialect, type TestDatabase } from '../harness/database.js';
import { connectSecond, jobRow, settledWithin } from './support.js';

const LEASE = 60_000;

describe('retryDelayMs', () => {
  test('doubles from one second with ±20% jitter and caps at one hour', () => {
    assert.equal(retryDelayMs(1, () => 0.5), 1000);
    assert.equal(retryDelayMs(2, () => 0.5), 2000);
    assert.equal(retryDelayMs(5, () => 0.5), 16_000);
    assert.equal(retryDelayMs(1, () => 0), 800);
    assert.equal(retryDelayMs(1, () => 1), 1200);
    assert.equal(retryDelayMs(13, () => 0.5), 3_600_000);
    assert.equal(retryDelayMs(1000, () => 1), 4_320_000);
    for (let i = 0; i < 100; i++) {
      const delay = retryDelayMs(3);
      assert.ok(delay >= 3200 && delay <= 4800, `delay ${delay}`);
    }
  });

  test('describeError keeps name and message, truncated, and copes with non-errors', () => {
    assert.equal(describeError(new TypeError('bad')), 'TypeError: bad');
    assert.equal(describeError('oops'), 'non-error thrown: oops');
    assert.equal(describeError(new Error('x'.repeat(5000))).length, MAX_ERROR_LENGTH);
  });
});

forEachDialect('job queue', (dialect) => {
  let tdb: TestDatabase;
  let db: Db;
  let clock: FakeClock;
  const deps = () => ({ clock, ids: uuidV7 });
  const claim = (workerId: string, limit = 10, on: Db = db) =>
    claimDueJobs(on, { workerId, limit, leaseMs: LEASE, now: clock.now() });

  beforeEach(async () => {
    tdb = await createTestDatabase(dialect);
    db = tdb.db;
    clock = new FakeClock();
  });
  afterEach(async () => {
    await tdb.destroy();
  });

  test('enqueue stores a queued job due now; a claim returns it running with a lease', async () => {
    const orgId = uuidV7();
    const { id, created } = await enqueueJob(db.kysely, deps(), {
      type: 'email.send',
      payload: { emailId: 'e-1', nested: { n: 1 } },
      organizationId: orgId,
    });
    assert.equal(created, true);
    const queued = await jobRow(db, id);
    assert.equal(queued.status, 'queued');
    assert.equal(queued.run_at, clock.now());
    assert.equal(queued.attempts, 0);
    assert.equal(queued.max_attempts, DEFAULT_MAX_ATTEMPTS);
    assert.equal(queued.organization_id, orgId);

    const [job, ...rest] = await claim('w1');
    assert.equal(rest.length, 0);
    assert.ok(job);
    assert.deepEqual(job.payload, { emailId: 'e-1', nested: { n: 1 } });
    assert.equal(job.attempts, 1);
    assert.equal(job.lockedBy, 'w1');
    assert.equal(job.leaseExpiresAt, clock.now() + LEASE);
    assert.equal(job.organizationId, orgId);
    const running = await jobRow(db, id);
    assert.equal(running.status, 'running');
    assert.equal(running.locked_by, 'w1');
    assert.deepEqual(await claim('w2'), [], 'a running job with a live lease is not claimed again');

    assert.equal(await completeJob(db.kysely, job, clock.now()), true);
    assert.equal((await jobRow(db, id)).status, 'completed');
    assert.deepEqual(await claim('w2'), []);
  });

  test('rejects payloads that are not plain objects', async () => {
    await assert.rejects(enqueueJob(db.kysely, deps(), { type: 't', payload: [1, 2] }), TypeError);
  });

  test('a job enqueued in a rolled-back transaction never runs; a committed one does', async () => {
    let rolledBackId = '';
    await assert.rejects(
      db.kysely.transaction().execute(async (trx) => {
        rolledBackId = (await enqueueJob(trx, deps(), { type: 'journey.step', payload: { n: 1 } })).id;
        throw new Error('rollback');
      }),
      /rollback/,
    );
    assert.notEqual(rolledBackId, '');
    clock.advance(24 * 3_600_000);
    assert.deepEqual(await claim('w1'), []);
    const count = await db.kysely.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(count.n), 0);

    const committed = await db.kysely.transaction().execute((trx) => enqueueJob(trx, deps(), { type: 'journey.step', payload: { n: 2 } }));
    const claimed = await claim('w1');
    assert.deepEqual(claimed.map((j) => j.id), [committed.id]);
  });

  test('claims only due jobs, oldest run_at first, up to the limit, optionally by type', async () => {
    const now = clock.now();
    const late = await enqueueJob(db.kysely, deps(), { type: 'a', payload: {}, runAt: now + 1000 });
    const second = await enqueueJob(db.kysely, deps(), { type: 'a', payload: {}, runAt: now - 10 });
    const first = await enqueueJob(db.kysely, deps(), { type: 'a', payload: {}, runAt: now - 20 });
    const other = await enqueueJob(db.kysely, deps(), { type: 'b', payload: {}, runAt: now - 30 });

    const onlyA = await claimDueJobs(db, { workerId: 'w1', limit: 1, leaseMs: LEASE, now, types: ['a'] });
    assert.deepEqual(onlyA.map((j) => j.id), [first.id]);
    assert.deepEqual((await claim('w1')).map((j) => j.id), [other.id, second.id]);
    assert.deepEqual(await claim('w1'), [], 'the future job is not due yet');
    assert.deepEqual(await claimDueJobs(db, { workerId: 'w1', limit: 10, leaseMs: LEASE, now, types: [] }), []);

    clock.advance(999);
    assert.deepEqual(await claim('w1'), []);
    clock.advance(1);
    assert.deepEqual((await claim('w1')).map((j) => j.id), [late.id]);
  });

  test('claims are exclusive across two workers on separate connections', { timeout: 60_000 }, async () => {
    const second = connectSecond(tdb);
    try {
      const total = 300;
      const ids = new Set<string>();
      for (let i = 0; i < total; i += 50) {
        await db.kysely.transaction().execute(async (trx) => {
          for (let j = i; j < i + 50; j++) ids.add((await enqueueJob(trx, deps(), { type: 'fanout', payload: { j } })).id);
        });
      }
      // Open the connections first, so both workers really compete from the start.
      await Promise.all(
        [db, second].flatMap((conn) =>
          Array.from({ length: 8 }, () => conn.kysely.selectFrom('jobs').select('id').limit(1).execute()),
        ),
      );

      const claimedBy = new Map<string, string[]>();
      const claimLoop = async (conn: Db, workerId: string): Promise<void> => {
        for (;;) {
          const batch = await claimDueJobs(conn, { workerId, limit: 3, leaseMs: LEASE, now: clock.now() });
          if (batch.length === 0) return;
          for (const job of batch) claimedBy.set(job.id, [...(claimedBy.get(job.id) ?? []), workerId]);
        }
      };
      await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => claimLoop(db, `a${i}`)),
        ...Array.from({ length: 8 }, (_, i) => claimLoop(second, `b${i}`)),
      ]);

      assert.equal(claimedBy.size, total, 'every job was claimed');
      for (const [id, workers] of claimedBy) {
        assert.ok(ids.has(id));
        assert.equal(workers.length, 1, `job ${id} claimed by ${workers.join(', ')}`);
      }
      const owners = [...claimedBy.values()].map((w) => w[0] ?? '');
      assert.ok(owners.some((w) => w.startsWith('a')) && owners.some((w) => w.startsWith('b')), 'both workers claimed jobs');
      const rows = await db.kysely.selectFrom('jobs').select(['id', 'attempts', 'locked_by', 'status']).execute();
      for (const row of rows) {
        assert.equal(row.status, 'running');
        assert.equal(row.attempts, 1);
        assert.equal(row.locked_by, claimedBy.get(row.id)?.[0]);
      }
    } finally {
      await second.close();
    }
  });

  test('a claim skips rows another transaction has locked instead of waiting', { skip: dialect !== 'postgres', timeout: 15_000 }, async () => {
    const second = connectSecond(tdb);
    try {
      const locked = await enqueueJob(db.kysely, deps(), { type: 't', payload: {}, runAt: clock.now() - 10 });
      const free = await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
      // Ending the locking transaction either way releases a claim that wrongly waits, so a
      // regression fails here instead of hanging.
      const claimed = await db.kysely.transaction().execute(async (trx) => {
        await trx.selectFrom('jobs').select('id').where('id', '=', locked.id).forUpdate().execute();
        return settledWithin(claimDueJobs(second, { workerId: 'w2', limit: 10, leaseMs: LEASE, now: clock.now() }), 3000);
      });
      assert.notEqual(claimed, 'pending', 'the claim waited for the locked row');
      assert.deepEqual(claimed === 'pending' ? [] : claimed.map((j) => j.id), [free.id]);
      assert.deepEqual((await claim('w1')).map((j) => j.id), [locked.id]);
    } finally {
      await second.close();
    }
  });

  test('a crashed lease is reclaimed by another worker, and the old worker cannot overwrite it', async () => {
    const { id } = await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    const [crashed] = await claim('worker-a');
    assert.ok(crashed);

    clock.advance(LEASE);
    assert.deepEqual(await claim('worker-b'), [], 'the lease is still valid at its expiry instant');
    clock.advance(1);
    const [reclaimed] = await claim('worker-b');
    assert.ok(reclaimed);
    assert.equal(reclaimed.id, id);
    assert.equal(reclaimed.attempts, 2);
    assert.equal(reclaimed.lockedBy, 'worker-b');
    assert.equal((await jobRow(db, id)).last_error, 'lease expired while held by worker-a');

    // The old worker wakes up late: every transition is fenced by its lease.
    assert.equal(await completeJob(db.kysely, crashed, clock.now()), false);
    assert.deepEqual(await failJob(db.kysely, crashed, new Error('late'), clock.now()), { outcome: 'lease_lost' });
    assert.equal(await extendLease(db.kysely, crashed, LEASE, clock.now()), false);
    const row = await jobRow(db, id);
    assert.equal(row.status, 'running');
    assert.equal(row.locked_by, 'worker-b');
    assert.equal(row.attempts, 2);

    assert.equal(await completeJob(db.kysely, reclaimed, clock.now()), true);
    assert.equal((await jobRow(db, id)).status, 'completed');
    assert.equal(await completeJob(db.kysely, crashed, clock.now()), false);
  });

  test('the same worker reclaiming its own expired job gets a new lease; the old one is fenced by attempts', async () => {
    await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    const [first] = await claim('w');
    assert.ok(first);
    clock.advance(LEASE + 1);
    const [again] = await claim('w');
    assert.ok(again);
    assert.equal(await completeJob(db.kysely, first, clock.now()), false);
    assert.equal(await completeJob(db.kysely, again, clock.now()), true);
  });

  test('extending a lease keeps the job from being reclaimed', async () => {
    await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    const [job] = await claim('w1');
    assert.ok(job);
    clock.advance(LEASE - 1000);
    assert.equal(await extendLease(db.kysely, job, LEASE, clock.now()), true);
    clock.advance(LEASE - 1000);
    assert.deepEqual(await claim('w2'), []);
    clock.advance(1001);
    assert.equal((await claim('w2')).length, 1);
  });

  test('an expired lease with no attempts left ends failed instead of running again', async () => {
    const { id } = await enqueueJob(db.kysely, deps(), { type: 't', payload: {}, maxAttempts: 2 });
    assert.equal((await claim('w1')).length, 1);
    clock.advance(LEASE + 1);
    assert.equal((await claim('w2')).length, 1);
    clock.advance(LEASE + 1);
    assert.deepEqual(await claim('w3'), []);
    const row = await jobRow(db, id);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 2);
    assert.equal(row.locked_by, null);
    assert.equal(row.last_error, 'lease expired while held by w2');
  });

  test('failures retry with exponential backoff and end failed after max_attempts', async () => {
    const { id } = await enqueueJob(db.kysely, deps(), { type: 't', payload: { secret: 'payload-value' }, maxAttempts: 3 });
    const expectedBase = [1000, 2000];
    for (let attempt = 1; attempt <= 2; attempt++) {
      const [job] = await claim('w1');
      assert.ok(job);
      assert.equal(job.attempts, attempt);
      const failedAt = clock.now();
      const outcome = await failJob(db.kysely, job, new Error(`boom ${attempt}`), failedAt);
      assert.equal(outcome.outcome, 'retrying');
      const row = await jobRow(db, id);
      const base = expectedBase[attempt - 1] ?? 0;
      assert.equal(row.status, 'queued');
      assert.equal(row.attempts, attempt);
      assert.equal(row.locked_by, null);
      assert.equal(row.last_error, `Error: boom ${attempt}`);
      assert.ok(row.run_at >= failedAt + base * 0.8 && row.run_at <= failedAt + base * 1.2, `run_at +${row.run_at - failedAt}`);
      assert.deepEqual(outcome, { outcome: 'retrying', runAt: row.run_at });

      clock.set(row.run_at - 1);
      assert.deepEqual(await claim('w1'), [], 'not due before the backoff elapsed');
      clock.set(row.run_at);
    }
    const [last] = await claim('w1');
    assert.ok(last);
    assert.equal(last.attempts, 3);
    assert.deepEqual(await failJob(db.kysely, last, new Error('x'.repeat(5000)), clock.now()), { outcome: 'failed' });
    const row = await jobRow(db, id);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 3);
    assert.equal(row.last_error?.length, MAX_ERROR_LENGTH);
    assert.ok(!row.last_error?.includes('payload-value'));
    clock.advance(10 * 3_600_000);
    assert.deepEqual(await claim('w1'), []);
  });

  test('a permanent failure skips the remaining attempts', async () => {
    const { id } = await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    const [job] = await claim('w1');
    assert.ok(job);
    assert.deepEqual(await failJob(db.kysely, job, new Error('gone'), clock.now(), { permanent: true }), { outcome: 'failed' });
    assert.equal((await jobRow(db, id)).status, 'failed');
  });

  test('a unique key dedupes enqueues, across transactions and connections', async () => {
    const a = await enqueueJob(db.kysely, deps(), { type: 't', payload: { v: 1 }, uniqueKey: 'k1' });
    const b = await enqueueJob(db.kysely, deps(), { type: 't', payload: { v: 2 }, uniqueKey: 'k1' });
    assert.deepEqual(a, { id: a.id, created: true });
    assert.deepEqual(b, { id: a.id, created: false });
    assert.equal(JSON.parse((await jobRow(db, a.id)).payload).v, 1);

    // Keys of rolled-back enqueues are free again; null keys never conflict.
    await assert.rejects(
      db.kysely.transaction().execute(async (trx) => {
        await enqueueJob(trx, deps(), { type: 't', payload: {}, uniqueKey: 'k2' });
        throw new Error('rollback');
      }),
    );
    assert.equal((await enqueueJob(db.kysely, deps(), { type: 't', payload: {}, uniqueKey: 'k2' })).created, true);
    assert.equal((await enqueueJob(db.kysely, deps(), { type: 't', payload: {}, uniqueKey: null })).created, true);
    assert.equal((await enqueueJob(db.kysely, deps(), { type: 't', payload: {} })).created, true);

    // Concurrent transactions from two connections. SQLite's two connections share this one
    // thread here, so a writer waiting for the lock would block the other's COMMIT: there the
    // second connection goes after the concurrent ones instead (separate processes do not have
    // that problem; a process has one connection, whose transactions Kysely serialises).
    const second = connectSecond(tdb);
    try {
      const enqueueK3 = (conn: Db, i: number) =>
        conn.kysely.transaction().execute((trx) => enqueueJob(trx, deps(), { type: 't', payload: { i }, uniqueKey: 'k3' }));
      const concurrent = dialect === 'postgres' ? [db, second] : [db];
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => enqueueK3(concurrent[i % concurrent.length] ?? db, i)));
      results.push(await enqueueK3(second, 20));
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.id)).size, 1);
    } finally {
      await second.close();
    }
    const keyed = await db.kysely.selectFrom('jobs').select('id').where('unique_key', '=', 'k3').execute();
    assert.equal(keyed.length, 1);
  });

  test('completing in the handler transaction commits with the state change, or not at all', async () => {
    await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    const [job] = await claim('w1');
    assert.ok(job);
    await db.kysely.transaction().execute(async (trx) => {
      await completeJobInTransaction(trx, job, clock.now());
      await trx.insertInto('instance_settings').values({ key: 'step-1', value: 'done' }).execute();
    });
    assert.equal((await jobRow(db, job.id)).status, 'completed');
    assert.ok(await db.kysely.selectFrom('instance_settings').select('key').where('key', '=', 'step-1').executeTakeFirst());

    // A lost lease throws, so the handler's transaction rolls back with it.
    await enqueueJob(db.kysely, deps(), { type: 't', payload: {} });
    const [stale] = await claim('w1');
    assert.ok(stale);
    clock.advance(LEASE + 1);
    const [current] = await claim('w2');
    assert.ok(current);
    await assert.rejects(
      db.kysely.transaction().execute(async (trx) => {
        await trx.insertInto('instance_settings').values({ key: 'step-2', value: 'done' }).execute();
        await completeJobInTransaction(trx, stale, clock.now());
      }),
      JobLeaseLostError,
    );
    assert.equal(await db.kysely.selectFrom('instance_settings').select('key').where('key', '=', 'step-2').executeTakeFirst(), undefined);
    assert.equal((await jobRow(db, current.id)).locked_by, 'w2');

    await assert.rejects(completeJobInTransaction(db.kysely, current, clock.now()), /needs a transaction/);
  });

  test('purge deletes finished jobs older than the cutoff, in batches, and nothing else', async () => {
    const finish = async (count: number, outcome: 'complete' | 'fail'): Promise<ClaimedJob[]> => {
      for (let i = 0; i < count; i++) await enqueueJob(db.kysely, deps(), { type: outcome, payload: {} });
      const jobs = await claimDueJobs(db, { workerId: 'w', limit: count, leaseMs: LEASE, now: clock.now(), types: [outcome] });
      for (const job of jobs) {
        if (outcome === 'complete') await completeJob(db.kysely, job, clock.now());
        else await failJob(db.kysely, job, new Error('x'), clock.now(), { permanent: true });
      }
      return jobs;
    };
    await finish(5, 'complete');
    await finish(2, 'fail');
    const cutoff = clock.now() + 1;
    clock.advance(10);
    const recent = await finish(1, 'complete');
    const queued = await enqueueJob(db.kysely, deps(), { type: 'q', payload: {}, runAt: 0 });
    const running = await enqueueJob(db.kysely, deps(), { type: 'r', payload: {}, runAt: 0 });
    await claimDueJobs(db, { workerId: 'w', limit: 1, leaseMs: LEASE, now: clock.now(), types: ['r'] });

    assert.equal(await purgeFinishedJobs(db.kysely, cutoff, 2), 7);
    const left = (await db.kysely.selectFrom('jobs').select('id').execute()).map((r) => r.id).sort();
    assert.deepEqual(left, [recent[0]?.id, queued.id, running.id].sort());
    assert.equal(await purgeFinishedJobs(db.kysely, cutoff), 0);
  });
});
