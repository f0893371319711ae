/**
 * Idempotency retention (conventions.md §8.4–8.5): a key is remembered for 24 h after the first
 * request (SEGMENTFLOW_IDEMPOTENCY_TTL_HOURS); after that it is treated as a new key, and the
 * periodic `idempotency.purge` job deletes the expired records while keeping fresh ones.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createWorker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, track, type TestApp, type TestOrg } from '../harness/app.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const event = (name: string, email = 'keep@example.com') => ({ event: name, profile: { email } });

forEachDialect('idempotency retention', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp(dialect);
  });
  after(() => t.close());

  const records = async (organizationId: string) =>
    (await t.database.db.kysely.selectFrom('idempotency_records').select(['key', 'created_at', 'expires_at']).where('organization_id', '=', organizationId).orderBy('key').execute()).map((r) => ({
      key: r.key,
      createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at),
    }));

  test('a key is kept 24 h: a different body is a reuse until then, a new key after', async () => {
    const org: TestOrg = await t.newOrg();
    const first = await track(t.app, org.key, event('order.created'), 'retained-key');
    assert.equal(first.statusCode, 202, first.body);
    const firstAt = t.clock.now();
    assert.deepEqual(await records(org.id), [{ key: 'retained-key', createdAt: firstAt, expiresAt: firstAt + DAY }]);

    t.clock.advance(DAY - 1);
    const reuse = await track(t.app, org.key, event('order.updated'), 'retained-key');
    assert.equal(reuse.statusCode, 409, reuse.body);
    assert.equal(json(reuse).error, 'idempotency_key_reuse');
    const replay = await track(t.app, org.key, event('order.created'), 'retained-key');
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, first.body);

    t.clock.advance(2); // 24 h + 1 ms after the first request
    const fresh = await track(t.app, org.key, event('order.updated'), 'retained-key');
    assert.equal(fresh.statusCode, 202, fresh.body);
    assert.equal(fresh.headers['idempotent-replayed'], undefined, 'executed, not replayed');
    assert.notEqual(json(fresh).eventId, json(first).eventId);
    const events = await t.database.db.kysely.selectFrom('user_events').select('event').where('organization_id', '=', org.id).orderBy('id').execute();
    assert.deepEqual(events.map((e) => e.event), ['order.created', 'order.updated'], 'the second request did its work');

    // The key now belongs to the new request, with a fresh 24 h window.
    const now = t.clock.now();
    assert.deepEqual(await records(org.id), [{ key: 'retained-key', createdAt: now, expiresAt: now + DAY }]);
    const replayNew = await track(t.app, org.key, event('order.updated'), 'retained-key');
    assert.equal(replayNew.headers['idempotent-replayed'], 'true');
    assert.equal(replayNew.body, fresh.body);
    const reuseOld = await track(t.app, org.key, event('order.created'), 'retained-key');
    assert.equal(reuseOld.statusCode, 409);
    assert.equal(json(reuseOld).error, 'idempotency_key_reuse');
  });

  test('an expired stored refusal is not replayed: the same request executes again', async () => {
    const org = await t.newOrg();
    const missing = await track(t.app, org.key, { event: 'x', profile: { externalId: 'later' } }, 'expired-refusal');
    assert.equal(missing.statusCode, 422);
    assert.equal(json(missing).error, 'profile_not_found');
    await track(t.app, org.key, { event: 'signup', profile: { email: 'later@example.com', externalId: 'later' } });
    const stillStored = await track(t.app, org.key, { event: 'x', profile: { externalId: 'later' } }, 'expired-refusal');
    assert.equal(stillStored.statusCode, 422);
    assert.equal(stillStored.headers['idempotent-replayed'], 'true');
    t.clock.advance(DAY + 1);
    const again = await track(t.app, org.key, { event: 'x', profile: { externalId: 'later' } }, 'expired-refusal');
    assert.equal(again.statusCode, 202, again.body);
    assert.equal(again.headers['idempotent-replayed'], undefined);
  });

  test('idempotency.purge deletes expired records and keeps fresh ones', async () => {
    const org = await t.newOrg();
    const other = await t.newOrg();
    for (const key of ['old-1', 'old-2']) assert.equal((await track(t.app, org.key, event(key), key)).statusCode, 202);
    assert.equal((await track(t.app, other.key, event('old-other'), 'old-other')).statusCode, 202);
    t.clock.advance(12 * HOUR);
    assert.equal((await track(t.app, org.key, event('fresh-1'), 'fresh-1')).statusCode, 202);
    t.clock.advance(12 * HOUR + 1); // the old ones are now past 24 h, fresh-1 is 12 h old

    // Expired records stay until the purge removes them (or the key is used again).
    assert.deepEqual((await records(org.id)).map((r) => r.key), ['fresh-1', 'old-1', 'old-2']);
    assert.equal((await records(other.id)).length, 1);

    // The worker schedules the purge hourly (src/worker.ts); queue it the same way and let it fall due.
    const w = createWorker(t.deps);
    await w.runner.schedule('idempotency.purge', HOUR);
    const [job] = await t.database.db.kysely.selectFrom('jobs').selectAll().where('type', '=', 'idempotency.purge').where('status', '=', 'queued').execute();
    assert.ok(job, 'the purge job is queued');
    assert.ok(job.run_at > t.clock.now() && job.run_at <= t.clock.now() + HOUR);
    t.clock.set(job.run_at - 1);
    await w.runner.runDueJobsOnce();
    assert.equal((await records(org.id)).length, 3, 'nothing purged before the job is due');

    t.clock.set(job.run_at);
    assert.ok((await w.runner.runDueJobsOnce()) >= 1);
    const done = await t.database.db.kysely.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow();
    assert.equal(done.status, 'completed');
    assert.deepEqual((await records(org.id)).map((r) => r.key), ['fresh-1'], 'expired records of every organization deleted, the fresh one kept');
    assert.deepEqual(await records(other.id), []);

    // The kept record still guards its key; a purged key executes as new.
    const kept = await track(t.app, org.key, event('fresh-1'), 'fresh-1');
    assert.equal(kept.headers['idempotent-replayed'], 'true');
    const reused = await track(t.app, org.key, event('something else'), 'old-1');
    assert.equal(reused.statusCode, 202, reused.body);
    assert.equal(reused.headers['idempotent-replayed'], undefined);

    // The next purge is queued for the next hour; by then fresh-1 has expired as well.
    t.clock.set(job.run_at + 12 * HOUR);
    await w.runner.runDueJobsOnce();
    assert.deepEqual((await records(org.id)).map((r) => r.key), ['old-1'], 'fresh-1 purged once expired; the re-used old-1 is fresh');
  });
});

forEachDialect('idempotency retention with SEGMENTFLOW_IDEMPOTENCY_TTL_HOURS=1', (dialect) => {
  let t: TestApp;
  after(() => t.close());

  test('the configured window applies to lookups and to the purge', async () => {
    t = await createTestApp(dialect, { config: { idempotencyTtlHours: 1 } });
    const org = await t.newOrg();
    assert.equal((await track(t.app, org.key, event('a'), 'short')).statusCode, 202);
    t.clock.advance(HOUR - 1);
    assert.equal(json(await track(t.app, org.key, event('b'), 'short')).error, 'idempotency_key_reuse');
    t.clock.advance(2);
    const w = createWorker(t.deps);
    await w.runner.schedule('idempotency.purge', HOUR);
    t.clock.advance(HOUR);
    await w.runner.runDueJobsOnce();
    const left = await t.database.db.kysely.selectFrom('idempotency_records').select('key').where('organization_id', '=', org.id).execute();
    assert.deepEqual(left, [], 'purged after 1 h');
    const fresh = await track(t.app, org.key, event('b'), 'short');
    assert.equal(fresh.statusCode, 202, fresh.body);
    assert.equal(fresh.headers['idempotent-replayed'], undefined);
  });
});
