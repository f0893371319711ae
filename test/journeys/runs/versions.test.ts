/**
 * Version change mid-run (journeys.md §1, §10 example 6): a run finishes on the version it
 * started with, while new runs use the latest — driven through the management API.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../../harness/app.js';
import { call, emailSendsOfRun, getRun, HOUR, newWorker, orgWithSender, publishedTemplate, runsOf, trackOk } from './support.js';

forEachDialect('journey versions mid-run', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await orgWithSender(t);
  });
  after(() => t.close());

  test('PUT while a run waits on v1: the waiting run finishes on v1, a new run uses v2', async () => {
    const first = await publishedTemplate(t, org, 'From version 1');
    const second = await publishedTemplate(t, org, 'From version 2');
    const definition = (templateId: string, duration: string) => ({
      entry: { type: 'event', event: 'user.signed_up' },
      start: 'wait',
      steps: { wait: { type: 'delay', duration, next: 'send' }, send: { type: 'send_email', templateId, next: 'done' }, done: { type: 'exit' } },
    });
    const created = json(await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: 'versioned', name: 'Versioned', definition: definition(first, 'PT1H') }));
    const id = String(created.id);
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/activate`)).statusCode, 200);

    assert.equal((await trackOk(t, org, 'user.signed_up', 'early@example.com')).enrolledJourneys, 1);
    const worker = newWorker(t);
    await worker.runner.runDueJobsOnce();
    const [early] = await runsOf(t, org, id);
    assert.equal(early!.version, 1);

    // The current version's template cannot be deleted while the journey is Active.
    const inUse = await call(t.app, org.key, 'DELETE', `/api/v1/templates/${first}`);
    assert.equal(inUse.statusCode, 409, inUse.body);
    assert.equal(json(inUse).error, 'resource_in_use');

    const updated = json(await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { definition: definition(second, 'PT3H') }));
    assert.equal(updated.version, 2);
    // v1 is no longer current, but the early run still follows it: its template stays in use.
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/templates/${first}`)).statusCode, 409, 'a live run on v1 still sends it');
    assert.equal((await trackOk(t, org, 'user.signed_up', 'late@example.com')).enrolledJourneys, 1);
    await worker.runner.runDueJobsOnce();

    t.clock.advance(HOUR + 1000);
    await worker.runner.runDueJobsOnce();
    const earlyRun = await getRun(t, org, early!.runId);
    assert.equal(earlyRun.status, 'completed', 'v1 delay (1 h) elapsed');
    assert.equal(earlyRun.version, 1);
    const earlySends = await emailSendsOfRun(t, early!.runId);
    assert.deepEqual(earlySends.map((s) => [s.template_id, s.subject]), [[first, 'From version 1']]);
    // No live run follows v1 any more: its template may go.
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/templates/${first}`)).statusCode, 204);

    const late = (await runsOf(t, org, id)).find((r) => r.runId !== early!.runId)!;
    assert.equal(late.version, 2);
    assert.equal((await getRun(t, org, late.runId)).status, 'running', 'v2 waits 3 h');
    t.clock.advance(2 * HOUR);
    await worker.runner.runDueJobsOnce();
    const lateSends = await emailSendsOfRun(t, late.runId);
    assert.deepEqual(lateSends.map((s) => [s.template_id, s.subject]), [[second, 'From version 2']]);
    assert.equal((await getRun(t, org, late.runId)).status, 'completed');
  });
});
