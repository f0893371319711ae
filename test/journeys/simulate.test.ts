/**
 * Journey simulation (journeys.md §9, §10 example 8): the abandoned cart with and without the
 * order, the entry filter, delay + update_profile feeding a later branch, exitOn, `until`,
 * request checks, and that nothing is written.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method, url, headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
}

const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: [] } } };

const cart = (templateId: string, groupId: string) => ({
  entry: { type: 'event', event: 'checkout.started', filter: { path: '/event/total', op: 'gte', value: 20 } },
  eligibility: { reEntry: 'once_per_key', key: '/event/cartId' },
  exitOn: [{ event: 'account.closed' }],
  start: 'wait_order',
  steps: {
    wait_order: { type: 'wait_for_event', event: 'order.completed', filter: { path: '/candidate/cartId', op: 'eq', value: { $state: '/event/cartId' } }, timeout: 'PT1H', onEvent: 'done', onTimeout: 'remind' },
    remind: { type: 'send_email', templateId, subscriptionGroupId: groupId, next: 'done' },
    done: { type: 'exit' },
  },
});

const AT = '2026-06-02T10:00:00.000Z';
const simBody = (extra: Record<string, unknown> = {}) => ({
  definition: null,
  profileId: null,
  profile: { email: 'sim@example.com', properties: { firstName: 'Sam' } },
  trigger: { at: AT, event: 'checkout.started', data: { cartId: 'c1', total: 80 } },
  events: [{ at: '2026-06-02T10:20:00.000Z', event: 'order.completed', data: { cartId: 'c1' } }],
  until: null,
  assume: { subscribed: true, suppressed: false },
  ...extra,
});

interface Sim {
  enrolled: boolean;
  skipReason: string | null;
  status: string | null;
  endedAt: string | null;
  path: { stepId: string; type: string; status: string; reason: string | null; enteredAt: string; completedAt: string | null; outcome: unknown }[];
  emails: { stepId: string; at: string; templateId: string; templateSnapshotId: string | null; subject: string | null; to: string | null; skipReason: string | null }[];
  profileUpdates: { stepId: string; at: string; properties: Record<string, unknown> }[];
}

forEachDialect('journey simulation', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  let snapshotId: string;
  let groupId: string;
  let journeyId: string;

  async function rowCounts(): Promise<Record<string, number>> {
    const db = t.database.db.kysely;
    const counts: Record<string, number> = {};
    for (const table of ['journey_runs', 'journey_run_steps', 'user_events', 'email_sends', 'profiles', 'profile_properties', 'jobs'] as const) {
      const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow();
      counts[table] = Number(row.n);
    }
    return counts;
  }

  async function simulate(body: unknown, id = journeyId) {
    return call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/simulate`, body);
  }

  async function newJourney(definition: unknown): Promise<string> {
    const res = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: `sim-${Math.random().toString(36).slice(2)}`, name: 'Sim', definition });
    assert.equal(res.statusCode, 201, res.body);
    return String(json(res).id);
  }

  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    const tpl = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Reminder', purpose: 'Promotional', definition: { subject: { $template: 'Your cart ${/event/cartId}, ${/profile/firstName}' }, body: BODY } }));
    templateId = String(tpl.id);
    const published = await call(t.app, org.key, 'POST', `/api/v1/templates/${templateId}/publish`);
    assert.equal(published.statusCode, 200, published.body);
    const current = json(await call(t.app, org.key, 'GET', `/api/v1/templates/${templateId}`));
    snapshotId = String(current.currentSnapshotId);
    groupId = String(json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Cart reminders', type: 'OptOut' })).id);
    journeyId = await newJourney(cart(templateId, groupId));
  });
  after(() => t.close());

  test('§10 example 8: order at +20 min → event_received, no email; nothing written', async () => {
    const before = await rowCounts();
    const res = await simulate(simBody());
    assert.equal(res.statusCode, 200, res.body);
    const sim = json(res) as unknown as Sim;
    assert.equal(sim.enrolled, true);
    assert.equal(sim.skipReason, null);
    assert.equal(sim.status, 'completed');
    assert.equal(sim.endedAt, '2026-06-02T10:20:00.000Z');
    assert.deepEqual(sim.path, [
      { stepId: 'wait_order', type: 'wait_for_event', status: 'completed', reason: 'event_received', enteredAt: AT, completedAt: '2026-06-02T10:20:00.000Z', outcome: { matchedEventIndex: 0 } },
      { stepId: 'done', type: 'exit', status: 'completed', reason: null, enteredAt: '2026-06-02T10:20:00.000Z', completedAt: '2026-06-02T10:20:00.000Z', outcome: null },
    ]);
    assert.deepEqual(sim.emails, []);
    assert.deepEqual(sim.profileUpdates, []);
    assert.deepEqual(await rowCounts(), before);
  });

  test('no matching order (other cart) → timed_out, remind renders its subject, completed', async () => {
    const before = await rowCounts();
    const res = await simulate(simBody({ events: [{ at: '2026-06-02T10:20:00.000Z', event: 'order.completed', data: { cartId: 'c2' } }] }));
    assert.equal(res.statusCode, 200, res.body);
    const sim = json(res) as unknown as Sim;
    assert.equal(sim.status, 'completed');
    assert.deepEqual(sim.path.map((p) => [p.stepId, p.status, p.reason]), [['wait_order', 'completed', 'timed_out'], ['remind', 'completed', null], ['done', 'completed', null]]);
    assert.equal(sim.path[0]!.completedAt, '2026-06-02T11:00:00.000Z');
    assert.deepEqual(sim.emails, [{ stepId: 'remind', at: '2026-06-02T11:00:00.000Z', templateId, templateSnapshotId: snapshotId, subject: 'Your cart c1, Sam', to: 'sim@example.com', skipReason: null }]);
    assert.equal(sim.endedAt, '2026-06-02T11:00:00.000Z');
    // assume.subscribed false → the send is skipped, the run still continues.
    const unsubscribed = json(await simulate(simBody({ events: [], assume: { subscribed: false } }))) as unknown as Sim;
    assert.equal(unsubscribed.emails[0]!.skipReason, 'not_subscribed');
    assert.deepEqual(unsubscribed.path.map((p) => p.status), ['completed', 'skipped', 'completed']);
    assert.equal(unsubscribed.status, 'completed');
    assert.deepEqual(await rowCounts(), before);
  });

  test('entry filter false → enrolled:false, filter_false; until before the deadline → running', async () => {
    const skipped = json(await simulate(simBody({ trigger: { at: AT, data: { cartId: 'c1', total: 5 } } }))) as unknown as Sim;
    assert.deepEqual(skipped, { enrolled: false, skipReason: 'filter_false', status: null, endedAt: null, path: [], emails: [], profileUpdates: [] });
    const running = json(await simulate(simBody({ events: [], until: '2026-06-02T10:30:00.000Z' }))) as unknown as Sim;
    assert.equal(running.status, 'running');
    assert.equal(running.endedAt, null);
    assert.deepEqual(running.path.map((p) => [p.stepId, p.status, p.completedAt]), [['wait_order', 'waiting', null]]);
  });

  test('exitOn event during the wait → exited, the current step skipped run_exited', async () => {
    const sim = json(await simulate(simBody({ events: [{ at: '2026-06-02T10:10:00.000Z', event: 'account.closed', data: {} }, { at: '2026-06-02T10:20:00.000Z', event: 'order.completed', data: { cartId: 'c1' } }] }))) as unknown as Sim;
    assert.equal(sim.status, 'exited');
    assert.equal(sim.endedAt, '2026-06-02T10:10:00.000Z');
    assert.deepEqual(sim.path.map((p) => [p.stepId, p.status, p.reason]), [['wait_order', 'skipped', 'run_exited']]);
    assert.deepEqual(sim.emails, []);
  });

  test('unsaved definition: delay + update_profile (profileUpdates) steer a later branch', async () => {
    const definition = {
      entry: { type: 'event', event: 'checkout.started' },
      start: 'pause',
      steps: {
        pause: { type: 'delay', duration: 'P1D', next: 'mark' },
        mark: { type: 'update_profile', properties: { tier: 'gold', lastCart: { $state: '/event/cartId' }, missing: { $state: '/event/nope' } }, next: 'check' },
        check: { type: 'branch', condition: { path: '/profile/tier', op: 'eq', value: 'gold' }, then: 'remind', else: 'done' },
        remind: { type: 'send_email', templateId, subscriptionGroupId: groupId, next: 'done' },
        done: { type: 'exit' },
      },
    };
    const before = await rowCounts();
    const res = await simulate({ definition, profile: { email: 'p@example.com', properties: { firstName: 'Pat' } }, trigger: { at: AT, data: { cartId: 'k9', total: 1 } } });
    assert.equal(res.statusCode, 200, res.body);
    const sim = json(res) as unknown as Sim;
    assert.equal(sim.status, 'completed');
    assert.deepEqual(sim.path.map((p) => [p.stepId, p.reason, p.outcome]), [
      ['pause', 'delay_elapsed', { until: '2026-06-03T10:00:00.000Z' }],
      ['mark', null, { properties: ['tier', 'lastCart'], skippedKeys: ['missing'] }],
      ['check', null, { branch: 'then' }],
      ['remind', null, { emailIndex: 0 }],
      ['done', null, null],
    ]);
    assert.deepEqual(sim.profileUpdates, [{ stepId: 'mark', at: '2026-06-03T10:00:00.000Z', properties: { tier: 'gold', lastCart: 'k9' } }]);
    // A synthetic Profile in an OptOut group is subscribed.
    assert.equal(sim.emails[0]!.subject, 'Your cart k9, Pat');
    assert.equal(sim.emails[0]!.skipReason, null);
    assert.equal(sim.emails[0]!.at, '2026-06-03T10:00:00.000Z');
    assert.deepEqual(await rowCounts(), before);
  });

  test('as the real run: update_profile of phone steers a branch on /profile/phone; a missing once_per_key key is entry_key_missing', async () => {
    const definition = {
      entry: { type: 'event', event: 'checkout.started' },
      eligibility: { reEntry: 'once_per_key', key: '/event/cartId' },
      start: 'mark',
      steps: {
        mark: { type: 'update_profile', properties: { phone: '+15550001' }, next: 'check' },
        check: { type: 'branch', condition: { path: '/profile/phone', op: 'eq', value: '+15550001' }, then: 'done', else: 'done' },
        done: { type: 'exit' },
      },
    };
    const phoned = json(await simulate({ definition, profile: { email: 'ph@example.com' }, trigger: { at: AT, data: { cartId: 'k1' } } })) as unknown as Sim;
    assert.deepEqual(phoned.path.find((p) => p.stepId === 'check')?.outcome, { branch: 'then' });
    // A phone given as a property of the simulated Profile shows at /profile/phone too.
    const given = { ...definition, start: 'check', steps: { check: definition.steps.check, done: definition.steps.done } };
    const overlaid = json(await simulate({ definition: given, profile: { email: 'ph@example.com', properties: { phone: '+15550001' } }, trigger: { at: AT, data: { cartId: 'k1' } } })) as unknown as Sim;
    assert.deepEqual(overlaid.path[0]?.outcome, { branch: 'then' });
    const noKey = json(await simulate({ definition, profile: { email: 'ph@example.com' }, trigger: { at: AT, data: { total: 50 } } })) as unknown as Sim;
    assert.deepEqual([noKey.enrolled, noKey.skipReason, noKey.status, noKey.path.length], [false, 'entry_key_missing', null, 0]);
  });

  test('a real Profile: its properties and suppression apply unless assumed', async () => {
    const tracked = await call(t.app, org.key, 'POST', '/api/v1/events', { event: 'page.viewed', profile: { email: 'real@example.com', properties: { firstName: 'Riley' } }, data: {} }, { 'idempotency-key': `sim-${Math.random()}` });
    assert.equal(tracked.statusCode, 202, tracked.body);
    const profileId = String(json(tracked).profileId);
    assert.equal((await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'real@example.com' })).statusCode < 300, true);
    const before = await rowCounts();
    const base = { profileId, trigger: { at: AT, data: { cartId: 'c7', total: 30 } } };
    const suppressed = json(await simulate(base)) as unknown as Sim;
    assert.deepEqual(suppressed.emails.map((e) => [e.to, e.subject, e.skipReason]), [['real@example.com', 'Your cart c7, Riley', 'suppressed_manual']]);
    const assumed = json(await simulate({ ...base, assume: { suppressed: false } })) as unknown as Sim;
    assert.equal(assumed.emails[0]!.skipReason, null);
    assert.deepEqual(await rowCounts(), before);
  });

  test('request checks: 400 pointers, 422 semantics, 404, scope journeys:read', async () => {
    const wrongEvent = await simulate(simBody({ trigger: { at: AT, event: 'other', data: {} } }));
    assert.equal(wrongEvent.statusCode, 400);
    assert.equal((json(wrongEvent).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/trigger/event');
    const early = await simulate(simBody({ events: [{ at: '2026-06-01T10:00:00.000Z', event: 'x', data: {} }] }));
    assert.equal(early.statusCode, 400);
    assert.equal((json(early).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/events/0/at');
    const far = await simulate(simBody({ until: '2027-08-01T00:00:00.000Z' }));
    assert.equal(far.statusCode, 400);
    assert.equal((json(far).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/until');
    const tooMany = await simulate(simBody({ events: Array.from({ length: 101 }, () => ({ at: AT, event: 'x', data: {} })) }));
    assert.equal(tooMany.statusCode, 400);
    const badAt = await simulate(simBody({ trigger: { at: 'yesterday' } }));
    assert.equal(badAt.statusCode, 400);
    const malformed = await simulate(simBody({ definition: { ...cart(templateId, groupId), steps: { s: { type: 'delay', duration: 'P1Y' } }, start: 's' } }));
    assert.equal(malformed.statusCode, 400);
    assert.equal((json(malformed).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/definition/steps/s/duration');
    const def = cart(templateId, groupId) as { steps: Record<string, Record<string, unknown>> };
    def.steps.remind!.next = 'nowhere';
    const invalid = await simulate(simBody({ definition: def }));
    assert.equal(invalid.statusCode, 422);
    assert.equal((json(invalid).details as { reason: string }).reason, 'invalid_definition');
    const missing = await simulate(simBody(), '0190f600-0000-7000-8000-000000000000');
    assert.equal(missing.statusCode, 404);
    const noProfile = await simulate(simBody({ profileId: '0190f600-0000-7000-8000-000000000000' }));
    assert.equal(noProfile.statusCode, 422, noProfile.body);
    assert.equal(json(noProfile).error, 'profile_not_found');
    const notAnId = await simulate(simBody({ profileId: 'abc' }));
    assert.equal(notAnId.statusCode, 400);
    assert.equal((json(notAnId).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/profileId');
    const readOnly = await org.keyWith(['journeys:read']);
    assert.equal((await call(t.app, readOnly, 'POST', `/api/v1/journeys/${journeyId}/simulate`, simBody())).statusCode, 200);
    const noScope = await org.keyWith(['events:write']);
    assert.equal((await call(t.app, noScope, 'POST', `/api/v1/journeys/${journeyId}/simulate`, simBody())).statusCode, 403);
  });
});
