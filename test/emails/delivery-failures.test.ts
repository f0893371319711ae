/**
 * Delivery failures (emails.md §3.2, §5): transient transport errors retried with the backoff of
 * `deliveryRetryDelayMs` until SEGMENTFLOW_EMAIL_MAX_ATTEMPTS, permanent refusals (a 5.1.x one
 * suppresses the address), render failures and a sender unverified between creation and
 * hand-off. The transport is a small scripted MailTransport throwing the repo's TransportError;
 * the database and the worker are real.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { defaultConfig } from '../../src/config.js';
import { TransportError, type MailTransport, type OutboundMessage } from '../../src/mail/transport.js';
import { deliveryRetryDelayMs } from '../../src/modules/emails/delivery.js';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { createWorker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

const HOUR = 3_600_000;
const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: { $template: 'Order ${/data/orderId}' } } } } };

test('deliveryRetryDelayMs: min(30 s × 2^(attempt−1), 1 h) ± 20 %', () => {
  const bases = [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, HOUR, HOUR, HOUR];
  for (const [i, base] of bases.entries()) {
    const attempt = i + 1;
    assert.equal(deliveryRetryDelayMs(attempt, () => 0.5), base, `attempt ${attempt}, no jitter`);
    assert.equal(deliveryRetryDelayMs(attempt, () => 0), base * 0.8, `attempt ${attempt}, lowest jitter`);
    assert.equal(deliveryRetryDelayMs(attempt, () => 0.999999999), Math.round(base * 1.2), `attempt ${attempt}, highest jitter`);
  }
  // The cap holds for any attempt count, even where 2^(attempt−1) is no longer finite.
  for (const attempt of [8, 25, 100, 1100, 5000]) assert.equal(deliveryRetryDelayMs(attempt, () => 0.5), HOUR);
  assert.equal(deliveryRetryDelayMs(5000, () => 0), 0.8 * HOUR);
  // With the real random source every delay stays within the ± 20 % band and is a whole number.
  for (let attempt = 1; attempt <= 12; attempt++) {
    const base = Math.min(30_000 * 2 ** (attempt - 1), HOUR);
    for (let i = 0; i < 200; i++) {
      const delay = deliveryRetryDelayMs(attempt);
      assert.ok(Number.isInteger(delay));
      assert.ok(delay >= base * 0.8 && delay <= base * 1.2, `attempt ${attempt}: ${delay}`);
    }
  }
});

test('SEGMENTFLOW_EMAIL_MAX_ATTEMPTS defaults to 8', () => {
  assert.equal(defaultConfig().emailMaxAttempts, 8);
});

type Step = 'ok' | TransportError;

/** A transport whose outcomes are scripted per recipient (default: accepted); records every call. */
function scriptedTransport() {
  const script = new Map<string, Step[]>();
  const calls: OutboundMessage[] = [];
  const transport: MailTransport = {
    name: 'scripted',
    async send(message) {
      calls.push(message);
      const steps = script.get(message.envelope.to[0]!);
      const step = steps && steps.length > 1 ? steps.shift()! : steps?.[0];
      if (step !== undefined && step !== 'ok') throw step;
      return { transportMessageId: `scripted-${calls.length}` };
    },
    close: async () => {},
  };
  return {
    transport,
    calls,
    /** `steps` are used in order; the last one repeats. */
    script: (recipient: string, ...steps: Step[]) => script.set(recipient, steps),
    callsFor: (emailSendId: string) => calls.filter((c) => c.emailSendId === emailSendId),
  };
}

const transient = () => new TransportError('421 4.4.2 Connection dropped', { permanent: false, code: '4.4.2', response: '421 4.4.2 Connection dropped', responseCode: 421 });

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method, url, headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
}

forEachDialect('email delivery failures', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  const scripted = scriptedTransport();
  const worker = () => createWorker(t.deps, { transport: scripted.transport });

  const publish = async (key: string, body: unknown = BODY): Promise<string> => {
    const created = await call(t.app, key, 'POST', '/api/v1/templates', { name: `T ${Math.random()}`, purpose: 'Transactional', definition: { subject: 'Your order', body } });
    assert.equal(created.statusCode, 201, created.body);
    const published = await call(t.app, key, 'POST', `/api/v1/templates/${String(json(created).id)}/publish`);
    assert.equal(published.statusCode, 200, published.body);
    return String(json(created).id);
  };

  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    templateId = await publish(org.key);
  });
  after(() => t.close());

  const send = async (body: Record<string, unknown>, key = org.key) => {
    const res = await call(t.app, key, 'POST', '/api/v1/emails', { templateId, data: { orderId: 'o1' }, ...body }, { 'idempotency-key': `df-${Math.random()}` });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(json(res).status, 'Queued');
    return String(json(res).id);
  };
  const status = async (id: string, key = org.key) => json(await call(t.app, key, 'GET', `/api/v1/emails/${id}`));
  /** The queued delivery jobs of one send. */
  const pendingJobs = async (id: string) =>
    (await t.database.db.kysely.selectFrom('jobs').selectAll().where('type', '=', 'email.deliver').where('status', '=', 'queued').execute()).filter(
      (j) => (JSON.parse(j.payload) as { emailSendId?: string }).emailSendId === id,
    );
  const message = (id: string) => t.database.db.kysely.selectFrom('messages').selectAll().where('email_send_id', '=', id).executeTakeFirstOrThrow();

  test('a transient failure is retried after deliveryRetryDelayMs, not before; the retry re-sends the same MIME', async () => {
    scripted.script('retry@example.com', transient(), 'ok');
    const id = await send({ to: { email: 'retry@example.com' } });
    const w = worker();
    const startedAt = t.clock.now();
    await w.runner.runDueJobsOnce();
    assert.equal(scripted.callsFor(id).length, 1);
    const processing = await status(id);
    assert.equal(processing.status, 'Processing');
    assert.equal(processing.failureReason, null);
    const first = await message(id);
    assert.equal(first.attempts, 1);
    assert.match(String(first.last_error), /4\.4\.2/);

    const [retry, ...more] = await pendingJobs(id);
    assert.ok(retry, 'a retry job is queued');
    assert.equal(more.length, 0, 'exactly one');
    const delay = retry.run_at - startedAt;
    assert.ok(delay >= 24_000 && delay <= 36_000, `first retry after 30 s ± 20 %, got ${delay} ms`);

    t.clock.set(retry.run_at - 1);
    assert.equal(await w.runner.runDueJobsOnce(), 0, 'nothing runs before the delay');
    assert.equal(scripted.callsFor(id).length, 1);
    assert.equal((await status(id)).status, 'Processing');

    t.clock.set(retry.run_at);
    assert.equal(await w.runner.runDueJobsOnce(), 1);
    const calls = scripted.callsFor(id);
    assert.equal(calls.length, 2);
    assert.equal(calls[1]!.messageIdHeader, calls[0]!.messageIdHeader);
    assert.equal(calls[1]!.messageIdHeader, `<${id}@example.test>`);
    assert.equal(calls[1]!.idempotencyKey, id);
    assert.ok(calls[1]!.raw.equals(calls[0]!.raw), 'retries reuse the stored MIME byte for byte');
    const sent = await status(id);
    assert.equal(sent.status, 'Sent');
    assert.equal(sent.failureReason, null);
    assert.equal(sent.sentAt, new Date(retry.run_at).toISOString());
    const recorded = await message(id);
    assert.equal(recorded.attempts, 2);
    assert.equal(recorded.transport_message_id, `scripted-${scripted.calls.indexOf(calls[1]!) + 1}`);
    assert.equal(recorded.mime, null, 'the stored MIME is dropped once sent');
    assert.deepEqual(await pendingJobs(id), []);
  });

  test('transient failures until SEGMENTFLOW_EMAIL_MAX_ATTEMPTS (default 8) → Failed transport_unavailable, growing delays', async () => {
    assert.equal(t.deps.config.emailMaxAttempts, 8);
    scripted.script('down@example.com', transient());
    const id = await send({ to: { email: 'down@example.com' } });
    const w = worker();
    await w.runner.runDueJobsOnce();
    const delays: number[] = [];
    for (let attempt = 1; attempt < 8; attempt++) {
      assert.equal((await status(id)).status, 'Processing', `after attempt ${attempt}`);
      const jobs = await pendingJobs(id);
      assert.equal(jobs.length, 1, `one retry queued after attempt ${attempt}`);
      const base = Math.min(30_000 * 2 ** (attempt - 1), HOUR);
      const delay = jobs[0]!.run_at - t.clock.now();
      assert.ok(delay >= base * 0.8 && delay <= base * 1.2, `attempt ${attempt}: delay ${delay} outside ${base} ± 20 %`);
      delays.push(delay);
      t.clock.set(jobs[0]!.run_at - 1);
      await w.runner.runDueJobsOnce();
      assert.equal(scripted.callsFor(id).length, attempt, 'not re-run before its delay');
      t.clock.set(jobs[0]!.run_at);
      await w.runner.runDueJobsOnce();
      assert.equal(scripted.callsFor(id).length, attempt + 1);
    }
    const failed = await status(id);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'transport_unavailable');
    assert.match(String(failed.failureMessage), /^transport_unavailable: /);
    assert.equal(failed.sentAt, null);
    assert.equal((await message(id)).attempts, 8);
    assert.deepEqual(await pendingJobs(id), [], 'no further retry');
    t.clock.advance(10 * HOUR);
    await w.runner.runDueJobsOnce();
    assert.equal(scripted.callsFor(id).length, 8, 'exactly SEGMENTFLOW_EMAIL_MAX_ATTEMPTS hand-offs');
    // Each base doubles, so even with ± 20 % jitter every delay is longer than the one before.
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `delays grow: ${delays.join(', ')}`);
    // A transient failure never suppresses the address.
    const suppressions = json(await call(t.app, org.key, 'GET', '/api/v1/suppressions?email=down%40example.com')).data as unknown[];
    assert.deepEqual(suppressions, []);
  });

  test('a permanent 5.1.1 rejection → Failed transport_rejected at once, the address is suppressed (hard_bounce)', async () => {
    scripted.script('gone@example.com', new TransportError('550 5.1.1 User unknown', { permanent: true, code: '5.1.1', response: '550 5.1.1 <gone@example.com>: User unknown', responseCode: 550 }));
    const id = await send({ to: { email: 'Gone@Example.com' } });
    const w = worker();
    await w.runner.runDueJobsOnce();
    const failed = await status(id);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'transport_rejected');
    assert.match(String(failed.failureMessage), /^transport_rejected: .*5\.1\.1/);
    assert.deepEqual(await pendingJobs(id), [], 'a permanent refusal is not retried');
    t.clock.advance(2 * HOUR);
    await w.runner.runDueJobsOnce();
    assert.equal(scripted.callsFor(id).length, 1);

    const listed = json(await call(t.app, org.key, 'GET', '/api/v1/suppressions?email=gone%40example.com')).data as Record<string, unknown>[];
    assert.equal(listed.length, 1, JSON.stringify(listed));
    assert.equal(listed[0]!.email, 'gone@example.com');
    assert.equal(listed[0]!.reason, 'hard_bounce');
    assert.equal(listed[0]!.source, 'smtp');
    assert.equal(listed[0]!.latestBounceDiagnosticCode, '5.1.1');
    // The next send to the address is skipped by the suppression gate.
    const again = await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId, to: { email: 'gone@example.com' } }, { 'idempotency-key': 'after-5.1.1' });
    assert.equal(json(again).status, 'Skipped');
    assert.equal(json(again).failureReason, 'suppressed_hard_bounce');
  });

  test('a permanent refusal that is not 5.1.x → Failed transport_rejected, the address is not suppressed', async () => {
    scripted.script('policy@example.com', new TransportError('550 5.7.1 Message rejected as spam', { permanent: true, code: '5.7.1', response: '550 5.7.1 Message rejected as spam', responseCode: 550 }));
    const id = await send({ to: { email: 'policy@example.com' } });
    await worker().runner.runDueJobsOnce();
    const failed = await status(id);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'transport_rejected');
    assert.deepEqual(await pendingJobs(id), []);
    const listed = json(await call(t.app, org.key, 'GET', '/api/v1/suppressions?email=policy%40example.com')).data as unknown[];
    assert.deepEqual(listed, []);
  });

  test('render_failed at hand-off: a snapshot exceeding the render bounds → Failed, never handed off, no retry', async () => {
    // Nested repeats: 200 × 200 rendered elements, far past the render bounds of templates.md §6.6
    // (10 000 nodes, 2 MiB of HTML).
    const nested = {
      root: 'e',
      elements: {
        e: { type: 'Email', props: {}, children: ['rows'] },
        rows: { type: 'Section', props: {}, children: ['cols'], repeat: { statePath: '/data/rows' } },
        cols: { type: 'Section', props: {}, children: ['d'], repeat: { statePath: '/data/cols' } },
        d: { type: 'Divider', props: {} },
      },
    };
    const heavy = await publish(org.key, nested);
    const grid = Array.from({ length: 200 }, (_, i) => i);
    const res = await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId: heavy, to: { email: 'render@example.com' }, data: { rows: grid, cols: grid } }, { 'idempotency-key': 'render-failed' });
    assert.equal(res.statusCode, 202, res.body);
    // Creation renders the headers only: a body past the bounds does not blank the subject.
    assert.equal(json(res).subject, 'Your order');
    const id = String(json(res).id);
    // Control: the same template with small data renders and is sent.
    const small = await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId: heavy, to: { email: 'render@example.com' }, data: { rows: [1, 2], cols: [1, 2] } }, { 'idempotency-key': 'render-ok' });
    const w = worker();
    await w.runner.runDueJobsOnce();
    const failed = await status(id);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'render_failed');
    assert.match(String(failed.failureMessage), /^render_failed: (too_many_nodes|html_too_large)/);
    assert.ok(failed.messageId, 'the Message row exists (emails.md §5.2) though nothing was rendered into it');
    assert.equal(scripted.callsFor(id).length, 0, 'nothing handed off');
    assert.deepEqual(await pendingJobs(id), [], 'a render failure is not retried');
    t.clock.advance(2 * HOUR);
    await w.runner.runDueJobsOnce();
    assert.equal(scripted.callsFor(id).length, 0);
    assert.equal((await status(String(json(small).id))).status, 'Sent');
  });

  test('sender_not_verified at hand-off: the Domain is unverified after the send was queued → Failed, never handed off', async () => {
    const o = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, o.id);
    const tpl = await publish(o.key);
    const id = await send({ templateId: tpl, to: { email: 'unverified@example.com' } }, o.key);
    const updated = await t.database.db.kysely.updateTable('domains').set({ verified_at: null }).where('organization_id', '=', o.id).executeTakeFirst();
    assert.equal(Number(updated.numUpdatedRows), 1);
    await worker().runner.runDueJobsOnce();
    const failed = await status(id, o.key);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'sender_not_verified');
    assert.match(String(failed.failureMessage), /^sender_not_verified: /);
    assert.equal(failed.messageId, null, 'no Message was built');
    assert.equal(scripted.callsFor(id).length, 0);
    assert.deepEqual(await pendingJobs(id), []);
  });

  test('sender_not_verified at hand-off: the SenderProfile is deleted after the send was queued', async () => {
    const o = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, o.id);
    const tpl = await publish(o.key);
    const other = await call(t.app, o.key, 'POST', '/api/v1/sender-profiles', { name: 'Billing', email: 'billing@example.test' });
    assert.equal(other.statusCode, 201, other.body);
    const senderProfileId = String(json(other).id);
    const id = await send({ templateId: tpl, to: { email: 'deleted-sender@example.com' }, senderProfileId }, o.key);
    const deleted = await call(t.app, o.key, 'DELETE', `/api/v1/sender-profiles/${senderProfileId}`);
    assert.equal(deleted.statusCode, 204, deleted.body);
    await worker().runner.runDueJobsOnce();
    const failed = await status(id, o.key);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'sender_not_verified');
    assert.equal(scripted.callsFor(id).length, 0);
  });
});

forEachDialect('email delivery failures with SEGMENTFLOW_EMAIL_MAX_ATTEMPTS=3', (dialect) => {
  let t: TestApp;
  after(() => t.close());

  test('the configured attempt count is honoured: third transient failure → Failed transport_unavailable', async () => {
    t = await createTestApp(dialect, { config: { emailMaxAttempts: 3 } });
    const org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    const tpl = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'T', purpose: 'Transactional', definition: { subject: 'S', body: BODY } }));
    await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`);
    const res = await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId: tpl.id, to: { email: 'three@example.com' } }, { 'idempotency-key': 'three' });
    assert.equal(res.statusCode, 202, res.body);
    const id = String(json(res).id);
    const scripted = scriptedTransport();
    scripted.script('three@example.com', transient());
    const w = createWorker(t.deps, { transport: scripted.transport });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await w.runner.runDueJobsOnce();
      assert.equal(scripted.callsFor(id).length, attempt);
      const current = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${id}`));
      assert.equal(current.status, attempt < 3 ? 'Processing' : 'Failed', `after attempt ${attempt}`);
      t.clock.advance(HOUR + HOUR / 5 + 1); // past any delay (≤ 1 h + 20 %)
    }
    const failed = json(await call(t.app, org.key, 'GET', `/api/v1/emails/${id}`));
    assert.equal(failed.failureReason, 'transport_unavailable');
    await w.runner.runDueJobsOnce();
    assert.equal(scripted.callsFor(id).length, 3);
  });
});
