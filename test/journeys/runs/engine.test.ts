/**
 * The run engine end to end on a real database with the real worker and a fake clock
 * (journeys.md §6, §10 examples 4–5): a welcome series with delays, the abandoned cart (timeout,
 * match, other cart, an event stored before the wait was registered), exitOn mid-delay, branch and
 * update_profile, a worker crash right after the send was created, a step failing for good,
 * paused journeys holding their jobs, archive and manual exit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createEmailSend } from '../../../src/modules/emails/emails.service.js';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../../harness/app.js';
import {
  call,
  capturedHtml,
  emailSendsOfRun,
  getRun,
  HOUR,
  insertJourney,
  MINUTE,
  newWorker,
  onlyRun,
  orgWithSender,
  publishedTemplate,
  setJourneyStatus,
  trackOk,
} from './support.js';

forEachDialect('journey run engine', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let welcomeTpl: string;
  let tipsTpl: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await orgWithSender(t);
    welcomeTpl = await publishedTemplate(t, org, 'Welcome');
    tipsTpl = await publishedTemplate(t, org, 'Tips');
  });
  after(() => t.close());
  const runJobs = () => newWorker(t).runner.runDueJobsOnce();

  test('welcome series: send → delay PT24H → send → exit, one send now and one 24 h later', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'user.signed_up' },
      start: 'welcome',
      steps: {
        welcome: { type: 'send_email', templateId: welcomeTpl, next: 'wait' },
        wait: { type: 'delay', duration: 'PT24H', next: 'tips' },
        tips: { type: 'send_email', templateId: tipsTpl, next: 'done' },
        done: { type: 'exit' },
      },
    });
    const tracked = await trackOk(t, org, 'user.signed_up', 'welcome@example.com');
    assert.deepEqual([tracked.matchedJourneys, tracked.enrolledJourneys, tracked.skippedJourneys], [1, 1, 0]);
    let run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'queued');
    assert.deepEqual(run.entry, { type: 'event', event: 'user.signed_up', eventId: tracked.eventId });

    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'running');
    assert.equal(run.currentStepId, 'wait');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.next]), [['welcome', 'completed', 'wait'], ['wait', 'waiting', null]]);
    const due = new Date(t.clock.now() + 24 * HOUR).toISOString();
    assert.equal(run.steps[1]!.dueAt, due);
    assert.deepEqual(run.steps[1]!.outcome, { until: due });
    let sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 1);
    assert.equal(sends[0]!.send_key, `journey-run:${run.runId}:welcome`);
    assert.equal(sends[0]!.source, 'journey');
    assert.equal(sends[0]!.journey_id, journey.id);
    assert.equal(run.steps[0]!.outcome?.emailSendId, sends[0]!.id);

    t.clock.advance(24 * HOUR - 1);
    await runJobs();
    assert.equal((await emailSendsOfRun(t, run.runId)).length, 1, 'not a millisecond early');
    t.clock.advance(1);
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'completed');
    assert.equal(run.currentStepId, null);
    assert.ok(run.completedAt);
    assert.deepEqual(
      run.steps.map((s) => [s.stepId, s.type, s.status, s.reason, s.next]),
      [
        ['welcome', 'send_email', 'completed', null, 'wait'],
        ['wait', 'delay', 'completed', 'delay_elapsed', 'tips'],
        ['tips', 'send_email', 'completed', null, 'done'],
        ['done', 'exit', 'completed', null, null],
      ],
    );
    sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 2);
    assert.equal(sends[1]!.template_id, tipsTpl);
    assert.deepEqual(sends.map((s) => s.status), ['Sent', 'Sent'], 'delivered by the same worker');

    const stats = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/stats`)) as { runs: Record<string, number>; entries: Record<string, number>; steps: Record<string, Record<string, number>> };
    assert.equal(stats.runs.completed, 1);
    assert.deepEqual(stats.entries, { enrolled: 1, skipped: 0 });
    assert.deepEqual(stats.steps.wait, { entered: 1, waiting: 0, completed: 1, skipped: 0, failed: 0 });
  });

  const cartJourney = (remindTpl: string) => ({
    entry: { type: 'event', event: 'checkout.started', filter: { path: '/event/total', op: 'gte', value: 20 } },
    eligibility: { reEntry: 'once_per_key', key: '/event/cartId' },
    exitOn: [{ event: 'account.closed' }],
    start: 'wait_order',
    steps: {
      wait_order: {
        type: 'wait_for_event',
        event: 'order.completed',
        filter: { path: '/candidate/cartId', op: 'eq', value: { $state: '/event/cartId' } },
        timeout: 'PT1H',
        onEvent: 'done',
        onTimeout: 'remind',
      },
      remind: { type: 'send_email', templateId: remindTpl, next: 'done' },
      done: { type: 'exit' },
    },
  });

  test('abandoned cart: no order within 1 h → reminder; an order for another cart does not match', async () => {
    const journey = await insertJourney(t, org.id, cartJourney(welcomeTpl));
    const low = await trackOk(t, org, 'checkout.started', 'cart1@example.com', { cartId: 'c0', total: 5 });
    assert.deepEqual([low.matchedJourneys, low.enrolledJourneys, low.skippedJourneys], [1, 0, 1]);
    const started = await trackOk(t, org, 'checkout.started', 'cart1@example.com', { cartId: 'c1', total: 80 });
    assert.equal(started.enrolledJourneys, 1);
    await runJobs();
    let run = await onlyRun(t, org, journey.id);
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status]), [['wait_order', 'waiting']]);
    t.clock.advance(20 * MINUTE);
    await trackOk(t, org, 'order.completed', 'cart1@example.com', { cartId: 'c2' });
    await runJobs();
    assert.equal((await getRun(t, org, run.runId)).steps[0]!.status, 'waiting');
    t.clock.advance(40 * MINUTE);
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'completed');
    assert.equal(run.steps[0]!.reason, 'timed_out');
    assert.equal(run.steps[0]!.next, 'remind');
    assert.deepEqual(run.steps[0]!.outcome, { matchedEventId: null });
    assert.deepEqual(run.steps.map((s) => s.stepId), ['wait_order', 'remind', 'done']);
    const sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 1);
    assert.equal(sends[0]!.send_key, `journey-run:${run.runId}:remind`);
    const decisions = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/entry-decisions`)) as { data: { outcome: string; reason: string | null }[] };
    assert.deepEqual(decisions.data.map((d) => [d.outcome, d.reason]), [['enrolled', null], ['skipped', 'filter_false']]);
  });

  test('abandoned cart: order.completed for the cart at +20 min → no send, reason event_received', async () => {
    const journey = await insertJourney(t, org.id, cartJourney(welcomeTpl));
    await trackOk(t, org, 'checkout.started', 'cart2@example.com', { cartId: 'c1', total: 80 });
    await runJobs();
    t.clock.advance(20 * MINUTE);
    const order = await trackOk(t, org, 'order.completed', 'cart2@example.com', { cartId: 'c1' });
    await runJobs();
    let run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason, s.next]), [['wait_order', 'completed', 'event_received', 'done'], ['done', 'completed', null, null]]);
    assert.deepEqual(run.steps[0]!.outcome, { matchedEventId: order.eventId });
    t.clock.advance(2 * HOUR);
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.steps.length, 2, 'the deadline changes nothing');
    assert.equal((await emailSendsOfRun(t, run.runId)).length, 0);
  });

  test('an event stored after the wait fell due but before the worker registered it still matches', async () => {
    const journey = await insertJourney(t, org.id, cartJourney(welcomeTpl));
    await trackOk(t, org, 'checkout.started', 'cart3@example.com', { cartId: 'c9', total: 80 });
    t.clock.advance(1000);
    const order = await trackOk(t, org, 'order.completed', 'cart3@example.com', { cartId: 'c9' });
    await runJobs();
    const run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'completed');
    assert.equal(run.steps[0]!.reason, 'event_received');
    assert.deepEqual(run.steps[0]!.outcome, { matchedEventId: order.eventId });
  });

  test('exitOn mid-delay: the run exits, its delay is skipped (run_exited), nothing is sent later', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'trial.started' },
      exitOn: [{ event: 'account.closed', filter: { path: '/candidate/reason', op: 'eq', value: { $state: '/event/plan' } } }],
      start: 'd',
      steps: { d: { type: 'delay', duration: 'PT1H', next: 's' }, s: { type: 'send_email', templateId: welcomeTpl } },
    });
    await trackOk(t, org, 'trial.started', 'exit@example.com', { plan: 'pro' });
    await runJobs();
    t.clock.advance(10 * MINUTE);
    await trackOk(t, org, 'account.closed', 'exit@example.com', { reason: 'basic' });
    assert.equal((await onlyRun(t, org, journey.id)).status, 'running', 'filter false: no exit');
    const closing = await trackOk(t, org, 'account.closed', 'exit@example.com', { reason: 'pro' });
    let run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'exited');
    assert.equal(run.exitReason, 'exit_event');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason, s.next]), [['d', 'skipped', 'run_exited', null]]);
    const exitEvent = await t.database.db.kysely.selectFrom('journey_runs').select('exit_event_id').where('id', '=', run.runId).executeTakeFirstOrThrow();
    assert.equal(exitEvent.exit_event_id, closing.eventId);
    const timers = await t.database.db.kysely.selectFrom('jobs').select('status').where('unique_key', '=', `journey-due:${run.runId}:d`).execute();
    assert.deepEqual(timers.map((j) => j.status), ['completed'], 'the timer is cancelled');
    t.clock.advance(HOUR);
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.steps.length, 1);
    assert.equal((await emailSendsOfRun(t, run.runId)).length, 0);
  });

  test('branch and update_profile: /profile and /event state, skipped keys, lineage source', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'plan.changed' },
      start: 'b',
      steps: {
        b: { type: 'branch', condition: { path: '/profile/plan', op: 'eq', value: 'Pro' }, then: 'up', else: 'done' },
        up: { type: 'update_profile', properties: { tier: 'gold', lastCart: { $state: '/event/cartId' }, missing: { $state: '/event/nope' } }, next: 'done' },
        done: { type: 'exit' },
      },
    });
    const res = await call(t.app, org.key, 'POST', '/api/v1/events', { event: 'plan.changed', profile: { email: 'branch@example.com', properties: { plan: 'Pro' } }, data: { cartId: 'k1' } }, { 'idempotency-key': `b-${Math.random()}` });
    assert.equal(res.statusCode, 202, res.body);
    await trackOk(t, org, 'plan.changed', 'free@example.com');
    await runJobs();
    const runs = (json(await call(t.app, org.key, 'GET', `/api/v1/journeys/runs?journeyId=${journey.id}`)) as { data: { runId: string; profileId: string }[] }).data;
    assert.equal(runs.length, 2);
    const pro = await getRun(t, org, runs.find((r) => r.profileId === String(json(res).profileId))!.runId);
    assert.deepEqual(pro.steps.map((s) => [s.stepId, s.next]), [['b', 'up'], ['up', 'done'], ['done', null]]);
    assert.deepEqual(pro.steps[0]!.outcome, { branch: 'then' });
    assert.deepEqual(pro.steps[1]!.outcome, { properties: ['tier', 'lastCart'], skippedKeys: ['missing'] });
    const profile = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${pro.profileId}`)) as { properties: Record<string, { value: unknown; source: string; updatedAt: string }> };
    assert.equal(profile.properties.tier!.value, 'gold');
    assert.equal(profile.properties.lastCart!.value, 'k1');
    assert.equal(profile.properties.tier!.source, 'journey.update_profile');
    assert.equal(profile.properties.tier!.updatedAt, new Date(t.clock.now()).toISOString());
    const free = await getRun(t, org, runs.find((r) => r.runId !== pro.runId)!.runId);
    assert.deepEqual(free.steps.map((s) => [s.stepId, s.next]), [['b', 'done'], ['done', null]]);
  });

  test('delay until (+offset, past, invalid) and /waited/<stepId> from the matched event', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'renewal.due' },
      start: 'past',
      steps: {
        past: { type: 'delay', until: '/event/past', next: 'bad' },
        bad: { type: 'delay', until: '/event/nope', next: 'day' },
        day: { type: 'delay', until: '/event/day', offset: '-PT1H', next: 'w' },
        w: { type: 'wait_for_event', event: 'renewal.paid', timeout: 'P1D', onEvent: 'keep', onTimeout: 'keep' },
        keep: { type: 'update_profile', properties: { lastOrder: { $state: '/waited/w/orderId' } } },
      },
    });
    const tomorrow = new Date(t.clock.now() + 24 * HOUR).toISOString().slice(0, 10);
    await trackOk(t, org, 'renewal.due', 'until@example.com', { past: '2020-01-01T00:00:00Z', day: tomorrow });
    await runJobs();
    let run = await onlyRun(t, org, journey.id);
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason]), [['past', 'completed', 'until_past'], ['bad', 'completed', 'until_invalid'], ['day', 'waiting', null]]);
    const due = Date.parse(`${tomorrow}T00:00:00.000Z`) - HOUR;
    assert.equal(run.steps[2]!.dueAt, new Date(due).toISOString());
    t.clock.set(due);
    await runJobs();
    t.clock.advance(MINUTE);
    await trackOk(t, org, 'renewal.paid', 'until@example.com', { orderId: 'o-77' });
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.steps.slice(2).map((s) => [s.stepId, s.reason]), [['day', 'delay_elapsed'], ['w', 'event_received'], ['keep', null]]);
    const profile = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${run.profileId}`)) as { properties: Record<string, { value: unknown }> };
    assert.equal(profile.properties.lastOrder!.value, 'o-77');
  });

  test('a journey email renders /event, /waited and /profile from the run at delivery (§6.3)', async () => {
    const tpl = await publishedTemplate(t, org, 'Your cart', 'Transactional', 'cart=${/event/cartId} order=${/waited/w/orderId} to=${/profile/email}');
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'cart.render' },
      start: 'w',
      steps: {
        w: { type: 'wait_for_event', event: 'cart.paid', timeout: 'PT1H', onEvent: 'mail', onTimeout: 'mail' },
        mail: { type: 'send_email', templateId: tpl },
      },
    });
    await trackOk(t, org, 'cart.render', 'render@example.com', { cartId: 'c-42' });
    await runJobs();
    t.clock.advance(MINUTE);
    await trackOk(t, org, 'cart.paid', 'render@example.com', { orderId: 'o-9' });
    await runJobs();
    const run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'completed');
    const [send] = await emailSendsOfRun(t, run.runId);
    assert.equal(send!.status, 'Sent');
    assert.match(await capturedHtml(t, org, send!.id), /cart=c-42 order=o-9 to=render@example\.com/);
  });

  test('worker killed right after the send was created: the retry finds one EmailSend, one message', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'crash.test' },
      start: 'remind',
      steps: { remind: { type: 'send_email', templateId: welcomeTpl, next: 'done' }, done: { type: 'exit' } },
    });
    let crashes = 1;
    const crashing: typeof createEmailSend = async (...args) => {
      const result = await createEmailSend(...args);
      if (crashes-- > 0) throw new Error('worker killed after creating the send');
      return result;
    };
    const worker = newWorker(t, { journeySendEmail: crashing });
    await trackOk(t, org, 'crash.test', 'crash@example.com');
    await worker.runner.runDueJobsOnce();
    let run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'queued', 'the crashed attempt left nothing behind');
    t.clock.advance(10 * MINUTE);
    await worker.runner.runDueJobsOnce();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'completed');
    const sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 1);
    assert.equal(sends[0]!.send_key, `journey-run:${run.runId}:remind`);
    assert.equal(sends[0]!.status, 'Sent');
    const messages = await t.database.db.kysely.selectFrom('captured_messages').select('email_send_id').where('email_send_id', '=', sends[0]!.id).execute();
    assert.equal(messages.length, 1);
  });

  test('a step that keeps failing: 5 attempts, then the step and the run are failed', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'fail.test' },
      start: 'first',
      steps: { first: { type: 'update_profile', properties: { seen: true }, next: 'boom' }, boom: { type: 'send_email', templateId: welcomeTpl } },
    });
    const failing: typeof createEmailSend = async () => {
      throw new Error('smtp config exploded');
    };
    const worker = newWorker(t, { journeySendEmail: failing });
    await trackOk(t, org, 'fail.test', 'fail@example.com');
    for (let i = 0; i < 8; i++) {
      await worker.runner.runDueJobsOnce();
      t.clock.advance(2 * HOUR);
    }
    const run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), /^step boom: smtp config exploded/);
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason]), [['first', 'completed', null], ['boom', 'failed', 'internal_error']]);
    const state = await t.database.db.kysely.selectFrom('journey_profile_state').select('active_runs').where('journey_id', '=', journey.id).executeTakeFirstOrThrow();
    assert.equal(state.active_runs, 0);
  });

  test('send_email outcomes: template archived → skipped template_archived, the run goes on', async () => {
    const archived = await publishedTemplate(t, org, 'Old');
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/templates/${archived}/archive`)).statusCode, 200);
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'archived.test' },
      start: 's',
      steps: { s: { type: 'send_email', templateId: archived, next: 'done' }, done: { type: 'exit' } },
    });
    await trackOk(t, org, 'archived.test', 'arch@example.com');
    await runJobs();
    const run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason, s.next]), [['s', 'skipped', 'template_archived', 'done'], ['done', 'completed', null, null]]);
  });

  test('paused journey: due jobs are held and run late after resume; archive exits live runs', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'pause.test' },
      start: 'd',
      steps: { d: { type: 'delay', duration: 'PT1H', next: 's' }, s: { type: 'send_email', templateId: welcomeTpl } },
    });
    await trackOk(t, org, 'pause.test', 'pause@example.com');
    await runJobs();
    await setJourneyStatus(t, journey.id, 'Paused');
    const skipped = await trackOk(t, org, 'pause.test', 'pause@example.com');
    assert.equal(skipped.matchedJourneys, 0, 'a Paused journey is not matched');
    t.clock.advance(HOUR);
    await runJobs();
    let run = await onlyRun(t, org, journey.id);
    assert.equal(run.steps[0]!.status, 'waiting', 'held');
    await setJourneyStatus(t, journey.id, 'Active');
    t.clock.advance(MINUTE);
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'completed');
    assert.equal((await emailSendsOfRun(t, run.runId)).length, 1);

    // Archive through the management route: every live run exits with journey_archived.
    await trackOk(t, org, 'pause.test', 'pause2@example.com');
    await runJobs();
    const archived = await call(t.app, org.key, 'POST', `/api/v1/journeys/${journey.id}/archive`);
    assert.equal(archived.statusCode, 200, archived.body);
    const live = (await getRunsByStatus(journey.id, 'exited'))[0]!;
    const exited = await getRun(t, org, live.runId);
    assert.equal(exited.exitReason, 'journey_archived');
    assert.deepEqual(exited.steps.map((s) => [s.status, s.reason]), [['skipped', 'run_exited']]);
  });

  async function getRunsByStatus(journeyId: string, status: string): Promise<{ runId: string }[]> {
    return (json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journeyId}/runs?status=${status}`)) as { data: { runId: string }[] }).data;
  }

  test('manual exit: 200 exited (manual); again → 409 invalid_state; unknown run → 404', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'manual.test' },
      start: 'd',
      steps: { d: { type: 'delay', duration: 'P1D' } },
    });
    await trackOk(t, org, 'manual.test', 'manual@example.com');
    const queued = await onlyRun(t, org, journey.id);
    const exited = await call(t.app, org.key, 'POST', `/api/v1/journeys/runs/${queued.runId}/exit`);
    assert.equal(exited.statusCode, 200, exited.body);
    assert.equal(json(exited).status, 'exited');
    assert.equal(json(exited).exitReason, 'manual');
    await runJobs();
    assert.deepEqual((await getRun(t, org, queued.runId)).steps, [], 'the queued first step never runs');
    const again = await call(t.app, org.key, 'POST', `/api/v1/journeys/runs/${queued.runId}/exit`);
    assert.equal(again.statusCode, 409);
    assert.deepEqual(json(again).details, { status: 'exited' });
    const unknown = await call(t.app, org.key, 'POST', '/api/v1/journeys/runs/0190f600-0000-7000-8000-000000000000/exit');
    assert.equal(unknown.statusCode, 404);
    const reader = await org.keyWith(['journeys:read']);
    assert.equal((await call(t.app, reader, 'POST', `/api/v1/journeys/runs/${queued.runId}/exit`)).statusCode, 403);
  });
});
