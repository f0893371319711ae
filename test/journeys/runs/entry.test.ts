/**
 * Event entry (journeys.md §5, events.md §8 example 7): events.track counts, re-entry policies
 * holding under concurrent duplicate events, entry decisions, and that only Active journeys of
 * the event's name are matched.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../../harness/app.js';
import { call, getRun, insertJourney, newWorker, onlyRun, runsOf, trackOk, type TrackAnswer } from './support.js';

const exitNow = { start: 'done', steps: { done: { type: 'exit' } } };
const longDelay = { start: 'd', steps: { d: { type: 'delay', duration: 'P1D' } } };

forEachDialect('journey event entry', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());
  const runJobs = () => newWorker(t).runner.runDueJobsOnce();

  async function concurrently(n: number, event: string, email: string, data: Record<string, unknown>): Promise<TrackAnswer[]> {
    const responses = await Promise.all(Array.from({ length: n }, () => track(t.app, org.key, { event, profile: { email }, data }, idemKey())));
    for (const r of responses) assert.equal(r.statusCode, 202, r.body);
    return responses.map((r) => json(r) as unknown as TrackAnswer);
  }

  async function decisions(journeyId: string): Promise<{ outcome: string; reason: string | null; eventId: string | null; runId: string | null }[]> {
    const res = await call(t.app, org.key, 'GET', `/api/v1/journeys/${journeyId}/entry-decisions?limit=200`);
    assert.equal(res.statusCode, 200, res.body);
    return (json(res) as { data: { outcome: string; reason: string | null; eventId: string | null; runId: string | null }[] }).data;
  }

  test('two Active journeys on order.created, one with a false filter → matched 2, enrolled 1, skipped 1', async () => {
    const open = await insertJourney(t, org.id, { entry: { type: 'event', event: 'order.created' }, ...exitNow });
    const big = await insertJourney(t, org.id, { entry: { type: 'event', event: 'order.created', filter: { path: '/event/total', op: 'gte', value: 100 } }, ...exitNow });
    await insertJourney(t, org.id, { entry: { type: 'event', event: 'order.created' }, ...exitNow }, { status: 'Paused' });
    await insertJourney(t, org.id, { entry: { type: 'event', event: 'order.created' }, ...exitNow }, { status: 'Draft' });
    await insertJourney(t, org.id, { entry: { type: 'event', event: 'other.event' }, ...exitNow });
    const answer = await trackOk(t, org, 'order.created', 'c@example.com', { total: 49 });
    assert.deepEqual([answer.matchedJourneys, answer.enrolledJourneys, answer.skippedJourneys], [2, 1, 1]);
    assert.equal((await runsOf(t, org, open.id)).length, 1);
    assert.equal((await runsOf(t, org, big.id)).length, 0);
    const [skip] = await decisions(big.id);
    assert.deepEqual([skip!.outcome, skip!.reason, skip!.eventId, skip!.runId], ['skipped', 'filter_false', answer.eventId, null]);
    const [enrolled] = await decisions(open.id);
    assert.equal(enrolled!.outcome, 'enrolled');
    assert.equal(enrolled!.runId, (await runsOf(t, org, open.id))[0]!.runId);
    const none = await trackOk(t, org, 'nobody.listens', 'c@example.com');
    assert.deepEqual([none.matchedJourneys, none.enrolledJourneys, none.skippedJourneys], [0, 0, 0]);
  });

  test('entry filter reads /profile (properties applied by the same request)', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'upgrade', filter: { path: '/profile/plan', op: 'eq', value: 'Pro' } }, ...exitNow });
    const pro = await track(t.app, org.key, { event: 'upgrade', profile: { email: 'pro@example.com', properties: { plan: 'Pro' } } }, idemKey());
    assert.equal(json(pro).enrolledJourneys, 1);
    const free = await track(t.app, org.key, { event: 'upgrade', profile: { email: 'free@example.com', properties: { plan: 'Free' } } }, idemKey());
    assert.equal(json(free).skippedJourneys, 1);
    assert.equal((await runsOf(t, org, journey.id)).length, 1);
  });

  test('once_per_key: 50 concurrent identical-cartId events → exactly one run; another cart enrolls; no key → entry_key_missing', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'checkout.started' }, eligibility: { reEntry: 'once_per_key', key: '/event/cartId' }, ...longDelay });
    const answers = await concurrently(50, 'checkout.started', 'dup@example.com', { cartId: 'c1' });
    assert.equal(answers.reduce((n, a) => n + a.enrolledJourneys, 0), 1);
    assert.ok(answers.every((a) => a.matchedJourneys === 1 && a.enrolledJourneys + a.skippedJourneys === 1));
    assert.equal((await runsOf(t, org, journey.id)).length, 1);
    const all = await decisions(journey.id);
    assert.equal(all.filter((d) => d.reason === 'entry_key_duplicate').length, 49);
    // Numbers and strings with the same JSON text are one key; another cart is another entry.
    assert.equal((await trackOk(t, org, 'checkout.started', 'dup@example.com', { cartId: 7 })).enrolledJourneys, 1);
    assert.equal((await trackOk(t, org, 'checkout.started', 'dup@example.com', { cartId: '7' })).enrolledJourneys, 0);
    assert.equal((await trackOk(t, org, 'checkout.started', 'other@example.com', { cartId: 'c1' })).enrolledJourneys, 1, 'keys are per Profile');
    await trackOk(t, org, 'checkout.started', 'dup@example.com', { cartId: { nested: true } });
    assert.equal((await decisions(journey.id))[0]!.reason, 'entry_key_missing');
  });

  test('once: concurrent duplicates → one run; after it completed still already_entered', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'onboard' }, eligibility: { reEntry: 'once' }, ...exitNow });
    const answers = await concurrently(20, 'onboard', 'once@example.com', {});
    assert.equal(answers.reduce((n, a) => n + a.enrolledJourneys, 0), 1);
    await runJobs();
    const run = await onlyRun(t, org, journey.id);
    assert.equal(run.status, 'completed');
    assert.equal((await trackOk(t, org, 'onboard', 'once@example.com')).enrolledJourneys, 0);
    assert.equal((await decisions(journey.id))[0]!.reason, 'already_entered');
  });

  test('after_exit: one live run at a time; a new one once it finished', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'nudge' }, eligibility: { reEntry: 'after_exit' }, ...longDelay });
    const answers = await concurrently(20, 'nudge', 'again@example.com', {});
    assert.equal(answers.reduce((n, a) => n + a.enrolledJourneys, 0), 1);
    await runJobs();
    assert.equal((await trackOk(t, org, 'nudge', 'again@example.com')).enrolledJourneys, 0);
    assert.equal((await decisions(journey.id))[0]!.reason, 'active_run_exists');
    const run = (await runsOf(t, org, journey.id))[0]!;
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/journeys/runs/${run.runId}/exit`)).statusCode, 200);
    assert.equal((await trackOk(t, org, 'nudge', 'again@example.com')).enrolledJourneys, 1);
    assert.equal((await runsOf(t, org, journey.id, '?status=queued')).length, 1);
  });

  test('maxActiveRunsPerProfile: 10 concurrent events → 2 live runs', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'ping' }, eligibility: { reEntry: 'always', maxActiveRunsPerProfile: 2 }, ...longDelay });
    const answers = await concurrently(10, 'ping', 'max@example.com', {});
    assert.equal(answers.reduce((n, a) => n + a.enrolledJourneys, 0), 2);
    assert.equal((await decisions(journey.id)).filter((d) => d.reason === 'max_active_runs').length, 8);
  });

  test('runs list filters and pagination; stats per version', async () => {
    const journey = await insertJourney(t, org.id, { entry: { type: 'event', event: 'many' }, ...exitNow });
    for (let i = 0; i < 3; i++) await trackOk(t, org, 'many', `many${i}@example.com`);
    const first = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/runs?limit=2`)) as { data: { runId: string; status: string }[]; nextCursor: string | null };
    assert.equal(first.data.length, 2);
    assert.ok(first.nextCursor);
    const second = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/runs?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`)) as { data: { runId: string }[]; nextCursor: string | null };
    assert.equal(second.data.length, 1);
    assert.equal(second.nextCursor, null);
    assert.ok(first.data[0]!.runId > first.data[1]!.runId && first.data[1]!.runId > second.data[0]!.runId, 'newest first');
    const run = await getRun(t, org, second.data[0]!.runId);
    const byProfile = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/runs?profileId=${run.profileId}&journeyId=${journey.id}`)) as { data: { runId: string }[] };
    assert.deepEqual(byProfile.data.map((r) => r.runId), [run.runId]);
    const wrongCursor = await call(t.app, org.key, 'GET', `/api/v1/journeys/runs?cursor=${encodeURIComponent(first.nextCursor)}`);
    assert.equal(wrongCursor.statusCode, 400);
    await runJobs();
    const stats = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/stats?versionId=${journey.versionId}`)) as { runs: Record<string, number>; steps: Record<string, Record<string, number>> };
    assert.deepEqual(stats.runs, { queued: 0, running: 0, completed: 3, failed: 0, exited: 0 });
    assert.deepEqual(stats.steps, { done: { entered: 3, waiting: 0, completed: 3, skipped: 0, failed: 0 } });
    const otherVersion = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/stats?versionId=0190f600-0000-7000-8000-000000000000`)) as { runs: Record<string, number> };
    assert.equal(otherVersion.runs.completed, 0);
    // Another organization sees nothing.
    const other = await t.newOrg();
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/journeys/runs/${run.runId}`)).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/journeys/${journey.id}/runs`)).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/journeys/${journey.id}/stats`)).statusCode, 404);
    const noScope = await org.keyWith(['events:write']);
    assert.equal((await call(t.app, noScope, 'GET', `/api/v1/journeys/runs/${run.runId}`)).statusCode, 403);
  });
});
