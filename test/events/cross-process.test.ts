/**
 * events.track raced across two app instances on one database (two `buildApp`s over two
 * connections, each with its own group committer and in-process in-flight set: two server
 * processes as far as the database can tell). The guarantees must come from the database, not
 * from process memory: one event per Idempotency-Key (conventions.md §8.4), one Profile per new
 * email (events.md §3), one run per once_per_key entry key (journeys.md §5).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import type { Db } from '../../src/db/connect.js';
import { createDeps } from '../../src/deps.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { connectSecond } from '../jobs/support.js';
import { insertJourney, runsOf, type TrackAnswer } from '../journeys/runs/support.js';

const longDelay = { start: 'd', steps: { d: { type: 'delay', duration: 'P1D' } } };

forEachDialect('events.track across two app instances', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let second: Db;
  let other: FastifyInstance;

  beforeEach(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    second = connectSecond(t.database);
    const deps = createDeps({ config: t.deps.config, db: second, clock: t.clock, ids: t.deps.ids, logger: t.deps.logger, secret: t.deps.secret });
    other = await buildApp(deps);
    await other.ready();
  });
  afterEach(async () => {
    await other.close();
    await second.close();
    await t.close();
  });

  /** Request i goes to app A when even, app B when odd. */
  const appFor = (i: number): FastifyInstance => (i % 2 === 0 ? t.app : other);
  const count = async (table: 'user_events' | 'profiles' | 'idempotency_records') =>
    Number((await t.database.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('organization_id', '=', org.id).executeTakeFirstOrThrow()).n);

  test('one Idempotency-Key, concurrent requests split across both apps → one event; each answer is the 202, its replay, or idempotency_in_progress', async () => {
    const ROUNDS = 8;
    const PER_ROUND = 12;
    // Odd rounds use a Profile that already exists, so only the idempotency record can stop the
    // second app from storing a second event; even rounds a new email, raced on its creation too.
    const existing = await track(t.app, org.key, { event: 'signup', profile: { email: 'known@example.com' } });
    assert.equal(existing.statusCode, 202, existing.body);
    for (let round = 0; round < ROUNDS; round++) {
      const key = idemKey();
      const email = round % 2 === 1 ? 'known@example.com' : `idem-${round}@example.com`;
      const body = { event: 'order.created', profile: { email, properties: { round } }, data: { orderId: `o-${round}` } };
      const responses = await Promise.all(Array.from({ length: PER_ROUND }, (_, i) => track(appFor(i), org.key, body, key)));
      const ok = responses.filter((r) => r.statusCode === 202);
      assert.ok(ok.length >= 1, `round ${round}: no 202 in ${JSON.stringify(responses.map((r) => r.statusCode))}`);
      for (const r of responses) {
        if (r.statusCode === 202) continue;
        assert.equal(r.statusCode, 409, `round ${round}: ${r.statusCode} ${r.body}`);
        assert.equal(json(r).error, 'idempotency_in_progress', r.body);
        assert.equal(r.headers['retry-after'], '1');
      }
      assert.equal(new Set(ok.map((r) => r.body)).size, 1, `round ${round}: every 202 carries the same body`);
      const fresh = ok.filter((r) => r.headers['idempotent-replayed'] === undefined);
      assert.equal(fresh.length, 1, `round ${round}: ${fresh.length} answers claim to be the original (exactly one request ran)`);
      // Afterwards, either app replays the stored answer.
      for (const app of [t.app, other]) {
        const again = await track(app, org.key, body, key);
        assert.equal(again.statusCode, 202);
        assert.equal(again.headers['idempotent-replayed'], 'true');
        assert.equal(again.body, ok[0]!.body);
      }
    }
    assert.equal(await count('user_events'), ROUNDS + 1);
    assert.equal(await count('profiles'), ROUNDS / 2 + 1);
    assert.equal(await count('idempotency_records'), ROUNDS + 1);
  });

  test('the same new email from both apps at once → one Profile, every request answered with its id', async () => {
    for (let round = 0; round < 5; round++) {
      const email = `both-${round}@example.com`;
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) => track(appFor(i), org.key, { event: 'signup', profile: { email: i % 3 === 0 ? `  ${email.toUpperCase()} ` : email }, data: { i } })),
      );
      for (const r of responses) assert.equal(r.statusCode, 202, r.body);
      const ids = new Set(responses.map((r) => json(r).profileId));
      assert.equal(ids.size, 1, `round ${round}: ${JSON.stringify([...ids])}`);
      const rows = await t.database.db.kysely.selectFrom('profiles').select('id').where('organization_id', '=', org.id).where('email', '=', email).execute();
      assert.deepEqual(rows.map((r) => r.id), [...ids]);
    }
    assert.equal(await count('profiles'), 5);
    assert.equal(await count('user_events'), 50);
  });

  test('one new email with two different externalIds from both apps → one Profile; the losers get identity_conflict and write nothing', async () => {
    for (let round = 0; round < 4; round++) {
      const email = `split-${round}@example.com`;
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) => track(appFor(i), org.key, { event: 'signup', profile: { email, externalId: `cus_${round}_${i % 4 < 2 ? 'a' : 'b'}`, properties: { i } } })),
      );
      const won = responses.filter((r) => r.statusCode === 202);
      const lost = responses.filter((r) => r.statusCode !== 202);
      assert.ok(won.length >= 1, JSON.stringify(responses.map((r) => r.body)));
      const profileId = String(json(won[0]!).profileId);
      assert.ok(won.every((r) => json(r).profileId === profileId));
      for (const r of lost) {
        assert.equal(r.statusCode, 409, r.body);
        assert.equal(json(r).error, 'identity_conflict');
        assert.deepEqual(json(r).details, { byExternalId: null, byEmail: profileId });
      }
      const profile = await t.database.db.kysely.selectFrom('profiles').selectAll().where('organization_id', '=', org.id).where('email', '=', email).execute();
      assert.equal(profile.length, 1);
      // Every 202 named the externalId the Profile ended with; the other one was written nowhere.
      const winners = new Set(won.map((r) => responses.indexOf(r) % 4 < 2 ? 'a' : 'b'));
      assert.equal(winners.size, 1, 'only requests of one externalId were accepted');
      assert.equal(profile[0]!.external_id, `cus_${round}_${[...winners][0]}`);
      const events = await t.database.db.kysely.selectFrom('user_events').select('id').where('profile_id', '=', profileId).execute();
      assert.equal(events.length, won.length);
    }
  });

  test('property writes with different occurredAt from both apps → the newest occurredAt wins, whatever the commit order', async () => {
    const base = Date.parse('2026-05-31T10:00:00.000Z');
    const created = await track(t.app, org.key, { event: 'signup', profile: { email: 'lww-x@example.com' } });
    const profileId = String(json(created).profileId);
    for (let round = 0; round < 4; round++) {
      // Request i carries occurredAt base+i minutes; the newest is sent from a shuffled position.
      const order = Array.from({ length: 10 }, (_, i) => (i * 7 + round * 3) % 10);
      const responses = await Promise.all(
        order.map((i, position) =>
          track(appFor(position), org.key, {
            event: 'plan.changed',
            profile: { email: 'lww-x@example.com', properties: { plan: `r${round}-v${i}` } },
            occurredAt: new Date(base + round * 3_600_000 + i * 60_000).toISOString(),
          }),
        ),
      );
      for (const r of responses) assert.equal(r.statusCode, 202, r.body);
      const row = await t.database.db.kysely.selectFrom('profile_properties').selectAll().where('profile_id', '=', profileId).where('key', '=', 'plan').executeTakeFirstOrThrow();
      assert.equal(JSON.parse(row.value_json), `r${round}-v9`);
      assert.equal(row.updated_at, base + round * 3_600_000 + 9 * 60_000);
    }
  });

  test('once_per_key duplicates from both apps → exactly one run; every answer matched 1 and enrolled or skipped', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'checkout.started' }, eligibility: { reEntry: 'once_per_key', key: '/event/cartId' }, ...longDelay });
    const send = (i: number, email: string, cartId: string): Promise<LightMyRequestResponse> =>
      track(appFor(i), org.key, { event: 'checkout.started', profile: { email }, data: { cartId } }, idemKey());
    let runs = 0;
    for (let round = 0; round < 4; round++) {
      // A Profile new to both apps, so its creation is raced too.
      const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i, `cart-${round}@example.com`, 'c1')));
      for (const r of responses) assert.equal(r.statusCode, 202, r.body);
      const answers = responses.map((r) => json(r) as unknown as TrackAnswer);
      assert.equal(new Set(answers.map((a) => a.profileId)).size, 1);
      assert.ok(answers.every((a) => a.matchedJourneys === 1 && a.enrolledJourneys + a.skippedJourneys === 1), JSON.stringify(answers));
      assert.equal(answers.reduce((n, a) => n + a.enrolledJourneys, 0), 1, `round ${round}`);
      runs++;
      assert.equal((await runsOf(t, org, journey.id, '?limit=100')).length, runs);
    }
  });
});
