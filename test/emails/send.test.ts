/**
 * emails.send end to end on a real database with the real worker (emails.md §1, §3–5, §10):
 * capture transport, gates, idempotency, batch, sensitive data, and a crash between hand-off and
 * recording that must not produce a second Message-ID.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import type { MailTransport } from '../../src/mail/transport.js';
import { createWorker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

const BODY = {
  root: 'e',
  elements: {
    e: { type: 'Email', props: {}, children: ['t', 'l'] },
    t: { type: 'Text', props: { text: { $template: 'Thanks for order ${/data/orderId}' } } },
    l: { type: 'Button', props: { label: 'Reset', href: { $template: '${/data/resetUrl}' } } },
  },
};

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method,
    url,
    headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
}

async function publishedTemplate(t: TestApp, key: string, purpose = 'Transactional', extra: Record<string, unknown> = {}): Promise<string> {
  const tpl = json(await call(t.app, key, 'POST', '/api/v1/templates', { name: `T ${Math.random()}`, purpose, definition: { subject: { $template: 'Receipt ${/data/orderId}' }, body: BODY, ...extra } }));
  const published = await call(t.app, key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`);
  assert.equal(published.statusCode, 200, published.body);
  return String(tpl.id);
}

forEachDialect('emails.send', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  const worker = () => createWorker(t.deps);
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    templateId = await publishedTemplate(t, org.key);
  });
  after(() => t.close());

  const send = (body: unknown, key = `send-${Math.random()}`, apiKey = org.key) => call(t.app, apiKey, 'POST', '/api/v1/emails', body, { 'idempotency-key': key });

  test('first send: 202 Queued without bcc, then Sent with a captured message whose Message-ID derives from the send id', async () => {
    const res = await send({ templateId, to: { email: 'Alex@Example.com', externalId: 'cus_123' }, data: { orderId: 'ord_9421' }, bcc: 'audit@example.com', cc: 'Billing <billing@example.com>' });
    assert.equal(res.statusCode, 202, res.body);
    const queued = json(res);
    assert.equal(queued.status, 'Queued');
    assert.deepEqual(queued.to, { email: 'alex@example.com' });
    assert.deepEqual(queued.from, { email: 'hello@example.test', name: 'Segmentflow' });
    assert.equal(queued.subject, 'Receipt ord_9421');
    assert.deepEqual(queued.cc, [{ email: 'billing@example.com', name: 'Billing' }]);
    assert.ok(!('bcc' in queued));
    assert.ok(!res.body.includes('audit@example.com'));

    const w = worker();
    await w.runner.runDueJobsOnce();
    const sent = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}`));
    assert.equal(sent.status, 'Sent');
    assert.ok(sent.messageId);
    assert.ok(sent.sentAt);
    const message = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}/message`));
    assert.equal(message.messageIdHeader, `<${String(queued.id)}@example.test>`);
    assert.equal(message.subject, 'Receipt ord_9421');
    assert.equal(message.handoffCount, 1);
    const headers = message.headers as [string, string][];
    const headerNames = headers.map(([name]) => name.toLowerCase());
    assert.ok(!headerNames.includes('bcc'));
    assert.ok(headerNames.includes('x-segmentflow-email-send-id'));
    // Names as written in the message, values unfolded.
    assert.deepEqual(headers.find(([name]) => name === 'Message-ID'), ['Message-ID', `<${String(queued.id)}@example.test>`]);
    assert.deepEqual(headers.find(([name]) => name === 'X-Segmentflow-Email-Send-Id'), ['X-Segmentflow-Email-Send-Id', String(queued.id)]);
    assert.ok(headers.every(([, value]) => !/[\r\n]/.test(value)), 'folded values are unfolded');
    assert.ok(String(message.html).includes('Thanks for order ord_9421'));
    const raw = await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}/message`, undefined, { accept: 'message/rfc822' });
    assert.match(raw.body, new RegExp(`Message-ID: <${String(queued.id)}@example.test>`, 'i'));
    assert.doesNotMatch(raw.body, /^Bcc:/im);
  });

  test('idempotency: replay, reuse with other data, missing key', async () => {
    const body = { templateId, to: { email: 'r@example.com' }, data: { orderId: 'ord_1' } };
    const first = await send(body, 'receipt:ord_9421');
    const second = await send(body, 'receipt:ord_9421');
    assert.equal(second.body, first.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    const reuse = await send({ ...body, data: { orderId: 'ord_2' } }, 'receipt:ord_9421');
    assert.equal(json(reuse).error, 'idempotency_key_reuse');
    const missing = await call(t.app, org.key, 'POST', '/api/v1/emails', body);
    assert.equal(json(missing).error, 'idempotency_key_required');
  });

  test('refusals: purpose mismatch, unverified sender, header injection, no recipient, unknown template', async () => {
    const promo = await publishedTemplate(t, org.key, 'Promotional');
    assert.equal((json(await send({ templateId: promo, to: { email: 'p@example.com' } })).details as { reason: string }).reason, 'template_purpose_mismatch');
    const unverified = await send({ templateId, to: { email: 'p@example.com' }, from: 'Acme <billing@unverified.example>' });
    assert.equal((json(unverified).details as { reason: string }).reason, 'sender_not_verified');
    const injected = await send({ templateId, to: { email: 'p@example.com' }, subject: 'Hi\r\nBcc: x@evil.test' });
    assert.equal(injected.statusCode, 400);
    assert.equal((json(injected).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/subject');
    const noRecipient = await send({ templateId });
    assert.equal((json(noRecipient).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/to');
    const unknown = await send({ templateId: '0190f400-0000-7000-8000-000000000000', to: { email: 'p@example.com' } });
    assert.equal((json(unknown).details as { reason: string }).reason, 'reference_not_found');
    const badReply = await send({ templateId, to: { email: 'p@example.com' }, replyTo: 'help@elsewhere.example' });
    assert.equal((json(badReply).details as { reason: string }).reason, 'reply_to_not_allowed');
    const nobody = await send({ templateId, to: { externalId: 'nobody' } });
    assert.equal(json(nobody).error, 'profile_not_found');
  });

  test("the template's rendered Reply-To: used when set, 422 reply_to_not_allowed when it is not an address on a verified domain", async () => {
    const withReply = await publishedTemplate(t, org.key, 'Transactional', { replyTo: { $template: '${/data/reply}' } });
    const good = await send({ templateId: withReply, to: { email: 'rt@example.com' }, data: { orderId: 'o', reply: 'Help <help@example.test>' } });
    assert.equal(good.statusCode, 202, good.body);
    assert.deepEqual(json(good).replyTo, { email: 'help@example.test', name: 'Help' });
    for (const reply of ['garbage', 'help@elsewhere.example']) {
      const bad = await send({ templateId: withReply, to: { email: 'rt@example.com' }, data: { orderId: 'o', reply } });
      assert.equal(bad.statusCode, 422, `${reply}: ${bad.body}`);
      assert.equal((json(bad).details as { reason: string }).reason, 'reply_to_not_allowed', reply);
    }
    // Rendered empty: the sender's Reply-To (none for the dev sender) applies.
    const empty = await send({ templateId: withReply, to: { email: 'rt@example.com' }, data: { orderId: 'o', reply: '' } });
    assert.equal(empty.statusCode, 202, empty.body);
    assert.equal(json(empty).replyTo, null);
  });

  test('OptIn group without subscription → Skipped not_subscribed and nothing handed off; suppression re-checked at hand-off', async () => {
    const group = json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: `News ${Math.random()}`, type: 'OptIn' }));
    const skipped = json(await send({ templateId, to: { email: 'n@example.com' }, subscriptionGroupId: group.id }));
    assert.equal(skipped.status, 'Skipped');
    assert.equal(skipped.failureReason, 'not_subscribed');
    assert.match(String(skipped.failureMessage), /^not_subscribed: /);

    const queued = json(await send({ templateId, to: { email: 'late@example.com' } }));
    assert.equal(queued.status, 'Queued');
    const added = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'late@example.com' });
    assert.equal(added.statusCode, 201, added.body);
    await worker().runner.runDueJobsOnce();
    const after = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}`));
    assert.equal(after.status, 'Skipped');
    assert.equal(after.failureReason, 'suppressed_manual');
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}/message`)).statusCode, 404);
  });

  test('sensitive data paths are deleted from the stored send once rendered', async () => {
    const sensitive = await publishedTemplate(t, org.key, 'Transactional', { sensitiveTransactionalVariablePaths: ['/data/resetUrl'] });
    const queued = json(await send({ templateId: sensitive, to: { email: 's@example.com' }, data: { orderId: 'o', resetUrl: 'https://app.example/reset?token=SECRET123' } }));
    await worker().runner.runDueJobsOnce();
    const row = await t.database.db.kysely.selectFrom('email_sends').select('data').where('id', '=', String(queued.id)).executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.data), { orderId: 'o' });
    const message = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}/message`));
    assert.ok(String(message.html).includes('token=SECRET123'), 'the message itself carries the link');
  });

  test('a crash after hand-off re-sends the same MIME with the same Message-ID, never a second id', async () => {
    const queued = json(await send({ templateId, to: { email: 'crash@example.com' }, data: { orderId: 'c1' } }));
    const real = worker();
    let crashes = 1;
    const crashing: MailTransport = {
      name: 'crash-after-handoff',
      async send(message) {
        const result = await real.transport.send(message);
        if (crashes-- > 0) throw new Error('worker died before recording the hand-off');
        return result;
      },
      close: () => real.transport.close(),
    };
    const w = createWorker(t.deps, { transport: crashing });
    await w.runner.runDueJobsOnce();
    assert.equal(json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}`)).status, 'Processing');
    t.clock.advance(10 * 60_000); // past the job's retry backoff
    await w.runner.runDueJobsOnce();
    const final = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}`));
    assert.equal(final.status, 'Sent');
    const captured = await t.database.db.kysely.selectFrom('captured_messages').selectAll().where('email_send_id', '=', String(queued.id)).execute();
    assert.equal(captured.length, 1, 'one Message-ID');
    assert.equal(captured[0]!.handoff_count, 2, 'handed off twice with the same Message-ID');
    assert.equal(captured[0]!.message_id_header, `<${String(queued.id)}@example.test>`);
  });

  test('batch: defaults, per-item validation, per-item idempotency in the emails key space', async () => {
    const res = await call(t.app, org.key, 'POST', '/api/v1/emails/batch', {
      defaults: { templateId },
      items: [
        { idempotencyKey: 'b1', to: { email: 'b1@example.com' }, data: { orderId: 'b1' } },
        { idempotencyKey: 'k2', to: { email: 'bad' } },
        { idempotencyKey: 'k3', to: { externalId: 'nobody' } },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = json(res) as { total: number; accepted: number; rejected: number; items: Record<string, unknown>[] };
    assert.deepEqual([body.total, body.accepted, body.rejected], [3, 1, 2]);
    assert.equal((body.items[0]!.send as { status: string }).status, 'Queued');
    const e1 = body.items[1]!.error as { error: string; details: { errors: { pointer: string }[] } };
    assert.equal(e1.error, 'validation_failed');
    assert.equal(e1.details.errors[0]!.pointer, '/items/1/to/email');
    assert.equal((body.items[2]!.error as { error: string }).error, 'profile_not_found');
    assert.equal(body.items[2]!.idempotencyKey, 'k3');
    // The same key through the single route with the same effective body replays the batch send.
    const single = await send({ templateId, to: { email: 'b1@example.com' }, data: { orderId: 'b1' } }, 'b1');
    assert.equal(single.headers['idempotent-replayed'], 'true');
    assert.equal(json(single).id, (body.items[0]!.send as { id: string }).id);
    // A rejection is stored under the item's key like the single route's: the same key with
    // another body is a reuse, the same body replays the rejection with item-relative pointers.
    const reuse = await send({ templateId, to: { email: 'k2@example.com' } }, 'k2');
    assert.equal(reuse.statusCode, 409, reuse.body);
    assert.equal(json(reuse).error, 'idempotency_key_reuse');
    const replayedRejection = await send({ templateId, to: { email: 'bad' } }, 'k2');
    assert.equal(replayedRejection.statusCode, 400);
    assert.equal(replayedRejection.headers['idempotent-replayed'], 'true');
    assert.equal((json(replayedRejection).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/to/email');
    const again = json(await call(t.app, org.key, 'POST', '/api/v1/emails/batch', {
      items: [
        { idempotencyKey: 'k2', templateId, to: { email: 'bad' } },
        { idempotencyKey: 'k3', templateId, to: { externalId: 'nobody' } },
        { to: { email: 'nokey@example.com' }, templateId },
      ],
    })) as { items: { idempotencyKey: string | null; error: { error: string; details?: { errors: { pointer: string }[] } } }[] };
    assert.equal(again.items[0]!.error.details!.errors[0]!.pointer, '/items/0/to/email', 'replayed, pointer relative to this batch');
    assert.equal(again.items[1]!.error.error, 'profile_not_found');
    assert.equal(again.items[2]!.idempotencyKey, null);
    assert.equal(again.items[2]!.error.details!.errors[0]!.pointer, '/items/2/idempotencyKey');
    const badDefaults = await call(t.app, org.key, 'POST', '/api/v1/emails/batch', { defaults: { to: { email: 'x@example.com' } }, items: [{ idempotencyKey: 'x' }] });
    assert.equal(badDefaults.statusCode, 400);
    assert.equal((json(badDefaults).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/defaults/to');
  });

  test('tracking.clicks: links become signed /c/ links that record the click and redirect', async () => {
    const queued = json(await send({ templateId, to: { email: 'click@example.com' }, data: { orderId: 'c', resetUrl: 'https://app.example/reset?a=1&b=2' }, tracking: { clicks: true } }));
    await worker().runner.runDueJobsOnce();
    const message = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}/message`));
    const html = String(message.html);
    assert.ok(!html.includes('href="https://app.example/reset'), 'the original link is rewritten');
    const tracked = /href="(http:\/\/localhost:3001\/c\/[^"]+)"/.exec(html);
    assert.ok(tracked, html);
    const path = tracked[1]!.slice('http://localhost:3001'.length);
    const redirect = await t.app.inject({ method: 'GET', url: path });
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, 'https://app.example/reset?a=1&b=2');
    const clicks = await t.database.db.kysely.selectFrom('user_events').selectAll().where('organization_id', '=', org.id).where('event', '=', 'email.clicked').execute();
    assert.equal(clicks.length, 1);
    assert.deepEqual(JSON.parse(clicks[0]!.data), { emailSendId: queued.id, url: 'https://app.example/reset?a=1&b=2' });
  });

  test('scopes and isolation', async () => {
    const reader = await org.keyWith(['emails:read']);
    assert.equal((await send({ templateId, to: { email: 'x@example.com' } }, 'scope-1', reader)).statusCode, 403);
    const other = await t.newOrg();
    const mine = json(await send({ templateId, to: { email: 'iso@example.com' } }));
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/emails/${String(mine.id)}`)).statusCode, 404);
    const list = json(await call(t.app, org.key, 'GET', '/api/v1/emails?limit=2'));
    assert.equal((list.data as unknown[]).length, 2);
    assert.equal(typeof list.nextCursor, 'string');
  });
});
