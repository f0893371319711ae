/**
 * Delivery over real SMTP (emails.md §5–7, §10 example 7): an in-process smtp-server receives
 * what the worker sends; mailparser reads it back. Covers headers, no Bcc, the List-* headers of
 * non-transactional mail, a hard bounce, a transient failure retried with backoff, and a worker
 * that dies after the server accepted the message.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createSmtpTransport } from '../../src/mail/smtp-transport.js';
import { TransportError, type MailTransport } from '../../src/mail/transport.js';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { createWorker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';
import { startSmtpSink, type SmtpSink } from '../harness/smtp-sink.js';

const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: { $template: 'Order ${/data/orderId}' } } } } };

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method, url, headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
}

forEachDialect('delivery over real SMTP', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let sink: SmtpSink;
  let transport: MailTransport;
  let templateId: string;
  const rejected = new Map<string, { code: number; message: string }>();

  before(async () => {
    sink = await startSmtpSink({ rejectRecipient: (address) => rejected.get(address) ?? null });
    transport = createSmtpTransport(`${sink.url}?pool=false`);
    t = await createTestApp(dialect, { config: { mailTransport: 'smtp', smtpUrl: sink.url } });
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    const tpl = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Order', purpose: 'Transactional', definition: { subject: { $template: 'Order ${/data/orderId} ✓' }, body: BODY } }));
    await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`);
    templateId = String(tpl.id);
  });
  after(async () => {
    await transport.close();
    await t.close();
    await sink.close();
  });

  const send = async (body: Record<string, unknown>) => {
    const res = await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId, ...body }, { 'idempotency-key': `smtp-${Math.random()}` });
    assert.equal(res.statusCode, 202, res.body);
    return String(json(res).id);
  };
  const status = async (id: string) => json(await call(t.app, org.key, 'GET', `/api/v1/emails/${id}`));

  test('the message arrives with every header, the bcc only in the envelope', async () => {
    const id = await send({ to: { email: 'alex@example.com' }, cc: 'Billing <billing@example.com>', bcc: 'audit@example.com', replyTo: 'Help <help@example.test>', data: { orderId: 'ord_1' } });
    await createWorker(t.deps, { transport }).runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Sent');
    const received = sink.messages.find((m) => m.parsed.messageId === `<${id}@example.test>`);
    assert.ok(received, 'the sink received the Message-ID derived from the send id');
    assert.deepEqual(received.envelope.to.sort(), ['alex@example.com', 'audit@example.com', 'billing@example.com']);
    assert.equal(received.parsed.subject, 'Order ord_1 ✓');
    assert.equal(received.parsed.from?.value[0]?.address, 'hello@example.test');
    assert.equal(received.parsed.from?.value[0]?.name, 'Segmentflow');
    const addresses = (field: typeof received.parsed.to) => (Array.isArray(field) ? field : field ? [field] : []).flatMap((a) => a.value).map((a) => [a.address, a.name]);
    assert.deepEqual(addresses(received.parsed.replyTo), [['help@example.test', 'Help']]);
    assert.deepEqual(addresses(received.parsed.to), [['alex@example.com', '']]);
    assert.deepEqual(addresses(received.parsed.cc), [['billing@example.com', 'Billing']]);
    // Date: the (fake) time the message was built, at the header's one-second precision.
    assert.equal(received.parsed.date?.toISOString(), new Date(Math.floor(t.clock.now() / 1000) * 1000).toISOString());
    assert.match(received.raw.toString(), /^Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000\r$/m);
    assert.equal(received.parsed.headers.get('mime-version'), '1.0');
    assert.match(received.raw.toString(), /^MIME-Version: 1\.0\r$/m);
    assert.equal(received.parsed.headers.get('x-segmentflow-email-send-id'), id);
    assert.equal(received.parsed.headers.has('bcc'), false);
    assert.doesNotMatch(received.raw.toString(), /^Bcc:/im);
    assert.ok(String(received.parsed.html).includes('Order ord_1'));
    assert.ok(received.parsed.text?.includes('Order ord_1'));
    assert.equal(received.parsed.headers.has('list-unsubscribe'), false, 'transactional mail has no List-Unsubscribe');
  });

  test('non-transactional mail carries List-Unsubscribe, List-Unsubscribe-Post and List-Id', async () => {
    const group = json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Weekly news', type: 'OptOut' }));
    const promo = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Promo', purpose: 'Promotional', definition: { subject: 'News', body: BODY } }));
    await call(t.app, org.key, 'POST', `/api/v1/templates/${String(promo.id)}/publish`);
    // emails.send only takes Transactional templates; journeys and broadcasts use the service directly.
    const { createEmailSend } = await import('../../src/modules/emails/emails.service.js');
    const created = await t.deps.committer.run((trx) =>
      createEmailSend(trx, { ...t.deps, publicUrl: t.deps.config.publicUrl }, org.id, {
        templateId: String(promo.id), to: { email: 'reader@example.com' }, subscriptionGroupId: String(group.id), cc: [], bcc: [], data: { orderId: 'n1' }, trackClicks: false,
      }, { source: 'broadcast', requireTransactional: false }),
    );
    assert.ok(created.ok);
    await createWorker(t.deps, { transport }).runner.runDueJobsOnce();
    const received = sink.messages.find((m) => m.parsed.messageId === `<${created.value.id}@example.test>`);
    assert.ok(received);
    const unfolded = received.raw.toString().replace(/\r\n[ \t]+/g, ' ');
    assert.match(unfolded, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    assert.match(unfolded, /^List-Unsubscribe: <http:\/\/localhost:3001\/unsubscribe\/[^>]+>\r$/m);
    assert.match(unfolded, new RegExp(`^List-Id: "Weekly news" <${String(group.id)}\\.lists\\.example\\.test>\r$`, 'm'));
  });

  test('550 5.1.1 → Failed transport_rejected and the address is suppressed', async () => {
    rejected.set('gone@example.com', { code: 550, message: '5.1.1 User unknown' });
    const id = await send({ to: { email: 'gone@example.com' }, data: { orderId: 'x' } });
    await createWorker(t.deps, { transport }).runner.runDueJobsOnce();
    const failed = await status(id);
    assert.equal(failed.status, 'Failed');
    assert.equal(failed.failureReason, 'transport_rejected');
    const profile = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${String(failed.profileId)}`));
    assert.deepEqual((profile.deliverySuppression as { suppressed: boolean; reason: string }).reason, 'hard_bounce');
    const again = json(await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId, to: { email: 'gone@example.com' } }, { 'idempotency-key': 'after-bounce' }));
    assert.equal(again.status, 'Skipped');
    assert.equal(again.failureReason, 'suppressed_hard_bounce');
  });

  test('a cc refused with 5.1.1 while the primary recipient is accepted: Sent, and the cc address is suppressed (hard_bounce)', async () => {
    rejected.set('cc-gone@example.com', { code: 550, message: '5.1.1 User unknown' });
    rejected.set('cc-busy@example.com', { code: 450, message: '4.2.1 Try later' });
    const id = await send({ to: { email: 'main@example.com' }, cc: ['cc-gone@example.com', 'cc-busy@example.com'], data: { orderId: 'c' } });
    await createWorker(t.deps, { transport }).runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Sent');
    const suppressed = async (email: string) => (json(await call(t.app, org.key, 'GET', `/api/v1/suppressions?email=${encodeURIComponent(email)}`)).data as { reason: string; latestBounceDiagnosticCode: string | null }[])[0];
    const gone = await suppressed('cc-gone@example.com');
    assert.deepEqual([gone?.reason, gone?.latestBounceDiagnosticCode], ['hard_bounce', '5.1.1']);
    assert.equal(await suppressed('cc-busy@example.com'), undefined, 'a temporary refusal suppresses nothing');
    assert.equal(await suppressed('main@example.com'), undefined);
  });

  test('451 → retried after the backoff, then Sent', async () => {
    rejected.set('busy@example.com', { code: 451, message: '4.3.0 Try again later' });
    const id = await send({ to: { email: 'busy@example.com' }, data: { orderId: 'y' } });
    const w = createWorker(t.deps, { transport });
    await w.runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Processing');
    const message = await t.database.db.kysely.selectFrom('messages').selectAll().where('email_send_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(message.attempts, 1);
    assert.match(String(message.last_error), /4\.3\.0/);
    rejected.delete('busy@example.com');
    t.clock.advance(20_000); // before the first backoff (30 s ± 20 %) has passed
    await w.runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Processing');
    t.clock.advance(20_000);
    await w.runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Sent');
  });

  test('cc and bcc addresses suppressed after creation are not delivered: dropped from Cc and the envelope at build, from the envelope and the structured copy on a retry', async () => {
    // A cc equal to the primary recipient shares its envelope entry and stays in Cc.
    const id = await send({ to: { email: 'sup-to@example.com' }, cc: ['sup-c1@example.com', 'Keep <sup-c2@example.com>', 'sup-c3@example.com', 'sup-to@example.com'], bcc: ['sup-b1@example.com', 'sup-b2@example.com'], data: { orderId: 'z' } });
    for (const email of ['sup-c1@example.com', 'sup-b1@example.com']) {
      assert.equal((await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email })).statusCode, 201);
    }
    // The first hand-off fails after the message was built; c3 and b2 are suppressed before the retry.
    let failures = 0;
    const structuredCc: string[][] = [];
    const flaky: MailTransport = {
      name: 'flaky-smtp',
      async send(msg) {
        structuredCc.push(msg.structured.cc);
        if (failures++ === 0) throw new TransportError('connection lost', { permanent: false });
        return transport.send(msg);
      },
      close: async () => {},
    };
    const w = createWorker(t.deps, { transport: flaky });
    await w.runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Processing');
    assert.deepEqual(((await status(id)).cc as { email: string }[]).map((a) => a.email), ['sup-c1@example.com', 'sup-c2@example.com', 'sup-c3@example.com', 'sup-to@example.com'], 'the EmailSend keeps the cc it was accepted with');
    const message = await t.database.db.kysely.selectFrom('messages').select('envelope').where('email_send_id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual((JSON.parse(message.envelope!) as { envelope: { to: string[] } }).envelope.to, ['sup-to@example.com', 'sup-c2@example.com', 'sup-c3@example.com', 'sup-b2@example.com'], 'built without c1 and b1');
    for (const email of ['sup-c3@example.com', 'sup-b2@example.com']) {
      assert.equal((await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email })).statusCode, 201);
    }
    t.clock.advance(40_000);
    await w.runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Sent');
    const received = sink.messages.filter((m) => m.parsed.messageId === `<${id}@example.test>`);
    assert.equal(received.length, 1);
    assert.deepEqual(received[0]!.envelope.to.sort(), ['sup-c2@example.com', 'sup-to@example.com']);
    const ccHeader = (received[0]!.parsed.cc as { value: { address: string }[] } | undefined)?.value.map((a) => a.address);
    assert.deepEqual(ccHeader, ['sup-c2@example.com', 'sup-c3@example.com', 'sup-to@example.com'], 'the stored MIME is reused as built');
    assert.deepEqual(structuredCc, [['"Keep" <sup-c2@example.com>', 'sup-c3@example.com', 'sup-to@example.com'], ['"Keep" <sup-c2@example.com>', 'sup-to@example.com']], 'the structured copy loses exactly the addresses suppressed since the build');
  });

  test('a worker that dies after the server accepted the message re-sends the same Message-ID only', async () => {
    const id = await send({ to: { email: 'once@example.com' }, data: { orderId: 'z' } });
    let die = true;
    const dying: MailTransport = {
      name: 'dies-after-handoff',
      async send(message) {
        const result = await transport.send(message);
        if (die) {
          die = false;
          throw new Error('killed after hand-off');
        }
        return result;
      },
      close: async () => {},
    };
    const w = createWorker(t.deps, { transport: dying });
    await w.runner.runDueJobsOnce();
    t.clock.advance(10 * 60_000);
    await w.runner.runDueJobsOnce();
    assert.equal((await status(id)).status, 'Sent');
    const ids = sink.messages.filter((m) => m.envelope.to.includes('once@example.com')).map((m) => m.parsed.messageId);
    assert.ok(ids.length >= 1 && ids.length <= 2);
    assert.deepEqual([...new Set(ids)], [`<${id}@example.test>`]);
  });
});
