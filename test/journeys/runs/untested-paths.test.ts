/**
 * Journey behaviour no other suite pins down (journeys.md §4, §5, §6.5, §7): saving a journey
 * while Active or Paused with an unpublished (or archived) template, wait matches and exits
 * recorded at once while Paused, once_per_key combined with maxActiveRunsPerProfile, exitOn on a
 * run that is still `queued`, and pause/resume through the management routes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HOLD_MS } from '../../../src/modules/journeys/runs/lifecycle.js';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../../harness/app.js';
import { call, emailSendsOfRun, getRun, HOUR, insertJourney, MINUTE, newWorker, onlyRun, orgWithSender, publishedTemplate, runsOf, trackOk } from './support.js';

interface ErrorBody {
  error: string;
  details: { reason: string; errors: { pointer: string; message: string }[]; rule?: string };
}

forEachDialect('journey paths without other coverage', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let publishedTpl: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await orgWithSender(t);
    publishedTpl = await publishedTemplate(t, org, 'Published');
  });
  after(() => t.close());
  const runJobs = () => newWorker(t).runner.runDueJobsOnce();

  /** A Transactional template that was created but never published. */
  async function draftTemplate(): Promise<string> {
    const body = { root: 'e', elements: { e: { type: 'Email', props: {}, children: [] } } };
    const created = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: `Draft ${Math.random()}`, purpose: 'Transactional', definition: { subject: 'Draft', body } });
    assert.equal(created.statusCode, 201, created.body);
    return String(json(created).id);
  }

  const mailJourney = (templateId: string) => ({
    entry: { type: 'event', event: 'save.test' },
    start: 'wait',
    steps: { wait: { type: 'delay', duration: 'PT1H', next: 'mail' }, mail: { type: 'send_email', templateId, next: 'done' }, done: { type: 'exit' } },
  });

  async function createJourney(key: string, definition: unknown): Promise<string> {
    const created = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key, name: key, definition });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(json(created).status, 'Draft');
    return String(json(created).id);
  }

  async function transition(id: string, action: 'activate' | 'pause'): Promise<Record<string, unknown>> {
    const res = await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/${action}`);
    assert.equal(res.statusCode, 200, res.body);
    return json(res);
  }

  async function journeyOf(id: string): Promise<Record<string, unknown>> {
    const res = await call(t.app, org.key, 'GET', `/api/v1/journeys/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    return json(res);
  }

  function assertPublicationRefusal(res: { statusCode: number; body: string }, reason: 'template_not_published' | 'template_archived'): void {
    assert.equal(res.statusCode, 422, res.body);
    const body = JSON.parse(res.body) as ErrorBody;
    assert.equal(body.error, 'unprocessable');
    assert.equal(body.details.reason, reason);
    assert.deepEqual(body.details.errors.map((e) => e.pointer), ['/definition/steps/mail/templateId']);
  }

  test('§4: PUT while Active or Paused with an unpublished template → 422 template_not_published (pointer of templateId); Draft may reference it', async () => {
    const unpublished = await draftTemplate();
    const id = await createJourney(`save-live-${dialect}`, mailJourney(publishedTpl));
    assert.equal((await transition(id, 'activate')).status, 'Active');

    const activePut = await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { definition: mailJourney(unpublished) });
    assertPublicationRefusal(activePut, 'template_not_published');
    let journey = await journeyOf(id);
    assert.equal(journey.version, 1, 'a refused save creates no version');
    assert.equal((journey.definition as { steps: { mail: { templateId: string } } }).steps.mail.templateId, publishedTpl);

    // An archived template is refused with its own reason.
    const archived = await publishedTemplate(t, org, 'To archive');
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/templates/${archived}/archive`)).statusCode, 200);
    assertPublicationRefusal(await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { definition: mailJourney(archived) }), 'template_archived');

    assert.equal((await transition(id, 'pause')).status, 'Paused');
    const pausedPut = await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { definition: mailJourney(unpublished) });
    assertPublicationRefusal(pausedPut, 'template_not_published');
    journey = await journeyOf(id);
    assert.equal(journey.status, 'Paused');
    assert.equal(journey.version, 1);
    const versions = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${id}/versions`)).data as unknown[];
    assert.equal(versions.length, 1);

    // A Draft journey may be created with and saved to an unpublished template.
    const draftId = await createJourney(`save-draft-${dialect}`, mailJourney(unpublished));
    const draftDef = mailJourney(unpublished) as { steps: { wait: { duration: string } } };
    draftDef.steps.wait.duration = 'PT2H';
    const draftPut = await call(t.app, org.key, 'PUT', `/api/v1/journeys/${draftId}`, { definition: draftDef });
    assert.equal(draftPut.statusCode, 200, draftPut.body);
    assert.equal(json(draftPut).status, 'Draft');
    assert.equal(json(draftPut).version, 2);
    // …but cannot be activated with it.
    assertPublicationRefusal(await call(t.app, org.key, 'POST', `/api/v1/journeys/${draftId}/activate`), 'template_not_published');
    assert.equal((await journeyOf(draftId)).status, 'Draft');
  });

  test('§6.5 Paused: a matching wait event is recorded at once; an exitOn event exits at once; held steps run after resume', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'paused.wait.start' },
      exitOn: [{ event: 'paused.wait.cancel' }],
      start: 'w',
      steps: {
        w: { type: 'wait_for_event', event: 'paused.wait.paid', timeout: 'PT1H', onEvent: 'mail', onTimeout: 'done' },
        mail: { type: 'send_email', templateId: publishedTpl, next: 'done' },
        done: { type: 'exit' },
      },
    });
    await trackOk(t, org, 'paused.wait.start', 'pw-match@example.com');
    await trackOk(t, org, 'paused.wait.start', 'pw-exit@example.com');
    await runJobs();
    const runs = await runsOf(t, org, journey.id);
    assert.equal(runs.length, 2);
    for (const r of runs) assert.deepEqual((await getRun(t, org, r.runId)).steps.map((s) => [s.stepId, s.status]), [['w', 'waiting']]);

    assert.equal((await transition(journey.id, 'pause')).status, 'Paused');
    t.clock.advance(10 * MINUTE);

    const paid = await trackOk(t, org, 'paused.wait.paid', 'pw-match@example.com');
    assert.equal(paid.matchedJourneys, 0);
    const matchedRunId = runs.find((r) => r.profileId === paid.profileId)!.runId;
    let matched = await getRun(t, org, matchedRunId);
    assert.equal(matched.status, 'running');
    assert.equal(matched.steps.length, 1);
    assert.deepEqual([matched.steps[0]!.status, matched.steps[0]!.reason, matched.steps[0]!.next], ['completed', 'event_received', 'mail']);
    assert.deepEqual(matched.steps[0]!.outcome, { matchedEventId: paid.eventId });
    assert.equal(matched.steps[0]!.completedAt, new Date(t.clock.now()).toISOString(), 'recorded when the event arrived');

    const cancel = await trackOk(t, org, 'paused.wait.cancel', 'pw-exit@example.com');
    const exitedRunId = runs.find((r) => r.profileId === cancel.profileId)!.runId;
    let exited = await getRun(t, org, exitedRunId);
    assert.equal(exited.status, 'exited');
    assert.equal(exited.exitReason, 'exit_event');
    assert.equal(exited.completedAt, new Date(t.clock.now()).toISOString());
    assert.deepEqual(exited.steps.map((s) => [s.stepId, s.status, s.reason]), [['w', 'skipped', 'run_exited']]);
    const exitRow = await t.database.db.kysely.selectFrom('journey_runs').select('exit_event_id').where('id', '=', exitedRunId).executeTakeFirstOrThrow();
    assert.equal(exitRow.exit_event_id, cancel.eventId);

    // The step after the wait is held while Paused: nothing is sent yet.
    t.clock.advance(HOLD_MS);
    await runJobs();
    matched = await getRun(t, org, matchedRunId);
    assert.deepEqual(matched.steps.map((s) => s.stepId), ['w']);
    assert.equal((await emailSendsOfRun(t, matchedRunId)).length, 0);

    assert.equal((await transition(journey.id, 'activate')).status, 'Active');
    t.clock.advance(HOLD_MS);
    await runJobs();
    t.clock.advance(2 * HOUR);
    await runJobs();
    matched = await getRun(t, org, matchedRunId);
    assert.equal(matched.status, 'completed');
    assert.deepEqual(matched.steps.map((s) => [s.stepId, s.status, s.reason]), [['w', 'completed', 'event_received'], ['mail', 'completed', null], ['done', 'completed', null]]);
    assert.equal((await emailSendsOfRun(t, matchedRunId)).length, 1);
    exited = await getRun(t, org, exitedRunId);
    assert.equal(exited.status, 'exited');
    assert.equal(exited.steps.length, 1, 'the exited run never reaches its timeout');
    assert.equal((await emailSendsOfRun(t, exitedRunId)).length, 0);
  });

  test('§5 once_per_key + maxActiveRunsPerProfile: a new key over the limit → max_active_runs (not claimed); a repeated key → entry_key_duplicate', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'limit.cart' },
      eligibility: { reEntry: 'once_per_key', key: '/event/cartId', maxActiveRunsPerProfile: 2 },
      start: 'd',
      steps: { d: { type: 'delay', duration: 'P1D' } },
    });
    const email = 'limit@example.com';
    const enrolled = async (cartId: string, expected: 0 | 1) => {
      const answer = await trackOk(t, org, 'limit.cart', email, { cartId });
      assert.deepEqual([answer.matchedJourneys, answer.enrolledJourneys, answer.skippedJourneys], [1, expected, 1 - expected], cartId);
      return answer;
    };
    const latestDecision = async () => {
      const res = await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/entry-decisions?limit=1`);
      assert.equal(res.statusCode, 200, res.body);
      return (json(res).data as { outcome: string; reason: string | null; eventId: string; runId: string | null }[])[0]!;
    };
    const expectSkip = async (cartId: string, reason: string) => {
      const answer = await enrolled(cartId, 0);
      const decision = await latestDecision();
      assert.deepEqual([decision.outcome, decision.reason, decision.eventId, decision.runId], ['skipped', reason, answer.eventId, null], cartId);
    };

    await enrolled('c1', 1);
    await enrolled('c2', 1);
    await expectSkip('c3', 'max_active_runs');
    await expectSkip('c1', 'entry_key_duplicate');
    assert.equal((await runsOf(t, org, journey.id)).length, 2);

    // Below the limit again: the refused key c3 was never claimed, c1 still is.
    const c1 = (await t.database.db.kysely.selectFrom('journey_runs').select(['id', 'entry_key']).where('journey_id', '=', journey.id).execute()).find((r) => r.entry_key === 'c1')!;
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/journeys/runs/${c1.id}/exit`)).statusCode, 200);
    await expectSkip('c1', 'entry_key_duplicate');
    await enrolled('c3', 1);
    assert.equal((await latestDecision()).outcome, 'enrolled');
    await expectSkip('c4', 'max_active_runs');
    assert.equal((await runsOf(t, org, journey.id, '?status=queued')).length, 2);

    // The API trigger refuses with the same rule names (422 not_eligible, details.rule).
    const apiJourney = await insertJourney(t, org.id, {
      entry: { type: 'api' },
      eligibility: { reEntry: 'once_per_key', key: '/variables/orderId', maxActiveRunsPerProfile: 1 },
      start: 'd',
      steps: { d: { type: 'delay', duration: 'P1D' } },
    });
    const trigger = (orderId: string) =>
      call(t.app, org.key, 'POST', `/api/v1/journeys/${apiJourney.key}/trigger`, { profile: { email }, variables: { orderId } }, { 'idempotency-key': `limit-${Math.random()}` });
    assert.equal((await trigger('o1')).statusCode, 202);
    for (const [orderId, rule] of [['o2', 'max_active_runs'], ['o1', 'entry_key_duplicate']] as const) {
      const refused = await trigger(orderId);
      assert.equal(refused.statusCode, 422, refused.body);
      const body = JSON.parse(refused.body) as ErrorBody;
      assert.equal(body.error, 'unprocessable');
      assert.equal(body.details.reason, 'not_eligible');
      assert.equal(body.details.rule, rule, orderId);
    }
    assert.equal((await runsOf(t, org, apiJourney.id)).length, 1, 'a refusal writes no run');
  });

  test('§6.5 exitOn on a run still queued: exited (exit_event, exitEventId) with no steps (none was entered); the worker sends nothing later', async () => {
    const journey = await insertJourney(t, org.id, {
      entry: { type: 'event', event: 'queued.exit.start' },
      exitOn: [{ event: 'queued.exit.stop' }],
      start: 'mail',
      steps: { mail: { type: 'send_email', templateId: publishedTpl, next: 'done' }, done: { type: 'exit' } },
    });
    await trackOk(t, org, 'queued.exit.start', 'queued-exit@example.com');
    let run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'queued');
    t.clock.advance(1000);
    const stop = await trackOk(t, org, 'queued.exit.stop', 'queued-exit@example.com');
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'exited');
    assert.equal(run.exitReason, 'exit_event');
    assert.equal(run.completedAt, new Date(t.clock.now()).toISOString());
    assert.equal(run.exitEventId, stop.eventId);
    assert.deepEqual(run.steps, []);
    const stepJobs = await t.database.db.kysely.selectFrom('jobs').select('status').where('unique_key', '=', `journey-step:${run.runId}:mail`).execute();
    assert.deepEqual(stepJobs.map((j) => j.status), ['completed'], 'the pending first-step job is cancelled');

    await runJobs();
    t.clock.advance(HOUR);
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'exited');
    assert.deepEqual(run.steps, [], 'the cancelled first-step job added nothing');
    assert.equal((await emailSendsOfRun(t, run.runId)).length, 0);
    const state = await t.database.db.kysely.selectFrom('journey_profile_state').select('active_runs').where('journey_id', '=', journey.id).executeTakeFirstOrThrow();
    assert.equal(state.active_runs, 0);
  });

  test('§7 pause and activate through the routes: a delay falling due while Paused waits; resume runs it at once and it sends once', async () => {
    const id = await createJourney(`pause-resume-${dialect}`, {
      entry: { type: 'event', event: 'route.pause.start' },
      start: 'd',
      steps: { d: { type: 'delay', duration: 'PT1H', next: 'mail' }, mail: { type: 'send_email', templateId: publishedTpl } },
    });
    assert.equal((await transition(id, 'activate')).status, 'Active');
    await trackOk(t, org, 'route.pause.start', 'route-pause@example.com');
    await runJobs();
    let run = await onlyRun(t, org, id);
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status]), [['d', 'waiting']]);
    const dueAt = run.steps[0]!.dueAt!;

    const paused = await transition(id, 'pause');
    assert.equal(paused.status, 'Paused');
    assert.equal((await trackOk(t, org, 'route.pause.start', 'route-pause2@example.com')).matchedJourneys, 0, 'no enrollment while Paused');
    t.clock.advance(HOUR);
    for (let i = 0; i < 3; i++) {
      await runJobs();
      t.clock.advance(HOLD_MS);
    }
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'running');
    assert.equal(run.currentStepId, 'd');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.completedAt]), [['d', 'waiting', null]], 'the due delay is held');
    assert.equal((await emailSendsOfRun(t, run.runId)).length, 0);

    const resumedAt = t.clock.now();
    assert.equal((await transition(id, 'activate')).status, 'Active');
    // The held job is due at resume, not at its next hold check (HOLD_MS later).
    await runJobs();
    run = await getRun(t, org, run.runId);
    assert.equal(run.status, 'completed');
    assert.equal(run.steps[0]!.completedAt, new Date(resumedAt).toISOString(), 'ran at resume');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason]), [['d', 'completed', 'delay_elapsed'], ['mail', 'completed', null]]);
    assert.ok(Date.parse(run.steps[0]!.completedAt!) > Date.parse(dueAt), 'ran late, after resume');
    t.clock.advance(HOUR);
    await runJobs();
    const sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 1);
    assert.equal(sends[0]!.send_key, `journey-run:${run.runId}:mail`);
    assert.equal(sends[0]!.status, 'Sent');
    assert.equal((await runsOf(t, org, id)).length, 1);
  });
});
