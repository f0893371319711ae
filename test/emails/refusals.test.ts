/**
 * Refusals of POST /api/v1/emails and /batch (emails.md §1–2, conventions.md §4): each one with
 * its status, `error`, `details.reason` or JSON Pointer, and nothing written — no EmailSend and
 * no delivery job — when a send is refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, track, type TestApp, type TestOrg } from '../harness/app.js';

const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: { $template: 'Order ${/data/orderId}' } } } } };
const UNKNOWN_ID = '0190f400-0000-7000-8000-000000000000';

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method,
    url,
    headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
}

type Envelope = { error: string; message: string; details?: { reason?: string; errors?: { in?: string; pointer: string; message: string }[]; byExternalId?: string | null; byEmail?: string | null } };

/**
 * Asserts a 400 validation_failed whose errors all point at `pointer` (in the body). For an item
 * of a cc/bcc array, the array field itself or the item's index are both "the field's pointer":
 * pass the alternatives as an array.
 */
function assertInvalid(res: LightMyRequestResponse, pointer: string | string[]): void {
  assert.equal(res.statusCode, 400, res.body);
  const body = JSON.parse(res.body) as Envelope;
  assert.equal(body.error, 'validation_failed', res.body);
  const errors = body.details?.errors ?? [];
  assert.ok(errors.length > 0, res.body);
  const pointers = [...new Set(errors.map((e) => e.pointer))];
  assert.equal(pointers.length, 1, res.body);
  assert.ok((Array.isArray(pointer) ? pointer : [pointer]).includes(pointers[0]!), `pointer ${pointers[0]} is not ${String(pointer)}: ${res.body}`);
  assert.ok(errors.every((e) => e.in === 'body'), res.body);
}

/** Asserts a 422 unprocessable with this reason. */
function assertUnprocessable(res: LightMyRequestResponse, reason: string): Envelope {
  assert.equal(res.statusCode, 422, res.body);
  const body = JSON.parse(res.body) as Envelope;
  assert.equal(body.error, 'unprocessable', res.body);
  assert.equal(body.details?.reason, reason, res.body);
  return body;
}

forEachDialect('emails.send refusals', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  let devSenderId: string;
  let billingId: string;

  const createTemplate = async (key: string, publish: boolean): Promise<string> => {
    const created = await call(t.app, key, 'POST', '/api/v1/templates', { name: `T ${Math.random()}`, purpose: 'Transactional', definition: { subject: { $template: 'Receipt ${/data/orderId}' }, body: BODY } });
    assert.equal(created.statusCode, 201, created.body);
    const id = String(json(created).id);
    if (publish) {
      const published = await call(t.app, key, 'POST', `/api/v1/templates/${id}/publish`);
      assert.equal(published.statusCode, 200, published.body);
    }
    return id;
  };

  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    templateId = await createTemplate(org.key, true);
    const senders = json(await call(t.app, org.key, 'GET', '/api/v1/sender-profiles')).data as { id: string; email: string }[];
    devSenderId = senders.find((s) => s.email === 'hello@example.test')!.id;
    const billing = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'Billing', email: 'billing@example.test' });
    assert.equal(billing.statusCode, 201, billing.body);
    billingId = String(json(billing).id);
  });
  after(() => t.close());

  const send = (body: unknown, key = `refusal-${Math.random()}`, apiKey = org.key) => call(t.app, apiKey, 'POST', '/api/v1/emails', body, { 'idempotency-key': key });
  const batch = (body: unknown) => call(t.app, org.key, 'POST', '/api/v1/emails/batch', body);
  const count = async (table: 'email_sends' | 'profiles', organizationId = org.id) =>
    Number((await t.database.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('organization_id', '=', organizationId).executeTakeFirstOrThrow()).n);
  const deliverJobs = async () =>
    Number((await t.database.db.kysely.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'email.deliver').where('organization_id', '=', org.id).executeTakeFirstOrThrow()).n);
  /** Runs `refusals` and asserts they created no EmailSend and no delivery job. */
  const writesNothing = async (refusals: () => Promise<void>) => {
    const [sends, jobs] = [await count('email_sends'), await deliverJobs()];
    await refusals();
    assert.equal(await count('email_sends'), sends, 'a refused send stores no EmailSend');
    assert.equal(await deliverJobs(), jobs, 'a refused send enqueues no delivery');
  };

  test('sender_mismatch: from names one SenderProfile and senderProfileId another (§1.1 step 3a)', async () => {
    await writesNothing(async () => {
      assertUnprocessable(await send({ templateId, to: { email: 'sm@example.com' }, from: 'Billing <billing@example.test>', senderProfileId: devSenderId }), 'sender_mismatch');
      assertUnprocessable(await send({ templateId, to: { email: 'sm@example.com' }, from: 'hello@example.test', senderProfileId: billingId }), 'sender_mismatch');
    });
    // Control: the same pair agreeing is accepted, with the display name from `from`.
    const agreeing = await send({ templateId, to: { email: 'sm@example.com' }, from: 'Accounts <billing@example.test>', senderProfileId: billingId.toUpperCase() });
    assert.equal(agreeing.statusCode, 202, agreeing.body);
    assert.equal(json(agreeing).senderProfileId, billingId);
    assert.deepEqual(json(agreeing).from, { email: 'billing@example.test', name: 'Accounts' });
  });

  test('template_archived and template_not_published (422, nothing written)', async () => {
    const archived = await createTemplate(org.key, true);
    const archive = await call(t.app, org.key, 'POST', `/api/v1/templates/${archived}/archive`);
    assert.equal(archive.statusCode, 200, archive.body);
    const draft = await createTemplate(org.key, false);
    const profiles = await count('profiles');
    await writesNothing(async () => {
      assertUnprocessable(await send({ templateId: archived, to: { email: 'ta@example.com' } }), 'template_archived');
      assertUnprocessable(await send({ templateId: draft, to: { email: 'tn@example.com' } }), 'template_not_published');
    });
    assert.equal(await count('profiles'), profiles, 'a refused send creates no Profile for its recipient');
  });

  test('cc / bcc: more than 10 addresses → 400 with the field pointer; 10 are accepted', async () => {
    const addresses = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);
    await writesNothing(async () => {
      for (const field of ['cc', 'bcc']) {
        assertInvalid(await send({ templateId, to: { email: 'copies@example.com' }, [field]: addresses(11, field) }), `/${field}`);
        assertInvalid(await send({ templateId, to: { email: 'copies@example.com' }, [field]: addresses(11, field).join(', ') }), `/${field}`);
        // Several comma-separated strings in an array count address by address.
        assertInvalid(await send({ templateId, to: { email: 'copies@example.com' }, [field]: [addresses(6, 'a').join(','), addresses(5, 'b').join(',')] }), `/${field}`);
      }
    });
    const ten = await send({ templateId, to: { email: 'copies@example.com' }, cc: addresses(5, 'c').join(', '), bcc: addresses(10, 'b') });
    assert.equal(ten.statusCode, 202, ten.body);
    assert.equal((json(ten).cc as unknown[]).length, 5);
  });

  test('data over 256 KiB → 400 /data; just under is accepted', async () => {
    await writesNothing(async () => {
      assertInvalid(await send({ templateId, to: { email: 'big@example.com' }, data: { big: 'x'.repeat(257 * 1024) } }), '/data');
      assertInvalid(await send({ templateId, to: { email: 'big@example.com' }, data: { orderId: 'o', nested: { big: 'x'.repeat(256 * 1024) } } }), '/data');
    });
    const under = await send({ templateId, to: { email: 'big@example.com' }, data: { big: 'x'.repeat(255 * 1024) } });
    assert.equal(under.statusCode, 202, under.body);
  });

  test('CR, LF or NUL in from, replyTo, subject, cc, bcc, to.email → 400 with that field pointer', async () => {
    const base = { templateId, to: { email: 'crlf@example.com' } };
    const cases: [string, Record<string, unknown>, string | string[]][] = [
      ['from CRLF', { ...base, from: 'Segmentflow <hello@example.test>\r\nBcc: x@evil.test' }, '/from'],
      ['from LF', { ...base, from: 'Segmentflow\n <hello@example.test>' }, '/from'],
      ['from NUL', { ...base, from: 'hello@example.test\u0000' }, '/from'],
      ['replyTo CR', { ...base, replyTo: 'help@example.test\rBcc: x@evil.test' }, '/replyTo'],
      ['replyTo LF', { ...base, replyTo: 'Help\n<help@example.test>' }, '/replyTo'],
      ['subject LF', { ...base, subject: 'Hi\nBcc: x@evil.test' }, '/subject'],
      ['cc string CRLF', { ...base, cc: 'billing@example.com\r\nBcc: x@evil.test' }, '/cc'],
      ['cc array item LF', { ...base, cc: ['ok@example.com', 'billing@example.com\nBcc: x@evil.test'] }, '/cc/1'],
      ['bcc string CRLF', { ...base, bcc: 'audit@example.com\r\nX-Evil: 1' }, '/bcc'],
      ['bcc array item CR', { ...base, bcc: ['audit@example.com\rX-Evil: 1'] }, '/bcc/0'],
      ['to.email CRLF', { templateId, to: { email: 'crlf@example.com\r\nBcc: x@evil.test' } }, '/to/email'],
      ['to.email LF', { templateId, to: { email: 'crlf@example.com\n' } }, '/to/email'],
    ];
    await writesNothing(async () => {
      for (const [name, body, pointer] of cases) {
        const res = await send(body);
        assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
        assertInvalid(res, pointer);
        assert.ok(!res.body.includes('evil.test'), `${name}: the refusal does not echo the value`);
      }
    });
  });

  test('unknown profileId → 422 profile_not_found; another organization\'s Profile is unknown too', async () => {
    const other = await t.newOrg();
    const foreign = String(json(await track(t.app, other.key, { event: 'signup', profile: { email: 'foreign@example.com' } })).profileId);
    await writesNothing(async () => {
      for (const profileId of [UNKNOWN_ID, foreign]) {
        const res = await send({ templateId, profileId });
        assert.equal(res.statusCode, 422, res.body);
        assert.equal((json(res) as Envelope).error, 'profile_not_found');
      }
      // profileId wins over `to`: an unknown profileId is refused even with a usable to.email.
      const withTo = await send({ templateId, profileId: UNKNOWN_ID, to: { email: 'fallback@example.com' } });
      assert.equal(withTo.statusCode, 422, withTo.body);
      assert.equal((json(withTo) as Envelope).error, 'profile_not_found');
    });
  });

  test('unknown subscriptionGroupId, senderProfileId, templateId → 422 reference_not_found naming the field', async () => {
    const other = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, other.id);
    const foreignGroup = String(json(await call(t.app, other.key, 'POST', '/api/v1/subscription-groups', { name: 'Foreign', type: 'OptOut' })).id);
    const foreignSender = (json(await call(t.app, other.key, 'GET', '/api/v1/sender-profiles')).data as { id: string }[])[0]!.id;
    const foreignTemplate = await createTemplate(other.key, true);
    const cases: [Record<string, unknown>, string][] = [
      [{ subscriptionGroupId: UNKNOWN_ID }, '/subscriptionGroupId'],
      [{ subscriptionGroupId: foreignGroup }, '/subscriptionGroupId'],
      [{ senderProfileId: UNKNOWN_ID }, '/senderProfileId'],
      [{ senderProfileId: foreignSender }, '/senderProfileId'],
      [{ templateId: UNKNOWN_ID }, '/templateId'],
      [{ templateId: foreignTemplate }, '/templateId'],
    ];
    await writesNothing(async () => {
      for (const [extra, pointer] of cases) {
        const body = assertUnprocessable(await send({ templateId, to: { email: 'ref@example.com' }, ...extra }), 'reference_not_found');
        assert.deepEqual(body.details?.errors?.map((e) => e.pointer), [pointer], JSON.stringify(body));
      }
    });
  });

  test('identity_conflict: to.email and to.externalId belong to two Profiles → 409, nothing written', async () => {
    const first = json(await track(t.app, org.key, { event: 'signup', profile: { email: 'one@example.com', externalId: 'cus_one' } }));
    const second = json(await track(t.app, org.key, { event: 'signup', profile: { email: 'two@example.com', externalId: 'cus_two' } }));
    assert.notEqual(first.profileId, second.profileId);
    const profiles = await count('profiles');
    await writesNothing(async () => {
      const res = await send({ templateId, to: { email: 'two@example.com', externalId: 'cus_one' } });
      assert.equal(res.statusCode, 409, res.body);
      const body = json(res) as Envelope;
      assert.equal(body.error, 'identity_conflict');
      assert.deepEqual(body.details, { byExternalId: first.profileId, byEmail: second.profileId });
    });
    assert.equal(await count('profiles'), profiles);
    // profileId wins: with it, to.externalId is ignored and there is no conflict (§1.1 step 2).
    const byId = await send({ templateId, profileId: String(first.profileId), to: { email: 'two@example.com', externalId: 'cus_two' } });
    assert.equal(byId.statusCode, 202, byId.body);
    assert.equal(json(byId).profileId, first.profileId);
    assert.deepEqual(json(byId).to, { email: 'two@example.com' });
  });

  test('a stored refusal replays under its key; nothing is written by the replay either', async () => {
    await writesNothing(async () => {
      const body = { templateId, to: { email: 'two@example.com', externalId: 'cus_one' } };
      const first = await send(body, 'refusal-replay');
      assert.equal(first.statusCode, 409);
      const again = await send(body, 'refusal-replay');
      assert.equal(again.statusCode, 409);
      assert.equal(again.body, first.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
    });
  });

  test('batch envelope: 0 items and 101 items → 400 /items, nothing processed', async () => {
    const item = (i: number) => ({ idempotencyKey: `envelope-${i}`, templateId, to: { email: `envelope${i}@example.com` } });
    await writesNothing(async () => {
      assertInvalid(await batch({ items: [] }), '/items');
      assertInvalid(await batch({ items: Array.from({ length: 101 }, (_, i) => item(i)) }), '/items');
      assertInvalid(await batch({ defaults: { templateId }, items: [] }), '/items');
      assertInvalid(await batch({ defaults: { templateId } }), '/items');
    });
    // None of the keys of the refused 101-item batch was consumed: item 0 now sends fresh.
    const res = await batch({ items: [{ ...item(0) }] });
    assert.equal(res.statusCode, 200, res.body);
    const answer = json(res) as { accepted: number; items: { send?: { status: string } }[] };
    assert.equal(answer.accepted, 1);
    assert.equal(answer.items[0]!.send?.status, 'Queued');
  });

  test('batch of exactly 100 items is accepted', async () => {
    const res = await batch({ defaults: { templateId }, items: Array.from({ length: 100 }, (_, i) => ({ idempotencyKey: `hundred-${i}`, to: { email: `hundred${i}@example.com` } })) });
    assert.equal(res.statusCode, 200, res.body);
    const answer = json(res) as { total: number; accepted: number; rejected: number };
    assert.deepEqual([answer.total, answer.accepted, answer.rejected], [100, 100, 0]);
  });

  test('batch: the same key twice — identical second item replays the first, a different one is idempotency_key_reuse', async () => {
    const sends = await count('email_sends');
    const res = await batch({
      defaults: { templateId },
      items: [
        { idempotencyKey: 'dup-same', to: { email: 'dup@example.com' }, data: { orderId: 'd1' } },
        { idempotencyKey: 'dup-same', to: { email: 'dup@example.com' }, data: { orderId: 'd1' } },
        { idempotencyKey: 'dup-diff', to: { email: 'dup@example.com' }, data: { orderId: 'd2' } },
        { idempotencyKey: 'dup-diff', to: { email: 'dup@example.com' }, data: { orderId: 'd3' } },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const answer = json(res) as { total: number; accepted: number; rejected: number; items: { index: number; idempotencyKey: string; send?: { id: string }; error?: { error: string } }[] };
    assert.deepEqual([answer.total, answer.accepted, answer.rejected], [4, 3, 1]);
    assert.deepEqual(answer.items.map((i) => i.index), [0, 1, 2, 3]);
    assert.ok(answer.items[0]!.send && answer.items[1]!.send);
    assert.deepEqual(answer.items[1]!.send, answer.items[0]!.send, 'the second identical item replays the first send');
    assert.ok(answer.items[2]!.send);
    assert.equal(answer.items[3]!.send, undefined);
    assert.equal(answer.items[3]!.idempotencyKey, 'dup-diff');
    assert.equal(answer.items[3]!.error?.error, 'idempotency_key_reuse');
    assert.equal(await count('email_sends'), sends + 2, 'two EmailSends, not four');
  });

  test('batch items are refused exactly like single sends, pointers relative to the batch body', async () => {
    const sends = await count('email_sends');
    const many = Array.from({ length: 11 }, (_, i) => `m${i}@example.com`);
    const res = await batch({
      defaults: { templateId },
      items: [
        { idempotencyKey: 'bi-cc', to: { email: 'bi@example.com' }, cc: many },
        { idempotencyKey: 'bi-from', to: { email: 'bi@example.com' }, from: 'hello@example.test\r\nBcc: x@evil.test' },
        { idempotencyKey: 'bi-group', to: { email: 'bi@example.com' }, subscriptionGroupId: UNKNOWN_ID },
        { idempotencyKey: 'bi-mismatch', to: { email: 'bi@example.com' }, from: 'billing@example.test', senderProfileId: devSenderId },
        { idempotencyKey: 'bi-profile', profileId: UNKNOWN_ID },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const answer = json(res) as { accepted: number; rejected: number; items: { error: Envelope }[] };
    assert.deepEqual([answer.accepted, answer.rejected], [0, 5]);
    const [cc, from, group, mismatch, profile] = answer.items.map((i) => i.error);
    assert.equal(cc!.error, 'validation_failed');
    assert.deepEqual([...new Set(cc!.details!.errors!.map((e) => e.pointer))], ['/items/0/cc']);
    assert.equal(from!.error, 'validation_failed');
    assert.deepEqual([...new Set(from!.details!.errors!.map((e) => e.pointer))], ['/items/1/from']);
    assert.equal(group!.details!.reason, 'reference_not_found');
    assert.deepEqual(group!.details!.errors!.map((e) => e.pointer), ['/subscriptionGroupId'].map((p) => `/items/2${p}`));
    assert.equal(mismatch!.details!.reason, 'sender_mismatch');
    assert.equal(profile!.error, 'profile_not_found');
    assert.equal(await count('email_sends'), sends);
  });
});
