/**
 * Consent gates inside real journey runs (journeys.md §6.3, §8; emails.md §4, §7) on both
 * databases, with the real worker and the capture transport — not the simulator. Journeys are
 * created and activated through the API; each run goes send_email → update_profile → exit, so a
 * skipped send visibly lets the run continue. Covers an OptIn group never subscribed
 * (`not_subscribed`), an OptOut group unsubscribed (`unsubscribed`), a manual suppression and a
 * complaint received through the signed generic delivery webhook (`suppressed_manual`,
 * `suppressed_complaint`), and allowed Profiles whose message carries the RFC 8058 headers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signWebhookBody } from '../../../src/modules/webhooks/webhook-auth.js';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../../harness/app.js';
import { call, emailSendsOfRun, newWorker, onlyRun, orgWithSender, publishedTemplate, trackOk, type RunJson } from './support.js';

const PUBLIC_URL = 'https://links.example.test';

forEachDialect('consent gates in journey runs', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  let optIn: string;
  let optOut: string;
  let webhookSecret: string;
  let journeyCounter = 0;

  before(async () => {
    t = await createTestApp(dialect, { config: { publicUrl: PUBLIC_URL } });
    org = await orgWithSender(t);
    templateId = await publishedTemplate(t, org, 'This week', 'Promotional', 'News for ${/profile/email}');
    optIn = String(json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Weekly digest', type: 'OptIn' })).id);
    optOut = String(json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Product news', type: 'OptOut' })).id);
    webhookSecret = String(json(await call(t.app, org.key, 'POST', '/api/v1/organization/delivery-webhook-secret')).secret);
  });
  after(() => t.close());

  /** A journey created and activated through the API: `<event>` → send_email(group) → update_profile → exit. */
  async function activeJourney(groupId: string): Promise<{ id: string; event: string }> {
    const event = `consent.test.${journeyCounter++}`;
    const created = await call(t.app, org.key, 'POST', '/api/v1/journeys', {
      key: `consent-${journeyCounter}`,
      name: `Consent ${journeyCounter}`,
      definition: {
        entry: { type: 'event', event },
        start: 'mail',
        steps: {
          mail: { type: 'send_email', templateId, subscriptionGroupId: groupId, next: 'after_mail' },
          after_mail: { type: 'update_profile', properties: { reachedAfterMail: true }, next: 'done' },
          done: { type: 'exit' },
        },
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = String(json(created).id);
    const activated = await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/activate`);
    assert.equal(activated.statusCode, 200, activated.body);
    assert.equal(json(activated).status, 'Active');
    return { id, event };
  }

  /** A Profile that exists before it enters the journey (so its consent can be set first). */
  async function profileOf(email: string): Promise<string> {
    return (await trackOk(t, org, 'consent.setup', email)).profileId;
  }

  /** Enrolls `email` in the journey, runs the worker, and returns the finished run and its one EmailSend row. */
  async function runJourney(journey: { id: string; event: string }, email: string) {
    const tracked = await trackOk(t, org, journey.event, email);
    assert.equal(tracked.enrolledJourneys, 1);
    await newWorker(t).runner.runDueJobsOnce();
    const run = await onlyRun(t, org, journey.id);
    const sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 1, 'one EmailSend per send_email step');
    return { run, send: sends[0]!, profileId: tracked.profileId };
  }

  async function capturedCount(emailSendId: string): Promise<number> {
    const rows = await t.database.db.kysely.selectFrom('captured_messages').select('email_send_id').where('email_send_id', '=', emailSendId).execute();
    return rows.length;
  }

  /** The send step is skipped with `reason`, the run still goes on to update_profile and exit, nothing is captured. */
  async function assertSkipped(run: RunJson, send: { id: string; status: string; failure_reason: string | null }, profileId: string, reason: string) {
    assert.equal(run.status, 'completed', JSON.stringify(run));
    const stats = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${run.journeyId}/stats`)) as { runs: Record<string, number>; steps: Record<string, Record<string, number>> };
    assert.equal(stats.runs.completed, 1);
    assert.deepEqual(stats.steps.mail, { entered: 1, waiting: 0, completed: 0, skipped: 1, failed: 0 });
    assert.deepEqual(stats.steps.after_mail, { entered: 1, waiting: 0, completed: 1, skipped: 0, failed: 0 });
    assert.deepEqual(
      run.steps.map((s) => [s.stepId, s.type, s.status, s.reason, s.next]),
      [
        ['mail', 'send_email', 'skipped', reason, 'after_mail'],
        ['after_mail', 'update_profile', 'completed', null, 'done'],
        ['done', 'exit', 'completed', null, null],
      ],
    );
    assert.deepEqual(run.steps[0]!.outcome, { emailSendId: send.id });
    assert.equal(send.status, 'Skipped');
    assert.equal(send.failure_reason, reason);
    const view = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${send.id}`));
    assert.equal(view.status, 'Skipped');
    assert.equal(view.failureReason, reason);
    assert.match(String(view.failureMessage), new RegExp(`^${reason}: `));
    assert.equal(view.source, 'journey');
    assert.equal(view.journeyRunId, run.runId);
    assert.equal(await capturedCount(send.id), 0, 'nothing captured');
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/emails/${send.id}/message`)).statusCode, 404);
    const profile = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${profileId}`));
    const reached = (profile.properties as Record<string, { value: unknown; source: string }>).reachedAfterMail;
    assert.deepEqual([reached?.value, reached?.source], [true, 'journey.update_profile'], 'the step after the skipped send ran');
  }

  /** The send step completed, the message was captured with the RFC 8058 headers pointing at the public https URL. */
  async function assertDelivered(run: RunJson, send: { id: string }, groupId: string, groupName: string) {
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.steps.map((s) => [s.stepId, s.status, s.reason]), [['mail', 'completed', null], ['after_mail', 'completed', null], ['done', 'completed', null]]);
    assert.deepEqual(run.steps[0]!.outcome, { emailSendId: send.id });
    const view = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${send.id}`));
    assert.equal(view.status, 'Sent');
    assert.equal(view.failureReason, null);
    assert.equal(await capturedCount(send.id), 1);
    const message = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${send.id}/message`));
    const headers = message.headers as [string, string][];
    const header = (name: string) => headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    const [listUnsubscribe, ...more] = header('List-Unsubscribe');
    assert.equal(more.length, 0, 'one List-Unsubscribe header');
    assert.match(String(listUnsubscribe), /^<https:\/\/links\.example\.test\/unsubscribe\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$/);
    assert.equal(new URL(String(listUnsubscribe).slice(1, -1)).protocol, 'https:');
    assert.deepEqual(header('List-Unsubscribe-Post'), ['List-Unsubscribe=One-Click']);
    assert.deepEqual(header('List-Id'), [`"${groupName}" <${groupId}.lists.example.test>`]);
    return String(listUnsubscribe).slice(1, -1);
  }

  test('OptIn group, Profile never subscribed → send step skipped not_subscribed, the run continues, nothing captured', async () => {
    const journey = await activeJourney(optIn);
    const { run, send, profileId } = await runJourney(journey, 'never-subscribed@example.com');
    await assertSkipped(run, send, profileId, 'not_subscribed');
  });

  test('OptOut group, Profile unsubscribed → send step skipped unsubscribed', async () => {
    const journey = await activeJourney(optOut);
    const profileId = await profileOf('opted-out@example.com');
    const put = await call(t.app, org.key, 'PUT', `/api/v1/profiles/${profileId}/subscriptions/${optOut}`, { status: 'unsubscribed' });
    assert.equal(put.statusCode, 200, put.body);
    const { run, send } = await runJourney(journey, 'opted-out@example.com');
    await assertSkipped(run, send, profileId, 'unsubscribed');
  });

  test('OptIn group, Profile subscribed and then unsubscribed → unsubscribed (not not_subscribed)', async () => {
    const journey = await activeJourney(optIn);
    const profileId = await profileOf('was-subscribed@example.com');
    await call(t.app, org.key, 'PUT', `/api/v1/profiles/${profileId}/subscriptions/${optIn}`, { status: 'subscribed' });
    await call(t.app, org.key, 'PUT', `/api/v1/profiles/${profileId}/subscriptions/${optIn}`, { status: 'unsubscribed' });
    const { run, send } = await runJourney(journey, 'was-subscribed@example.com');
    await assertSkipped(run, send, profileId, 'unsubscribed');
  });

  test('address suppressed manually (POST /api/v1/suppressions) → suppressed_manual, even though the OptOut group allows it', async () => {
    const journey = await activeJourney(optOut);
    const added = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'Manual@Example.com' });
    assert.equal(added.statusCode, 201, added.body);
    const profileId = await profileOf('manual@example.com');
    const { run, send } = await runJourney(journey, 'manual@example.com');
    await assertSkipped(run, send, profileId, 'suppressed_manual');
  });

  test('a complaint received through the signed generic delivery webhook (address in another case) → suppressed_complaint', async () => {
    const journey = await activeJourney(optOut);
    const body = JSON.stringify({ events: [{ id: 'evt_complaint_1', type: 'complaint', email: 'Complainer@Example.COM', occurredAt: '2026-05-31T11:59:00Z' }] });
    const hook = await t.app.inject({
      method: 'POST',
      url: `/webhooks/delivery/${org.id}/generic`,
      payload: body,
      headers: { 'content-type': 'application/json', 'segmentflow-signature': signWebhookBody(webhookSecret, body, Math.floor(t.clock.now() / 1000)) },
    });
    assert.equal(hook.statusCode, 200, hook.body);
    assert.deepEqual(json(hook), { received: 1, duplicates: 0 });
    const listed = json(await call(t.app, org.key, 'GET', `/api/v1/suppressions?email=${encodeURIComponent('complainer@example.com')}`)).data as { reason: string; source: string }[];
    assert.deepEqual(listed.map((s) => [s.reason, s.source]), [['complaint', 'webhook']]);
    const profileId = await profileOf('complainer@example.com');
    const { run, send } = await runJourney(journey, 'complainer@example.com');
    await assertSkipped(run, send, profileId, 'suppressed_complaint');
  });

  test('OptIn group, Profile subscribed → delivered with List-Unsubscribe (https) and List-Unsubscribe-Post: List-Unsubscribe=One-Click', async () => {
    const journey = await activeJourney(optIn);
    const profileId = await profileOf('subscriber@example.com');
    const put = await call(t.app, org.key, 'PUT', `/api/v1/profiles/${profileId}/subscriptions/${optIn}`, { status: 'subscribed' });
    assert.equal(put.statusCode, 200, put.body);
    const { run, send } = await runJourney(journey, 'subscriber@example.com');
    await assertDelivered(run, send, optIn, 'Weekly digest');
  });

  test('OptOut group, status never set → delivered with the List-* headers', async () => {
    const journey = await activeJourney(optOut);
    const { run, send } = await runJourney(journey, 'default-reader@example.com');
    await assertDelivered(run, send, optOut, 'Product news');
  });
});
