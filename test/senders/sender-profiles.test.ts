/**
 * SenderProfiles API (emails.md §8.2) on both databases: the email's Domain must belong to the
 * organization, exactly one default, `verified` follows the Domain, immutable email, deletion
 * blocked by Templates, validation pointers, scopes and isolation.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';

interface Sender {
  id: string;
  name: string;
  email: string;
  domainId: string;
  replyTo: string | null;
  isDefault: boolean;
  verified: boolean;
  createdAt: string;
  updatedAt: string;
}

forEachDialect('sender profiles API', (dialect) => {
  let t: TestApp;
  const dns = new Map<string, string[][]>();
  before(async () => {
    t = await createTestApp(dialect);
    t.deps.resolveTxt = async (hostname) => {
      const answer = dns.get(hostname);
      if (answer === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return answer;
    };
  });
  after(() => t.close());

  async function orgWithDomain(name = 'example.org'): Promise<{ org: TestOrg; domain: Record<string, unknown> }> {
    const org = await t.newOrg();
    const domain = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name }));
    return { org, domain };
  }
  const senders = (org: TestOrg) => call(t.app, org.key, 'GET', '/api/v1/sender-profiles').then((r) => json(r).data as Sender[]);

  test('create: canonical email on a Domain of the organization; the first one is the default', async () => {
    const { org, domain } = await orgWithDomain();
    const res = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'Support', email: ' Support@Example.ORG ', isDefault: false });
    assert.equal(res.statusCode, 201, res.body);
    const s = json(res) as unknown as Sender;
    assert.equal(s.email, 'support@example.org');
    assert.equal(s.domainId, domain.id);
    assert.equal(s.isDefault, true, 'the first SenderProfile becomes the default whatever isDefault says');
    assert.equal(s.verified, false);
    assert.equal(s.replyTo, null);
    assert.deepEqual(Object.keys(s).sort(), ['createdAt', 'domainId', 'email', 'id', 'isDefault', 'name', 'replyTo', 'updatedAt', 'verified']);
    assert.deepEqual(json(await call(t.app, org.key, 'GET', `/api/v1/sender-profiles/${s.id}`)), s as unknown as Record<string, unknown>);

    const second = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'News', email: 'news@example.org', replyTo: 'Replies@Example.org' })) as unknown as Sender;
    assert.equal(second.isDefault, false);
    assert.equal(second.replyTo, 'replies@example.org');

    const third = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'Hello', email: 'hello@example.org', isDefault: true })) as unknown as Sender;
    assert.equal(third.isDefault, true);
    const all = await senders(org);
    assert.deepEqual(all.filter((x) => x.isDefault).map((x) => x.id), [third.id], 'setting isDefault clears the previous default');
  });

  test('concurrent first creations leave exactly one default', async () => {
    const { org } = await orgWithDomain('race.example');
    const results = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((n) => call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: n, email: `${n}@race.example` })),
    );
    assert.deepEqual(results.map((r) => r.statusCode), [201, 201, 201, 201, 201]);
    assert.equal(results.filter((r) => json(r).isDefault === true).length, 1);
    assert.equal((await senders(org)).filter((x) => x.isDefault).length, 1);
  });

  test('verified follows the Domain', async () => {
    const { org, domain } = await orgWithDomain('verified.example');
    const s = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'A', email: 'a@verified.example' })) as unknown as Sender;
    assert.equal(s.verified, false);
    const record = domain.verificationRecord as { name: string; value: string };
    dns.set(record.name, [[record.value]]);
    assert.equal(json(await call(t.app, org.key, 'POST', `/api/v1/domains/${String(domain.id)}/verify`)).status, 'verified');
    assert.equal(json(await call(t.app, org.key, 'GET', `/api/v1/sender-profiles/${s.id}`)).verified, true);
    assert.equal((await senders(org))[0]!.verified, true);
  });

  test('an email whose domain is not a Domain of the organization → 422 reference_not_found at /email', async () => {
    const { org } = await orgWithDomain('mine.example');
    const { org: other } = await orgWithDomain('theirs.example');
    for (const email of ['a@theirs.example', 'a@sub.mine.example', 'a@unknown.example']) {
      const res = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'X', email });
      assert.equal(res.statusCode, 422, email);
      assert.equal(json(res).error, 'unprocessable');
      assert.deepEqual(json(res).details, { reason: 'reference_not_found', errors: [{ in: 'body', pointer: '/email', message: 'does not exist in this organization' }] });
    }
    assert.equal((await call(t.app, other.key, 'POST', '/api/v1/sender-profiles', { name: 'X', email: 'a@theirs.example' })).statusCode, 201);
  });

  test('a duplicate email (any case) → 409 already_exists, field email', async () => {
    const { org } = await orgWithDomain();
    assert.equal((await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'A', email: 'dup@example.org' })).statusCode, 201);
    const dup = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'B', email: 'DUP@example.org' });
    assert.equal(dup.statusCode, 409);
    assert.deepEqual(json(dup), { error: 'already_exists', message: json(dup).message, details: { field: 'email' } });
  });

  test('validation: every bad field is reported with its pointer; stored under an Idempotency-Key', async () => {
    const { org } = await orgWithDomain();
    const key = idemKey();
    const res = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: '', email: 'not-an-email', replyTo: 'nope', isDefault: 'yes', extra: 1 }, { 'idempotency-key': key });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(
      (json(res).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer),
      ['/email', '/extra', '/isDefault', '/name', '/replyTo'],
    );
    const replay = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: '', email: 'not-an-email', replyTo: 'nope', isDefault: 'yes', extra: 1 }, { 'idempotency-key': key });
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    const long = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'x'.repeat(201), email: 'a@example.org' });
    assert.deepEqual((json(long).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/name']);
    const missing = await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', {});
    assert.deepEqual((json(missing).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/email', '/name']);
  });

  test('update: partial; replyTo null clears; email is immutable (422 immutable_field); isDefault moves the default', async () => {
    const { org } = await orgWithDomain();
    const a = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'A', email: 'a@example.org', replyTo: 'r@example.org' })) as unknown as Sender;
    const b = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'B', email: 'b@example.org' })) as unknown as Sender;
    t.clock.advance(5000);
    const renamed = await call(t.app, org.key, 'PUT', `/api/v1/sender-profiles/${a.id}`, { name: 'A2', email: 'A@EXAMPLE.org' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(json(renamed).name, 'A2');
    assert.equal(json(renamed).replyTo, 'r@example.org', 'omitted fields stay');
    assert.equal(json(renamed).updatedAt, new Date(t.clock.now()).toISOString());
    assert.equal(json(await call(t.app, org.key, 'PUT', `/api/v1/sender-profiles/${a.id}`, { replyTo: null })).replyTo, null);

    const immutable = await call(t.app, org.key, 'PUT', `/api/v1/sender-profiles/${a.id}`, { email: 'other@example.org', name: 'Nope' });
    assert.equal(immutable.statusCode, 422);
    assert.equal(json(immutable).error, 'unprocessable');
    assert.deepEqual(json(immutable).details, { reason: 'immutable_field', field: 'email' });
    assert.equal(json(await call(t.app, org.key, 'GET', `/api/v1/sender-profiles/${a.id}`)).name, 'A2', 'nothing changed');

    // isDefault: false on the default changes nothing; true on another moves it.
    assert.equal(json(await call(t.app, org.key, 'PUT', `/api/v1/sender-profiles/${a.id}`, { isDefault: false })).isDefault, true);
    assert.equal(json(await call(t.app, org.key, 'PUT', `/api/v1/sender-profiles/${b.id}`, { isDefault: true })).isDefault, true);
    const all = await senders(org);
    assert.deepEqual(all.filter((x) => x.isDefault).map((x) => x.id), [b.id]);

    const bad = await call(t.app, org.key, 'PUT', `/api/v1/sender-profiles/${a.id}`, { name: '', color: 'red' });
    assert.deepEqual((json(bad).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/color', '/name']);
  });

  test('delete: 409 resource_in_use while a Template references it; deleting the default passes it on', async () => {
    const { org } = await orgWithDomain();
    const a = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'A', email: 'a@example.org' })) as unknown as Sender;
    const b = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'B', email: 'b@example.org' })) as unknown as Sender;
    const c = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'C', email: 'c@example.org' })) as unknown as Sender;
    const tpl = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Uses A', senderProfileId: a.id }));
    const blocked = await call(t.app, org.key, 'DELETE', `/api/v1/sender-profiles/${a.id}`);
    assert.equal(blocked.statusCode, 409);
    assert.deepEqual(json(blocked).details, { references: [{ type: 'Template', id: tpl.id }] });
    assert.equal((await call(t.app, org.key, 'PUT', `/api/v1/templates/${String(tpl.id)}`, { senderProfileId: null })).statusCode, 200);
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/sender-profiles/${a.id}`)).statusCode, 204);
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/sender-profiles/${a.id}`)).statusCode, 404);
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/sender-profiles/${a.id}`)).statusCode, 404);
    const left = await senders(org);
    assert.deepEqual(left.filter((x) => x.isDefault).map((x) => x.id), [b.id], 'the oldest remaining SenderProfile becomes the default');
    assert.ok(left.some((x) => x.id === c.id));
  });

  test('list pages newest first', async () => {
    const { org } = await orgWithDomain();
    for (const n of ['1', '2', '3']) await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: n, email: `s${n}@example.org` });
    const p1 = json(await call(t.app, org.key, 'GET', '/api/v1/sender-profiles?limit=2'));
    assert.deepEqual((p1.data as Sender[]).map((s) => s.name), ['3', '2']);
    const p2 = json(await call(t.app, org.key, 'GET', `/api/v1/sender-profiles?limit=2&cursor=${encodeURIComponent(String(p1.nextCursor))}`));
    assert.deepEqual((p2.data as Sender[]).map((s) => s.name), ['1']);
    assert.equal(p2.nextCursor, null);
  });

  test('another organization\'s SenderProfile is not found; scopes are enforced', async () => {
    const { org } = await orgWithDomain();
    const s = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'A', email: 'a@example.org' })) as unknown as Sender;
    const { org: other } = await orgWithDomain();
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/sender-profiles/${s.id}`)).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'PUT', `/api/v1/sender-profiles/${s.id}`, { name: 'Hijack' })).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'DELETE', `/api/v1/sender-profiles/${s.id}`)).statusCode, 404);
    assert.equal(json(await call(t.app, org.key, 'GET', `/api/v1/sender-profiles/${s.id}`)).name, 'A');

    const readOnly = await org.keyWith(['senders:read']);
    assert.equal((await call(t.app, readOnly, 'GET', `/api/v1/sender-profiles/${s.id}`)).statusCode, 200);
    for (const [method, url, body] of [
      ['POST', '/api/v1/sender-profiles', { name: 'B', email: 'b@example.org' }],
      ['PUT', `/api/v1/sender-profiles/${s.id}`, { name: 'B' }],
      ['DELETE', `/api/v1/sender-profiles/${s.id}`, undefined],
    ] as const) {
      const res = await call(t.app, readOnly, method, url, body);
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      assert.deepEqual(json(res).details, { required: ['senders:write'] });
    }
    const noRead = await org.keyWith(['senders:write']);
    assert.equal((await call(t.app, noRead, 'GET', '/api/v1/sender-profiles')).statusCode, 403);
  });
});
