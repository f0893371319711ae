/**
 * events.track for a group of requests in one transaction (`trackEvents`) against the same
 * requests run one by one through `trackEvent`, on a real database: every scenario runs both ways
 * in two organizations with the same history, and the stored Profiles, identities, properties,
 * events and the answers must be the same. Groups the set-wise path takes must cost a fixed
 * number of statements; groups it hands back (identity changes, a phone mirror, journeys in play)
 * must still come out the same. Also: the journeys check on its own, and concurrent HTTP requests.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KyselyPlugin, Transaction } from 'kysely';
import type { Database } from '../../src/db/tables.js';
import { trackEvent, type TrackInput } from '../../src/modules/events/events.service.js';
import { trackEvents } from '../../src/modules/events/track-many.js';
import { anyEventTouchpoint } from '../../src/modules/journeys/runs/runs.store.js';
import { resolveProfile } from '../../src/modules/profiles/profiles.service.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { insertJourney } from '../journeys/runs/support.js';

const T0 = Date.parse('2026-05-31T12:00:00.000Z');
const exitNow = { start: 'done', steps: { done: { type: 'exit' } } };

/** An input of organization `org`; `ref` names the event in snapshots (ids differ between the two runs). */
type Spec = Omit<TrackInput, 'organizationId' | 'data' | 'redactedPaths' | 'referenceId' | 'receivedAt' | 'occurredAt'> & { ref: string; at?: number };

function inputOf(org: string, spec: Spec): TrackInput {
  const { ref, at, ...rest } = spec;
  return { ...rest, organizationId: org, data: { ref }, redactedPaths: [], referenceId: ref, occurredAt: at ?? T0, receivedAt: T0 };
}

/** Counts the statements run through a transaction. */
function counted(trx: Transaction<Database>): { trx: Transaction<Database>; count: () => number } {
  let n = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      n++;
      return args.result;
    },
  };
  return { trx: trx.withPlugin(plugin), count: () => n };
}

forEachDialect('events.track in groups', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp(dialect);
  });
  after(() => t.close());
  const db = () => t.database.db.kysely;

  /** Everything events.track writes for `org`, with ids replaced by emails and event references. */
  async function snapshot(org: string): Promise<unknown> {
    const profiles = await db().selectFrom('profiles').selectAll().where('organization_id', '=', org).execute();
    const emailOf = new Map(profiles.map((p) => [p.id, p.email]));
    const events = await db().selectFrom('user_events').selectAll().where('organization_id', '=', org).execute();
    const refOf = new Map(events.map((e) => [e.id, e.reference_id]));
    const identities = await db().selectFrom('profile_identities').selectAll().where('organization_id', '=', org).execute();
    const properties = await db().selectFrom('profile_properties').selectAll().where('organization_id', '=', org).execute();
    const sort = <T>(rows: T[]) => rows.map((r) => JSON.stringify(r)).sort();
    return {
      profiles: sort(profiles.map(({ id: _id, organization_id: _o, ...p }) => ({ ...p, created_at: Number(p.created_at), updated_at: Number(p.updated_at) }))),
      identities: sort(identities.map((i) => ({ kind: i.kind, value: i.value, email: emailOf.get(i.profile_id), created_at: Number(i.created_at) }))),
      properties: sort(properties.map((p) => ({ email: emailOf.get(p.profile_id), key: p.key, value: p.value_json, source: p.source, at: Number(p.updated_at), event: refOf.get(p.event_id ?? '') }))),
      events: sort(events.map((e) => ({ email: emailOf.get(e.profile_id ?? ''), event: e.event, data: e.data, ref: e.reference_id, at: Number(e.occurred_at), source: e.source }))),
    };
  }

  /** The answers with ids replaced the same way. */
  async function answers(org: string, results: Awaited<ReturnType<typeof trackEvents>>): Promise<unknown[]> {
    const profiles = await db().selectFrom('profiles').select(['id', 'email']).where('organization_id', '=', org).execute();
    const events = await db().selectFrom('user_events').select(['id', 'reference_id']).where('organization_id', '=', org).execute();
    const emailOf = new Map(profiles.map((p) => [p.id, p.email]));
    const refOf = new Map(events.map((e) => [e.id, e.reference_id]));
    return results.map((r) => {
      if (!r.ok) {
        const e = r.error as Record<string, unknown>;
        return { error: { ...e, ...('byEmail' in e ? { byEmail: emailOf.get(String(e.byEmail)) } : {}), ...(e.byExternalId ? { byExternalId: emailOf.get(String(e.byExternalId)) } : {}) } };
      }
      const { eventId, profileId, ...counts } = r.value;
      return { email: emailOf.get(profileId), ref: refOf.get(eventId), ...counts };
    });
  }

  /**
   * Runs `history` one by one in two fresh organizations, then `group` as one group in the first
   * and one by one in the second; asserts the same outcome and returns the group's statement count.
   */
  async function compare(history: Spec[], group: Spec[], setup?: (org: string) => Promise<void>): Promise<number> {
    const grouped = await t.newOrg();
    const single = await t.newOrg();
    for (const org of [grouped, single]) {
      await setup?.(org.id);
      for (const spec of history) await db().transaction().execute((trx) => trackEvent(trx, t.deps, inputOf(org.id, spec)));
    }
    // Later than the history, so a Profile the group touches shows it.
    t.clock.advance(1000);
    let statements = 0;
    const groupResults = await db()
      .transaction()
      .execute(async (trx) => {
        const c = counted(trx);
        const out = await trackEvents(c.trx, t.deps, group.map((spec) => inputOf(grouped.id, spec)));
        statements = c.count();
        return out;
      });
    const singleResults = await db()
      .transaction()
      .execute(async (trx) => {
        const out = [];
        for (const spec of group) out.push(await trackEvent(trx, t.deps, inputOf(single.id, spec)));
        return out;
      });
    assert.deepEqual(await answers(grouped.id, groupResults), await answers(single.id, singleResults));
    assert.deepEqual(await snapshot(grouped.id), await snapshot(single.id));
    return statements;
  }

  const history: Spec[] = [
    { ref: 'h1', event: 'signed.up', email: 'e1@example.com', externalId: 'x1', properties: { plan: 'free' }, at: T0 - 100 },
    { ref: 'h2', event: 'signed.up', email: 'e2@example.com', properties: { a: 1 }, at: T0 - 200 },
  ];

  test('a group of new and known Profiles, repeats, last-write-wins and identity errors: same outcome, a fixed number of statements', async () => {
    const group: Spec[] = [
      { ref: 'g1', event: 'e', email: 'n1@example.com', properties: { plan: 'a', phone: '+15550100' }, at: T0 - 150 },
      { ref: 'g2', event: 'e', email: 'n1@example.com', properties: { plan: 'b', c: 1 }, at: T0 - 160 },
      { ref: 'g3', event: 'e', email: 'n1@example.com', properties: { plan: 'c' }, at: T0 - 150 },
      { ref: 'g4', event: 'e', externalId: 'x1', properties: { plan: 'pro' }, at: T0 - 300 },
      { ref: 'g5', event: 'e', email: 'e1@example.com', externalId: 'x1', properties: { plan: 'max' }, at: T0 - 100 },
      { ref: 'g6', event: 'f', email: 'e2@example.com' },
      { ref: 'g7', event: 'f', email: 'e2@example.com', properties: {} },
      { ref: 'g8', event: 'f', email: 'n2@example.com', externalId: 'x2', properties: { z: null } },
      { ref: 'g9', event: 'f', externalId: 'x2', properties: { z: 'later' }, at: T0 + 1 },
      { ref: 'g10', event: 'f', email: 'e2@example.com', externalId: 'x1' },
      { ref: 'g11', event: 'f', externalId: 'x404' },
      { ref: 'g12', event: 'f', email: 'e1@example.com', externalId: 'x9' },
      { ref: 'g13', event: 'f', email: 'e2@example.com', properties: { a: 2 }, at: T0 - 200 },
    ];
    const statements = await compare(history, group);
    assert.ok(statements <= 10, `the group ran ${statements} statements`);
  });

  test('a group whose properties exceed one statement\'s parameter limit on either database is written in several', async () => {
    // 40 Profiles × 256 properties × 7 columns = 71,680 parameters (SQLite allows 32,766, PostgreSQL 65,535).
    const properties = Object.fromEntries(Array.from({ length: 256 }, (_, k) => [`p${k}`, k]));
    const group: Spec[] = Array.from({ length: 48 }, (_, i) => ({ ref: `g${i}`, event: 'e', email: `big${i % 40}@example.com`, properties, at: T0 + i }));
    await compare(history, group);
  });

  test('the Profiles a group reads may come from another organization with the same emails, never its rows', async () => {
    const other = await t.newOrg();
    await db().transaction().execute((trx) => trackEvent(trx, t.deps, inputOf(other.id, { ref: 'o1', event: 'e', email: 'n1@example.com', externalId: 'x1' })));
    assert.ok((await compare([], [{ ref: 'g1', event: 'e', email: 'n1@example.com' }, { ref: 'g2', event: 'e', externalId: 'x1' }])) <= 10);
  });

  for (const [name, group, setup] of [
    ['an email change', [{ ref: 'g1', event: 'e', email: 'changed@example.com', externalId: 'x1' }, { ref: 'g2', event: 'e', email: 'changed@example.com' }]],
    ['an externalId added to a Profile', [{ ref: 'g1', event: 'e', email: 'e2@example.com', externalId: 'x2' }, { ref: 'g2', event: 'e', externalId: 'x2' }]],
    ['a phone for a known Profile', [{ ref: 'g1', event: 'e', email: 'e2@example.com', properties: { phone: '+15550199' } }, { ref: 'g2', event: 'e', email: 'n@example.com' }]],
    [
      'a Profile without the api source',
      [{ ref: 'g1', event: 'e', email: 'imported@example.com', properties: { p: 1 } }, { ref: 'g2', event: 'e', email: 'n@example.com' }],
      async (org: string) => {
        await db().transaction().execute((trx) => resolveProfile(trx, t.deps, org, { email: 'imported@example.com' }, 'csv_import'));
      },
    ],
    [
      'a journey entered by one of the events',
      [{ ref: 'g1', event: 'order.created', email: 'e2@example.com' }, { ref: 'g2', event: 'other', email: 'n@example.com' }, { ref: 'g3', event: 'order.created', email: 'n@example.com' }],
      async (org: string) => {
        await insertJourney(t, org, { entry: { type: 'event', event: 'order.created' }, ...exitNow });
      },
    ],
  ] as [string, Spec[], ((org: string) => Promise<void>)?][]) {
    test(`a group with ${name} is run item by item, with the same outcome`, async () => {
      // Six more plain items: item by item they cost at least three statements each.
      const filler: Spec[] = Array.from({ length: 6 }, (_, i) => ({ ref: `f${i}`, event: 'e', email: `filler${i}@example.com` }));
      const statements = await compare(history, [...group, ...filler], setup);
      assert.ok(statements > 18, `expected the item-by-item path, ran ${statements} statements`);
    });
  }

  test('the journeys check: Active journeys of the names, live runs and waits of the Profiles', async () => {
    const org = await t.newOrg();
    const other = await t.newOrg();
    await insertJourney(t, org.id, { entry: { type: 'event', event: 'cart.started' }, ...exitNow });
    await insertJourney(t, org.id, { entry: { type: 'event', event: 'paused.event' }, ...exitNow }, { status: 'Paused' });
    const enrolled = json(await track(t.app, org.key, { event: 'cart.started', profile: { email: 'p@example.com' } }));
    assert.equal(enrolled.enrolledJourneys, 1);
    const p = String(enrolled.profileId);
    const q = String(json(await track(t.app, org.key, { event: 'x', profile: { email: 'q@example.com' } })).profileId);
    const check = (orgId: string, events: string[], ids: string[]) => anyEventTouchpoint(db(), orgId, events, ids);
    assert.equal(await check(org.id, ['cart.started'], []), true);
    assert.equal(await check(other.id, ['cart.started'], [p]), false);
    assert.equal(await check(org.id, ['paused.event', 'nothing'], [q]), false);
    assert.equal(await check(org.id, ['nothing'], [q, p]), true, 'the run of p is live (queued)');
    await db().updateTable('journey_runs').set({ status: 'completed' }).where('profile_id', '=', p).execute();
    assert.equal(await check(org.id, ['nothing'], [q, p]), false);
    const run = await db().selectFrom('journey_runs').select('id').where('profile_id', '=', p).executeTakeFirstOrThrow();
    await db()
      .insertInto('journey_waits')
      .values({ run_id: run.id, step_id: 'w', organization_id: org.id, profile_id: q, event: 'order.completed', status: 'waiting', entered_at: T0, deadline: T0 + 1 })
      .execute();
    assert.equal(await check(org.id, ['order.completed'], [q]), true);
    assert.equal(await check(org.id, ['order.other'], [q]), false);
    await db().updateTable('journey_waits').set({ status: 'matched' }).where('run_id', '=', run.id).execute();
    assert.equal(await check(org.id, ['order.completed'], [q]), false);
  });

  test('concurrent requests answer as they would alone; replays and reused keys inside a group', async () => {
    const org: TestOrg = await t.newOrg();
    const usedKey = idemKey();
    const first = await track(t.app, org.key, { event: 'e', profile: { email: 'first@example.com' } }, usedKey);
    assert.equal(first.statusCode, 202);
    const requests = [
      ...Array.from({ length: 20 }, (_, i) => ({ body: { event: 'e', profile: { email: `c${i % 7}@example.com`, properties: { i } } }, key: idemKey() })),
      { body: { event: 'e', profile: { email: 'first@example.com' } }, key: usedKey },
      { body: { event: 'e', profile: { email: 'other@example.com' } }, key: usedKey },
      { body: { event: '', profile: { email: 'bad@example.com' } }, key: idemKey() },
      { body: { event: 'e', profile: { externalId: 'nobody' } }, key: idemKey() },
    ];
    const responses = await Promise.all(requests.map((r) => track(t.app, org.key, r.body, r.key)));
    const codes = responses.map((r) => r.statusCode);
    // The two with the same key: one replays the first answer, the other is refused (in progress or reused).
    assert.deepEqual(codes.slice(0, 20), Array.from({ length: 20 }, () => 202));
    const sameKey = responses.slice(20, 22);
    assert.ok(sameKey.some((r) => r.statusCode === 202 && r.body === first.body && r.headers['idempotent-replayed'] === 'true'));
    assert.ok(
      sameKey.some((r) => r.statusCode === 409 && ['idempotency_key_reuse', 'idempotency_in_progress'].includes(String(json(r).error))),
      `got ${sameKey.map((r) => `${r.statusCode} ${r.body}`).join(', ')}`,
    );
    assert.equal(codes[22], 400);
    assert.equal(json(responses[23]!).error, 'profile_not_found');
    const events = await db().selectFrom('user_events').select('profile_id').where('organization_id', '=', org.id).execute();
    assert.equal(events.length, 21);
    const profiles = await db().selectFrom('profiles').select('email').where('organization_id', '=', org.id).execute();
    assert.equal(profiles.length, 8, 'one Profile per distinct email, however the group repeats them');
    // Every answer is stored: each replays byte for byte.
    for (const [i, r] of requests.entries()) {
      if (i === 21) continue;
      const again = await track(t.app, org.key, r.body, r.key);
      assert.equal(again.body, i === 20 ? first.body : responses[i]!.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
    }
  });
});
