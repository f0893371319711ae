/**
 * Delivery webhooks (emails.md §8.5) on both databases: secret rotation (shown once, scope
 * api-keys:admin), the signed generic route (good, bad, expired, missing, rotated-away signatures;
 * replays de-duplicated), schema errors with pointers, effects (hard bounce and complaint suppress,
 * soft bounce and delivery recorded on the Message), a hard bounce making a later send Skipped,
 * and the Postmark adapter with HTTP Basic.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { MailTransport } from '../../src/mail/transport.js';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { signWebhookBody } from '../../src/modules/webhooks/webhook-auth.js';
import { createWorker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';

const BODY = {
  root: 'e',
  elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: 'Hello' } } },
};

async function publishedTemplate(app: FastifyInstance, key: string): Promise<string> {
  const tpl = json(await call(app, key, 'POST', '/api/v1/templates', { name: `T ${Math.random()}`, purpose: 'Transactional', definition: { subject: 'Hi', body: BODY } }));
  assert.equal((await call(app, key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`)).statusCode, 200);
  return String(tpl.id);
}

forEachDialect('delivery webhooks', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let secret: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    secret = String(json(await call(t.app, org.key, 'POST', '/api/v1/organization/delivery-webhook-secret')).secret);
  });
  after(() => t.close());

  const nowSeconds = () => Math.floor(t.clock.now() / 1000);
  const generic = (orgId: string, body: unknown, signature: string | null, raw?: string) => {
    const payload = raw ?? JSON.stringify(body);
    return t.app.inject({
      method: 'POST',
      url: `/webhooks/delivery/${orgId}/generic`,
      payload,
      headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'segmentflow-signature': signature }) },
    });
  };
  const signed = (body: unknown, key = secret, at = nowSeconds(), orgId = org.id) => generic(orgId, body, signWebhookBody(key, JSON.stringify(body), at));
  const suppression = async (email: string) => (json(await call(t.app, org.key, 'GET', `/api/v1/suppressions?email=${encodeURIComponent(email)}`)).data as Record<string, unknown>[])[0];
  const event = (id: string, fields: Record<string, unknown>) => ({ id, occurredAt: '2026-05-31T11:59:00Z', ...fields });

  test('secret rotation: 200 {secret} shown once, api-keys:admin only, the old secret stops working', async () => {
    const o = await t.newOrg();
    const body = { events: [] };
    const noSecret = await signed(body, 'anything', nowSeconds(), o.id);
    assert.equal(noSecret.statusCode, 401, 'no secret yet');
    const reader = await o.keyWith(['emails:read', 'subscriptions:write']);
    assert.equal((await call(t.app, reader, 'POST', '/api/v1/organization/delivery-webhook-secret')).statusCode, 403);
    const res = await call(t.app, o.key, 'POST', '/api/v1/organization/delivery-webhook-secret');
    assert.equal(res.statusCode, 200);
    const first = String(json(res).secret);
    assert.match(first, /^whsec_[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(json(res)), ['secret']);
    assert.deepEqual(json(await signed(body, first, nowSeconds(), o.id)), { received: 0, duplicates: 0 });
    const second = String(json(await call(t.app, o.key, 'POST', '/api/v1/organization/delivery-webhook-secret', {})).secret);
    assert.notEqual(second, first);
    assert.equal((await signed(body, first, nowSeconds(), o.id)).statusCode, 401);
    assert.equal((await signed(body, second, nowSeconds(), o.id)).statusCode, 200);
    assert.equal((await signed(body, second, nowSeconds(), org.id)).statusCode, 401, "another organization's secret");
  });

  test('signature: good; bad, missing, expired, malformed or unknown organization → 401; replay → duplicates', async () => {
    const body = { events: [event('evt_hard_1', { type: 'bounce', bounceType: 'hard', email: 'Bounced@Example.com', diagnosticCode: '550 5.1.1 user unknown', reason: 'mailbox does not exist' })] };
    const raw = JSON.stringify(body);
    const bad = [
      signWebhookBody('wrong-secret', raw, nowSeconds()),
      signWebhookBody(secret, raw, nowSeconds() - 301),
      signWebhookBody(secret, raw, nowSeconds() + 301),
      signWebhookBody(secret, `${raw} `, nowSeconds()),
      `t=${nowSeconds()}`,
      `v1=${signWebhookBody(secret, raw, nowSeconds()).split('v1=')[1]!}`,
      'garbage',
    ];
    for (const signature of bad) {
      const res = await generic(org.id, body, signature);
      assert.equal(res.statusCode, 401, signature);
      assert.equal(json(res).error, 'unauthorized');
      assert.match(String(res.headers['www-authenticate']), /realm="segmentflow-webhooks"/);
    }
    assert.equal((await generic(org.id, body, null)).statusCode, 401, 'missing header');
    assert.equal((await signed(body, secret, nowSeconds(), '0190f3c2-0000-7000-8000-0000000000dd')).statusCode, 401, 'unknown organization');
    assert.equal((await signed(body, secret, nowSeconds(), 'not-an-org')).statusCode, 401);
    assert.equal(await suppression('bounced@example.com'), undefined, 'nothing applied');

    // Within ±300 s, several v1 values (any may match).
    const at = nowSeconds() - 290;
    const header = `t=${at},v1=${'0'.repeat(64)},v1=${signWebhookBody(secret, raw, at).split('v1=')[1]!}`;
    const ok = await generic(org.id, body, header);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(json(ok), { received: 1, duplicates: 0 });
    const entry = await suppression('bounced@example.com');
    assert.deepEqual(
      [entry?.reason, entry?.source, entry?.latestBounceReason, entry?.latestBounceDiagnosticCode],
      ['hard_bounce', 'webhook', 'mailbox does not exist', '550 5.1.1 user unknown'],
    );

    // The captured request replayed (still inside the window) changes nothing more.
    t.clock.advance(5_000);
    const replay = await generic(org.id, body, header);
    assert.deepEqual(json(replay), { received: 1, duplicates: 1 });
    const twice = { events: [event('evt_c_1', { type: 'complaint', email: 'c@example.com' }), event('evt_c_1', { type: 'complaint', email: 'c@example.com' })] };
    assert.deepEqual(json(await signed(twice)), { received: 2, duplicates: 1 }, 'same id twice in one request');
    assert.equal((await suppression('c@example.com'))?.reason, 'complaint');
  });

  test('schema errors → 400 validation_failed with pointers (after the signature); bad JSON → malformed_json', async () => {
    const invalid = await signed({ events: [event('e2', { type: 'opened', email: 'nope' })], extra: 1 });
    assert.equal(invalid.statusCode, 400);
    const pointers = (json(invalid).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer);
    assert.ok(pointers.includes('/events/0/type') && pointers.includes('/events/0/email') && pointers.includes('/extra'), pointers.join());

    const tooMany = await signed({ events: Array.from({ length: 101 }, (_, i) => event(`m${i}`, { type: 'delivered', email: 'd@example.com' })) });
    assert.equal(tooMany.statusCode, 400);
    assert.equal((json(tooMany).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/events');
    assert.equal((await signed({ events: [event('e3', { type: 'delivered', email: 'd@example.com', occurredAt: '2026-02-30T10:00:00Z' })] })).statusCode, 400);

    const raw = '{"events": [';
    assert.equal(json(await generic(org.id, null, signWebhookBody(secret, raw, nowSeconds()), raw)).error, 'malformed_json');
    assert.equal((await generic(org.id, null, signWebhookBody('wrong', raw, nowSeconds()), raw)).statusCode, 401, 'credentials first');
    // Credentials first for every body: unsigned garbage, forbidden keys, an empty body.
    for (const body of ['not json', '{"events":[{"__proto__":1}]}', '']) {
      const unsigned = await generic(org.id, null, null, body);
      assert.equal(unsigned.statusCode, 401, `unsigned ${JSON.stringify(body)}: ${unsigned.body}`);
      assert.equal((await generic(org.id, null, 't=1,v1=00', body)).statusCode, 401, `badly signed ${JSON.stringify(body)}`);
    }
    const forbidden = '{"events":[{"__proto__":1}]}';
    const signedForbidden = await generic(org.id, null, signWebhookBody(secret, forbidden, nowSeconds()), forbidden);
    assert.equal(signedForbidden.statusCode, 400);
    assert.equal((json(signedForbidden).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/events/0/__proto__');
    const empty = await generic(org.id, null, signWebhookBody(secret, '', nowSeconds()), '');
    assert.equal(json(empty).error, 'malformed_json', empty.body);
    const text = await t.app.inject({ method: 'POST', url: `/webhooks/delivery/${org.id}/generic`, payload: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(json(text).error, 'unsupported_media_type');
  });

  test('a bounce without bounceType (optional, emails.md §8.5) is hard only when its diagnostic code is permanent', async () => {
    const res = await signed({
      events: [
        event('nb1', { type: 'bounce', email: 'nb-perm@example.com', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }),
        event('nb2', { type: 'bounce', email: 'nb-enh@example.com', diagnosticCode: '5.2.1' }),
        event('nb3', { type: 'bounce', email: 'nb-temp@example.com', diagnosticCode: '421 4.7.0 try again later' }),
        event('nb4', { type: 'bounce', email: 'nb-none@example.com' }),
        event('nb5', { type: 'bounce', email: 'nb-noise@example.com', diagnosticCode: 'timed out after 500ms' }),
        event('nb6', { type: 'bounce', email: 'nb-quota@example.com', diagnosticCode: '452 4.2.2 Mailbox full (quota 500 MB)' }),
        event('nb7', { type: 'bounce', email: 'nb-port@example.com', diagnosticCode: '421 4.4.2 connect to mx port 587 timed out' }),
        event('nb8', { type: 'bounce', email: 'nb-later@example.com', diagnosticCode: '450 4.2.0 retry in 5.0.0' }),
        event('nb9', { type: 'bounce', email: 'nb-typed@example.com', diagnosticCode: 'x-postfix; 550-5.1.1 no such user' }),
        event('nb10', { type: 'bounce', email: 'nb-exchange@example.com', diagnosticCode: '#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##' }),
        event('nb11', { type: 'bounce', email: 'nb-prose@example.com', diagnosticCode: 'host mx.example.net said: 550 5.1.1 unknown user' }),
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(json(res), { received: 11, duplicates: 0 });
    for (const email of ['nb-perm@example.com', 'nb-enh@example.com', 'nb-typed@example.com', 'nb-exchange@example.com']) assert.equal((await suppression(email))?.reason, 'hard_bounce', email);
    // Only the leading reply counts: numbers later in the text never make a soft bounce hard, and
    // prose before the code leaves it soft (no suppression on a guess).
    for (const email of ['nb-temp@example.com', 'nb-none@example.com', 'nb-noise@example.com', 'nb-quota@example.com', 'nb-port@example.com', 'nb-later@example.com', 'nb-prose@example.com']) {
      assert.equal(await suppression(email), undefined, email);
    }
  });

  test('soft bounce and delivery are recorded on the Message; a hard bounce suppresses and a later send is Skipped', async () => {
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    const templateId = await publishedTemplate(t.app, org.key);
    const send = (email: string) => call(t.app, org.key, 'POST', '/api/v1/emails', { templateId, to: { email } }, { 'idempotency-key': `k-${Math.random()}` });
    const queued = json(await send('soft@example.com'));
    await createWorker(t.deps).runner.runDueJobsOnce();
    assert.equal(json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}`)).status, 'Sent');
    const header = String(json(await call(t.app, org.key, 'GET', `/api/v1/emails/${String(queued.id)}/message`)).messageIdHeader);
    const lastEvent = async () => {
      const row = await t.database.db.kysely.selectFrom('messages').select('last_event').where('email_send_id', '=', String(queued.id)).executeTakeFirstOrThrow();
      return row.last_event === null ? null : (JSON.parse(row.last_event) as Record<string, unknown>);
    };

    const delivered = await signed({ events: [event('d-1', { type: 'delivered', email: 'soft@example.com', messageId: header.slice(1, -1), occurredAt: '2026-05-31T12:00:05Z' })] });
    assert.deepEqual(json(delivered), { received: 1, duplicates: 0 });
    assert.deepEqual(await lastEvent(), {
      eventId: 'd-1', source: 'generic', type: 'delivered', bounceType: null, diagnosticCode: null, reason: null,
      occurredAt: '2026-05-31T12:00:05.000Z', receivedAt: new Date(t.clock.now()).toISOString(),
    });
    await signed({ events: [event('s-1', { type: 'bounce', bounceType: 'soft', email: 'soft@example.com', messageId: header, diagnosticCode: '452 4.2.2 mailbox full', occurredAt: '2026-05-31T12:00:09Z' })] });
    const soft = await lastEvent();
    assert.deepEqual([soft?.eventId, soft?.type, soft?.bounceType, soft?.diagnosticCode], ['s-1', 'bounce', 'soft', '452 4.2.2 mailbox full']);
    // An older event arriving late does not replace a newer one.
    await signed({ events: [event('d-old', { type: 'delivered', email: 'soft@example.com', messageId: header, occurredAt: '2026-05-31T12:00:01Z' })] });
    assert.equal((await lastEvent())?.eventId, 's-1');
    assert.equal(await suppression('soft@example.com'), undefined, 'a soft bounce does not suppress');
    assert.equal(JSON.stringify(await lastEvent()).includes('soft@example.com'), false, 'the address is not copied to the Message');

    assert.deepEqual(json(await signed({ events: [event('h-1', { type: 'bounce', bounceType: 'hard', email: 'soft@example.com', messageId: header })] })), { received: 1, duplicates: 0 });
    const later = json(await send('Soft@Example.com'));
    assert.equal(later.status, 'Skipped');
    assert.equal(later.failureReason, 'suppressed_hard_bounce');
  });

  test('Postmark adapter: Basic auth with the secret; Bounce, SpamComplaint and Delivery records; duplicates; other records ignored', async () => {
    const o = await t.newOrg();
    const pmSecret = String(json(await call(t.app, o.key, 'POST', '/api/v1/organization/delivery-webhook-secret')).secret);
    const basic = (password: string, user = 'postmark') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const postmark = (body: unknown, authorization: string | null = basic(pmSecret)) =>
      t.app.inject({
        method: 'POST',
        url: `/webhooks/delivery/${o.id}/postmark`,
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
      });
    const suppressed = async (email: string) => (json(await call(t.app, o.key, 'GET', `/api/v1/suppressions?email=${email}`)).data as Record<string, unknown>[])[0];
    const hard = {
      RecordType: 'Bounce', ID: 42, Type: 'HardBounce', TypeCode: 1, Name: 'Hard bounce', Tag: 'Test', MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
      Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).', Details: 'smtp;550 5.1.1 unknown user',
      Email: 'john@example.com', From: 'sender@example.com', BouncedAt: '2026-05-31T08:28:10.2735393-04:00', DumpAvailable: true, Inactive: true, CanActivate: true,
      Subject: 'Test subject', Metadata: { a: '1' }, MessageStream: 'outbound', ServerID: 23,
    };

    for (const authorization of [null, basic('wrong'), basic(secret), 'Bearer x', `Basic ${Buffer.from(pmSecret).toString('base64')}`]) {
      const res = await postmark(hard, authorization);
      assert.equal(res.statusCode, 401, String(authorization));
      assert.equal(res.headers['www-authenticate'], 'Basic realm="segmentflow-webhooks"');
    }
    assert.equal(await suppressed('john@example.com'), undefined);

    assert.deepEqual(json(await postmark(hard, basic(pmSecret, ''))), { received: 1, duplicates: 0 }, 'any user name');
    const entry = await suppressed('john@example.com');
    assert.deepEqual([entry?.reason, entry?.source, entry?.latestBounceDiagnosticCode], ['hard_bounce', 'webhook', 'smtp;550 5.1.1 unknown user']);
    assert.deepEqual(json(await postmark(hard)), { received: 1, duplicates: 1 });

    await postmark({ RecordType: 'SpamComplaint', ID: 43, Type: 'SpamComplaint', TypeCode: 512, MessageID: 'x', Email: 'angry@example.com', BouncedAt: '2026-05-31T12:00:00Z' });
    assert.equal((await suppressed('angry@example.com'))?.reason, 'complaint');
    await postmark({ ...hard, ID: 44, Type: 'SoftBounce', TypeCode: 4096, Email: 'full@example.com' });
    assert.equal(await suppressed('full@example.com'), undefined, 'soft bounce: no suppression');

    // Deliveries find the Message by the transport's message id (Postmark's MessageID).
    await createDevSender(t.database.db.kysely, t.deps, o.id);
    const templateId = await publishedTemplate(t.app, o.key);
    const queued = json(await call(t.app, o.key, 'POST', '/api/v1/emails', { templateId, to: { email: 'pm@example.com' } }, { 'idempotency-key': 'pm-1' }));
    const real = createWorker(t.deps);
    const postmarkLike: MailTransport = {
      name: 'postmark-like',
      async send(message) {
        await real.transport.send(message);
        return { transportMessageId: 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817' };
      },
      close: () => real.transport.close(),
    };
    await createWorker(t.deps, { transport: postmarkLike }).runner.runDueJobsOnce();
    const delivery = { RecordType: 'Delivery', ServerID: 23, MessageStream: 'outbound', MessageID: 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817', Recipient: 'pm@example.com', Tag: '', DeliveredAt: '2026-05-31T12:00:07Z', Details: 'Test delivery webhook details', Metadata: {} };
    assert.deepEqual(json(await postmark(delivery)), { received: 1, duplicates: 0 });
    assert.deepEqual(json(await postmark(delivery)), { received: 1, duplicates: 1 });
    const row = await t.database.db.kysely.selectFrom('messages').select('last_event').where('email_send_id', '=', String(queued.id)).executeTakeFirstOrThrow();
    const last = JSON.parse(row.last_event!) as Record<string, unknown>;
    assert.deepEqual([last.type, last.source, last.occurredAt, last.diagnosticCode], ['delivered', 'postmark', '2026-05-31T12:00:07.000Z', 'Test delivery webhook details']);

    assert.deepEqual(json(await postmark({ RecordType: 'Open', MessageID: 'x', Recipient: 'pm@example.com' })), { received: 0, duplicates: 0 }, 'ignored');
    const invalid = await postmark({ RecordType: 'Bounce', ID: 45, Type: 'HardBounce', Email: 'not-an-email' });
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual((json(invalid).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/BouncedAt', '/Email']);
    assert.equal((await postmark({ ID: 1 })).statusCode, 400, 'RecordType required');
  });
});
