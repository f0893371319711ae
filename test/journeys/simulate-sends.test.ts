/**
 * Journey simulation (journeys.md §9) agrees with the real run on two things the real run decides
 * elsewhere: send_email steps skipped by the sender rules (emails.md §1.1 step 3–4 — a sender on
 * an unverified Domain, from the step or the template, or a rendered `from` no SenderProfile has)
 * are `sender_not_verified` in the simulated path too; and `redactedDataPaths` on the trigger and
 * on later events are removed as events.track removes them (events.md §5), so neither conditions
 * nor the simulated emails' `/event/*` and `/waited/*` state ever see the redacted values.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';
import { getRun, newWorker, runsOf } from './runs/support.js';

const AT = '2026-06-02T10:00:00.000Z';
const SECRET = 'tok_live_SIMULATED_SECRET_77';
const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: [] } } };

interface SimEmail {
  stepId: string;
  subject: string | null;
  skipReason: string | null;
}
interface Sim {
  status: string | null;
  path: { stepId: string; status: string; reason: string | null }[];
  emails: SimEmail[];
  profileUpdates: { stepId: string; properties: Record<string, unknown> }[];
}

forEachDialect('journey simulation: sender rules and redaction', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let unverifiedSender: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    // A second Domain, never verified, with a SenderProfile on it (not the default).
    const domain = await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'unverified.example' });
    assert.equal(domain.statusCode, 201, domain.body);
    const sender = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'Shady', email: 'shady@unverified.example' });
    assert.equal(sender.statusCode, 201, sender.body);
    assert.equal(json(sender).isDefault, false);
    unverifiedSender = String(json(sender).id);
  });
  after(() => t.close());

  async function template(definition: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: `T ${Math.random()}`, purpose: 'Transactional', definition: { body: BODY, ...definition }, ...extra });
    assert.equal(res.statusCode, 201, res.body);
    const id = String(json(res).id);
    const published = await call(t.app, org.key, 'POST', `/api/v1/templates/${id}/publish`);
    assert.equal(published.statusCode, 200, published.body);
    return id;
  }

  async function journey(definition: unknown): Promise<string> {
    const res = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: `sim-${Math.random().toString(36).slice(2)}`, name: 'Sim', definition });
    assert.equal(res.statusCode, 201, res.body);
    return String(json(res).id);
  }

  const simulate = async (journeyId: string, body: unknown) => {
    const res = await call(t.app, org.key, 'POST', `/api/v1/journeys/${journeyId}/simulate`, body);
    assert.equal(res.statusCode, 200, res.body);
    return { sim: json(res) as unknown as Sim, raw: res.body };
  };

  test('sender rules: step override or template sender on an unverified Domain, or a rendered from nobody owns → sender_not_verified, as the real run', async () => {
    const plain = await template({ subject: 'Plain' });
    const templateSender = await template({ subject: 'Template sender' }, { senderProfileId: unverifiedSender });
    const renderedFrom = await template({ subject: 'Rendered from', from: { $template: 'Shop <${/event/fromEmail}>' } });
    const definition = {
      entry: { type: 'event', event: 'sender.test' },
      start: 'override',
      steps: {
        override: { type: 'send_email', templateId: plain, senderProfileId: unverifiedSender, next: 'fromTemplate' },
        fromTemplate: { type: 'send_email', templateId: templateSender, next: 'fromRendered' },
        fromRendered: { type: 'send_email', templateId: renderedFrom, next: 'fine' },
        fine: { type: 'send_email', templateId: plain },
      },
    };
    const journeyId = await journey(definition);
    const data = { fromEmail: 'nobody@example.test' };
    const { sim } = await simulate(journeyId, { profile: { email: 'sender@example.com' }, trigger: { at: AT, data } });
    assert.equal(sim.status, 'completed', 'a skipped send does not stop the run');
    const expected = [
      ['override', 'skipped', 'sender_not_verified'],
      ['fromTemplate', 'skipped', 'sender_not_verified'],
      ['fromRendered', 'skipped', 'sender_not_verified'],
      ['fine', 'completed', null],
    ];
    assert.deepEqual(sim.path.map((p) => [p.stepId, p.status, p.reason]), expected);
    assert.deepEqual(sim.emails.map((e) => [e.stepId, e.skipReason]), expected.map(([stepId, , reason]) => [stepId, reason]));
    assert.equal(sim.emails[0]!.subject, 'Plain', 'a skipped email still shows what it would have said');

    // The real run, through events.track and the worker, takes the same path.
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/journeys/${journeyId}/activate`)).statusCode, 200);
    const tracked = await call(t.app, org.key, 'POST', '/api/v1/events', { event: 'sender.test', profile: { email: 'sender@example.com' }, data }, { 'idempotency-key': idemKey() });
    assert.equal(tracked.statusCode, 202, tracked.body);
    await newWorker(t).runner.runDueJobsOnce();
    const run = await getRun(t, org, (await runsOf(t, org, journeyId))[0]!.runId);
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason]), expected);
  });

  test('redactedDataPaths on the trigger and on events: conditions, /event and /waited state and the emails never see the values', async () => {
    const orderMail = await template({ subject: { $template: 'Order ${/event/orderId} [${/event/payment/token}]' } });
    const paidMail = await template({ subject: { $template: 'Paid ${/waited/w/ref} [${/waited/w/cvv}]' } });
    const journeyId = await journey({
      entry: { type: 'event', event: 'order.created', filter: { not: { path: '/event/payment/token', op: 'exists' } } },
      start: 'mail',
      steps: {
        mail: { type: 'send_email', templateId: orderMail, next: 'w' },
        w: { type: 'wait_for_event', event: 'order.paid', filter: { not: { path: '/candidate/cvv', op: 'exists' } }, timeout: 'PT1H', onEvent: 'keep', onTimeout: 'keep' },
        keep: { type: 'update_profile', properties: { token: { $state: '/event/payment/token' }, cvv: { $state: '/waited/w/cvv' }, ref: { $state: '/waited/w/ref' } }, next: 'paid' },
        paid: { type: 'send_email', templateId: paidMail },
      },
    });
    const body = (redact: boolean) => ({
      profile: { email: 'redact@example.com' },
      trigger: { at: AT, data: { orderId: 'o1', payment: { token: SECRET } }, ...(redact ? { redactedDataPaths: ['/event/payment/token'] } : {}) },
      events: [{ at: '2026-06-02T10:05:00.000Z', event: 'order.paid', data: { ref: 'r1', cvv: SECRET }, ...(redact ? { redactedDataPaths: ['/event/cvv'] } : {}) }],
    });

    // Control: without redactedDataPaths the entry filter sees the token and refuses the run.
    const unredacted = (await simulate(journeyId, body(false))).sim as unknown as { enrolled: boolean; skipReason: string | null };
    assert.deepEqual([unredacted.enrolled, unredacted.skipReason], [false, 'filter_false']);

    const { sim, raw } = await simulate(journeyId, body(true));
    assert.equal(sim.status, 'completed');
    assert.deepEqual(sim.path.map((p) => [p.stepId, p.reason]), [['mail', null], ['w', 'event_received'], ['keep', null], ['paid', null]]);
    assert.deepEqual(sim.emails.map((e) => e.subject), ['Order o1 []', 'Paid r1 []']);
    assert.deepEqual(sim.profileUpdates, [{ stepId: 'keep', at: '2026-06-02T10:05:00.000Z', properties: { ref: 'r1' } }]);
    assert.ok(!raw.includes(SECRET), 'the redacted value appears nowhere in the simulation');
  });

  test('redactedDataPaths: validated as events.track validates them; trigger paths only for an event entry', async () => {
    const eventJourney = await journey({ entry: { type: 'event', event: 'v.test' }, start: 'done', steps: { done: { type: 'exit' } } });
    const badPath = await call(t.app, org.key, 'POST', `/api/v1/journeys/${eventJourney}/simulate`, { trigger: { at: AT, data: {}, redactedDataPaths: ['/data/x'] } });
    assert.equal(badPath.statusCode, 400);
    assert.equal((json(badPath).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/trigger/redactedDataPaths/0');
    const badEventPath = await call(t.app, org.key, 'POST', `/api/v1/journeys/${eventJourney}/simulate`, { trigger: { at: AT }, events: [{ at: AT, event: 'x', redactedDataPaths: ['/event/~2'] }] });
    assert.equal(badEventPath.statusCode, 400);
    // `events` may be null; an array is checked as the array branch, so the bad entry is named.
    assert.equal((json(badEventPath).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/events/0/redactedDataPaths/0');
    const apiJourney = await journey({ entry: { type: 'api' }, start: 'done', steps: { done: { type: 'exit' } } });
    const apiEntry = await call(t.app, org.key, 'POST', `/api/v1/journeys/${apiJourney}/simulate`, { trigger: { at: AT, redactedDataPaths: ['/event/x'] } });
    assert.equal(apiEntry.statusCode, 400);
    assert.equal((json(apiEntry).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/trigger/redactedDataPaths');
  });
});
