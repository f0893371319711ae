/**
 * Consent end to end on both databases (emails.md §3–4, §7, §9; profiles.md §6), with the real
 * worker and the capture transport:
 * - the one-click unsubscribe URL is taken from the List-Unsubscribe header of a delivered
 *   non-transactional message (a journey send) and POSTed like a mailbox provider does (RFC 8058);
 *   a GET of it first changes nothing. Afterwards the Profile is `unsubscribed` (source
 *   `one_click`), sends to that group still Queued are Skipped by the worker's re-check, and new
 *   sends to it are Skipped at creation.
 * - `bcc` is never returned: not by the send, its idempotent replay, GET one, the list, batch
 *   items (and their replay), nor the captured message view.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createEmailSend } from '../../src/modules/emails/emails.service.js';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { createWorker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';

const PUBLIC_URL = 'https://links.example.test';
const ONE_CLICK = 'List-Unsubscribe=One-Click';

const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: { $template: 'Hello ${/profile/email}' } } } } };

interface Subscription {
  subscriptionGroupId: string;
  status: string;
  isSubscribed: boolean;
  source: string | null;
  updatedAt: string | null;
}

forEachDialect('consent end to end', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let transactional: string;
  let promotional: string;
  let counter = 0;

  before(async () => {
    t = await createTestApp(dialect, { config: { publicUrl: PUBLIC_URL } });
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    transactional = await publishedTemplate('Transactional');
    promotional = await publishedTemplate('Promotional');
  });
  after(() => t.close());

  async function publishedTemplate(purpose: string): Promise<string> {
    const created = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: `T ${purpose} ${counter++}`, purpose, definition: { subject: 'Hello', body: BODY } });
    assert.equal(created.statusCode, 201, created.body);
    const id = String(json(created).id);
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/templates/${id}/publish`)).statusCode, 200);
    return id;
  }

  const runWorker = () => createWorker(t.deps).runner.runDueJobsOnce();
  const send = (body: unknown, key = idemKey()) => call(t.app, org.key, 'POST', '/api/v1/emails', body, { 'idempotency-key': key });
  const getSend = async (id: string) => json(await call(t.app, org.key, 'GET', `/api/v1/emails/${id}`));
  const captured = async (emailSendId: string) =>
    (await t.database.db.kysely.selectFrom('captured_messages').select('email_send_id').where('email_send_id', '=', emailSendId).execute()).length;
  const subscription = async (profileId: string, groupId: string): Promise<Subscription> => {
    const res = await call(t.app, org.key, 'GET', `/api/v1/profiles/${profileId}/subscriptions`);
    assert.equal(res.statusCode, 200, res.body);
    const entry = (json(res).subscriptions as Subscription[]).find((s) => s.subscriptionGroupId === groupId);
    assert.ok(entry, res.body);
    return entry;
  };

  for (const type of ['OptOut', 'OptIn'] as const) {
    test(`${type}: unsubscribe through the captured List-Unsubscribe URL (one-click POST); GET changes nothing; queued and new sends to the group are Skipped`, async () => {
      const n = counter++;
      const email = `reader-${type.toLowerCase()}@example.com`;
      const group = json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: `Newsletter ${type}`, type }));
      const groupId = String(group.id);
      const profileId = String(json(await track(t.app, org.key, { event: 'signed_up', profile: { email } })).profileId);
      if (type === 'OptIn') {
        const put = await call(t.app, org.key, 'PUT', `/api/v1/profiles/${profileId}/subscriptions/${groupId}`, { status: 'subscribed' });
        assert.equal(put.statusCode, 200, put.body);
      }
      const initial = await subscription(profileId, groupId);
      assert.equal(initial.isSubscribed, true);

      // A non-transactional message delivered by a journey run (created and activated through the API).
      const event = `issue.published.${n}`;
      const journey = json(await call(t.app, org.key, 'POST', '/api/v1/journeys', {
        key: `newsletter-${n}`,
        name: `Newsletter ${n}`,
        definition: { entry: { type: 'event', event }, start: 'mail', steps: { mail: { type: 'send_email', templateId: promotional, subscriptionGroupId: groupId } } },
      }));
      assert.equal((await call(t.app, org.key, 'POST', `/api/v1/journeys/${String(journey.id)}/activate`)).statusCode, 200);
      assert.equal(json(await track(t.app, org.key, { event, profile: { email } })).enrolledJourneys, 1);
      await runWorker();
      const delivered = json(await call(t.app, org.key, 'GET', `/api/v1/emails?profileId=${profileId}&status=Sent`)).data as { id: string; source: string }[];
      assert.equal(delivered.length, 1);
      assert.equal(delivered[0]!.source, 'journey');
      const message = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${delivered[0]!.id}/message`));
      const headers = message.headers as [string, string][];
      assert.deepEqual(headers.filter(([name]) => name === 'List-Unsubscribe-Post').map(([, v]) => v), [ONE_CLICK]);
      const listUnsubscribe = headers.find(([name]) => name === 'List-Unsubscribe')?.[1];
      assert.ok(listUnsubscribe, JSON.stringify(headers));
      const match = /^<(https:\/\/[^>]+)>$/.exec(listUnsubscribe);
      assert.ok(match, listUnsubscribe);
      const url = new URL(match[1]!);
      assert.equal(url.origin, PUBLIC_URL);
      assert.match(url.pathname, /^\/unsubscribe\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);

      // A send to the group queued before anything happens to the link (API, Transactional + group).
      const beforeGet = json(await send({ templateId: transactional, profileId, subscriptionGroupId: groupId }));
      assert.equal(beforeGet.status, 'Queued');

      // GET (and HEAD) — what link scanners do — changes nothing: the status stays, the queued send is delivered.
      const page = await t.app.inject({ method: 'GET', url: url.pathname });
      assert.equal(page.statusCode, 200);
      assert.ok(page.body.includes(`Newsletter ${type}`), page.body);
      await t.app.inject({ method: 'HEAD', url: url.pathname });
      assert.deepEqual(await subscription(profileId, groupId), initial, 'GET changed nothing');
      await runWorker();
      assert.equal((await getSend(String(beforeGet.id))).status, 'Sent', 'a GET does not unsubscribe');

      // Sends to the group that are Queued when the unsubscribe arrives: one through the API, one
      // non-transactional one through the emails service (as broadcasts create them).
      const queuedApi = json(await send({ templateId: transactional, profileId, subscriptionGroupId: groupId }));
      assert.equal(queuedApi.status, 'Queued');
      const queuedService = await t.deps.committer.run((trx) =>
        createEmailSend(trx, { ...t.deps, publicUrl: t.deps.config.publicUrl }, org.id, { templateId: promotional, profileId, subscriptionGroupId: groupId, cc: [], bcc: [], data: {}, trackClicks: false }, { source: 'broadcast', requireTransactional: false }),
      );
      assert.ok(queuedService.ok);
      assert.equal(queuedService.value.status, 'Queued');

      // The mailbox provider's one-click POST: no cookies, no API key, the RFC 8058 body.
      t.clock.advance(1000);
      const unsubscribed = await t.app.inject({ method: 'POST', url: url.pathname, payload: ONE_CLICK, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(unsubscribed.statusCode, 200, unsubscribed.body);
      assert.match(unsubscribed.body, /You are unsubscribed/);
      const after1 = await subscription(profileId, groupId);
      assert.deepEqual([after1.status, after1.isSubscribed, after1.source, after1.updatedAt], ['unsubscribed', false, 'one_click', new Date(t.clock.now()).toISOString()]);

      // The worker's re-check right before hand-off skips what was queued; nothing is captured.
      await runWorker();
      for (const id of [String(queuedApi.id), queuedService.value.id]) {
        const skipped = await getSend(id);
        assert.equal(skipped.status, 'Skipped', id);
        assert.equal(skipped.failureReason, 'unsubscribed');
        assert.match(String(skipped.failureMessage), /^unsubscribed: /);
        assert.equal(skipped.messageId, null, 'never built');
        assert.equal(await captured(id), 0, 'nothing captured');
        assert.equal((await call(t.app, org.key, 'GET', `/api/v1/emails/${id}/message`)).statusCode, 404);
      }

      // New sends to the group are Skipped at creation: through the API, and from the journey.
      const fresh = json(await send({ templateId: transactional, profileId, subscriptionGroupId: groupId }));
      assert.deepEqual([fresh.status, fresh.failureReason], ['Skipped', 'unsubscribed']);
      assert.equal(json(await track(t.app, org.key, { event, profile: { email } })).enrolledJourneys, 1);
      await runWorker();
      const runs = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${String(journey.id)}/runs`)).data as { runId: string }[];
      assert.equal(runs.length, 2);
      const second = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/runs/${runs[0]!.runId}`)) as { status: string; steps: { stepId: string; status: string; reason: string | null; outcome: { emailSendId: string } }[] };
      assert.equal(second.status, 'completed');
      assert.deepEqual(second.steps.map((s) => [s.stepId, s.status, s.reason]), [['mail', 'skipped', 'unsubscribed']]);
      assert.equal(await captured(second.steps[0]!.outcome.emailSendId), 0);
      assert.equal(await captured(String(fresh.id)), 0);
      const all = json(await call(t.app, org.key, 'GET', `/api/v1/emails?profileId=${profileId}&status=Sent`)).data as unknown[];
      assert.equal(all.length, 2, 'only the journey send and the send delivered after the GET were ever handed off');

      // Another GET still changes nothing; a repeated POST is idempotent.
      assert.equal((await t.app.inject({ method: 'GET', url: url.pathname })).statusCode, 200);
      t.clock.advance(1000);
      assert.equal((await t.app.inject({ method: 'POST', url: url.pathname, payload: ONE_CLICK, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).statusCode, 200);
      assert.deepEqual(await subscription(profileId, groupId), after1);
    });
  }

  test('bcc is never returned: send, idempotent replay, GET one, list, batch items and their replay, captured message', async () => {
    const hidden = ['hidden-auditor@example.com', 'Secret Copy <secret-copy@example.com>'];
    const leaks = (body: string) => ['hidden-auditor', 'secret-copy', 'Secret Copy'].filter((fragment) => body.includes(fragment));
    const noBcc = (label: string, body: string) => {
      assert.deepEqual(leaks(body), [], `${label}: ${body}`);
      assert.doesNotMatch(body, /"bcc"/i, `${label} has a bcc key`);
    };

    const key = idemKey();
    const request = { templateId: transactional, to: { email: 'bcc-primary@example.com' }, bcc: hidden, cc: 'Visible <visible-cc@example.com>' };
    const first = await send(request, key);
    assert.equal(first.statusCode, 202, first.body);
    noBcc('202', first.body);
    const id = String(json(first).id);
    const replay = await send(request, key);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, first.body);
    noBcc('replay', replay.body);
    // The bcc was accepted and is stored for the envelope: its absence above is meaningful.
    const stored = await t.database.db.kysely.selectFrom('email_sends').select('bcc').where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual((JSON.parse(stored.bcc) as { email: string }[]).map((a) => a.email), ['hidden-auditor@example.com', 'secret-copy@example.com']);

    noBcc('GET queued', (await call(t.app, org.key, 'GET', `/api/v1/emails/${id}`)).body);
    await runWorker();
    const sent = await call(t.app, org.key, 'GET', `/api/v1/emails/${id}`);
    assert.equal(json(sent).status, 'Sent');
    assert.deepEqual(json(sent).cc, [{ email: 'visible-cc@example.com', name: 'Visible' }], 'cc is returned');
    noBcc('GET sent', sent.body);

    // A skipped send with a bcc (suppressed recipient) is returned without it too.
    assert.equal((await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'bcc-suppressed@example.com' })).statusCode, 201);
    const skipped = await send({ templateId: transactional, to: { email: 'bcc-suppressed@example.com' }, bcc: hidden });
    assert.equal(json(skipped).status, 'Skipped');
    noBcc('skipped', skipped.body);

    const batchBody = {
      defaults: { templateId: transactional },
      items: [
        { idempotencyKey: `bcc-batch-${counter}-a`, to: { email: 'bcc-batch-a@example.com' }, bcc: hidden },
        { idempotencyKey: `bcc-batch-${counter}-b`, to: { email: 'bcc-batch-b@example.com' }, bcc: hidden.join(', ') },
        { idempotencyKey: `bcc-batch-${counter}-c`, to: { externalId: 'nobody-with-bcc' }, bcc: hidden },
      ],
    };
    counter++;
    const batch = await call(t.app, org.key, 'POST', '/api/v1/emails/batch', batchBody);
    assert.equal(batch.statusCode, 200, batch.body);
    const items = (json(batch) as { items: { send?: Record<string, unknown>; error?: { error: string } }[] }).items;
    assert.deepEqual(items.map((i) => (i.send ? String(i.send.status) : i.error!.error)), ['Queued', 'Queued', 'profile_not_found']);
    for (const item of items.filter((i) => i.send)) assert.ok(!('bcc' in item.send!), JSON.stringify(item.send));
    noBcc('batch', batch.body);
    const batchReplay = await call(t.app, org.key, 'POST', '/api/v1/emails/batch', batchBody);
    assert.deepEqual((json(batchReplay) as { items: { send?: { id: string } }[] }).items.map((i) => i.send?.id), items.map((i) => i.send?.id), 'replayed');
    noBcc('batch replay', batchReplay.body);
    await runWorker();

    const list = await call(t.app, org.key, 'GET', '/api/v1/emails?limit=100');
    assert.equal(list.statusCode, 200);
    const listed = (json(list).data as Record<string, unknown>[]).filter((s) => [id, ...items.map((i) => i.send?.id)].includes(String(s.id)));
    assert.equal(listed.length, 3);
    for (const entry of listed) assert.ok(!('bcc' in entry));
    noBcc('list', list.body);
    noBcc('list by profile', (await call(t.app, org.key, 'GET', `/api/v1/emails?profileId=${String(json(first).profileId)}`)).body);

    // The captured message: no Bcc header, envelope recipients not shown.
    const messageJson = await call(t.app, org.key, 'GET', `/api/v1/emails/${id}/message`);
    assert.equal(messageJson.statusCode, 200);
    assert.deepEqual(leaks(messageJson.body), [], messageJson.body);
    const raw = await call(t.app, org.key, 'GET', `/api/v1/emails/${id}/message`, undefined, { accept: 'message/rfc822' });
    assert.deepEqual(leaks(raw.body), []);
    assert.doesNotMatch(raw.body, /^Bcc:/im);
  });
});
