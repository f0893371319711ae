/**
 * Domains API (emails.md §8.1) on both databases: normalisation (case, IDN → punycode), the TXT
 * record, verification through an injected resolver (found / wrong value / DNS failure),
 * uniqueness, deletion blocked by SenderProfiles, pagination, scopes and isolation.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';

interface Domain {
  id: string;
  name: string;
  status: string;
  verificationRecord: { type: string; name: string; value: string };
  verifiedAt: string | null;
  lastCheckedAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

forEachDialect('domains API', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  /** TXT answers by host name; anything else fails like a missing record. */
  const dns = new Map<string, string[][]>();
  before(async () => {
    t = await createTestApp(dialect);
    t.deps.resolveTxt = async (hostname) => {
      const answer = dns.get(hostname);
      if (answer === undefined) throw Object.assign(new Error(`queryTxt ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return answer;
    };
    org = await t.newOrg();
  });
  after(() => t.close());

  test('create: lower-cased, pending, with the TXT record to publish; get returns it', async () => {
    const res = await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'Mail.Example.COM' });
    assert.equal(res.statusCode, 201, res.body);
    const d = json(res) as unknown as Domain;
    assert.equal(d.name, 'mail.example.com');
    assert.equal(d.status, 'pending');
    assert.equal(d.verificationRecord.type, 'TXT');
    assert.equal(d.verificationRecord.name, '_segmentflow.mail.example.com');
    assert.match(d.verificationRecord.value, /^segmentflow-verification=[0-9a-f]{32}$/);
    assert.equal(d.verifiedAt, null);
    assert.equal(d.lastCheckedAt, null);
    assert.equal(d.lastError, null);
    assert.equal(d.createdAt, '2026-05-31T12:00:00.000Z');
    assert.deepEqual(Object.keys(d).sort(), ['createdAt', 'id', 'lastCheckedAt', 'lastError', 'name', 'status', 'updatedAt', 'verificationRecord', 'verifiedAt']);
    const got = await call(t.app, org.key, 'GET', `/api/v1/domains/${d.id.toUpperCase()}`);
    assert.equal(got.statusCode, 200);
    assert.deepEqual(json(got), d);
  });

  test('IDN names are stored in punycode; a trailing dot is dropped', async () => {
    const idn = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'Bücher.example' }));
    assert.equal(idn.name, 'xn--bcher-kva.example');
    const dotted = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'dotted.example.' }));
    assert.equal(dotted.name, 'dotted.example');
  });

  test('invalid names → 400 with pointer /name; unknown fields and missing name too', async () => {
    for (const name of ['not a domain', 'localhost', '-bad.example', 'exa_mple.com', '1.2.3.4', 'a..example', `${'a'.repeat(64)}.example`, `${'abcdefghi.'.repeat(25)}example`, '']) {
      const res = await call(t.app, org.key, 'POST', '/api/v1/domains', { name });
      assert.equal(res.statusCode, 400, name);
      const body = json(res);
      assert.equal(body.error, 'validation_failed');
      assert.deepEqual((body.details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['body', '/name']], name);
    }
    const extra = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'ok.example', verified: true }));
    assert.deepEqual((extra.details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/verified']);
    const missing = json(await call(t.app, org.key, 'POST', '/api/v1/domains', {}));
    assert.deepEqual((missing.details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/name']);
  });

  test('a name already added (in any spelling) → 409 already_exists with details.field', async () => {
    assert.equal((await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'dup.example' })).statusCode, 201);
    const again = await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'DUP.example' });
    assert.equal(again.statusCode, 409);
    assert.equal(json(again).error, 'already_exists');
    assert.deepEqual(json(again).details, { field: 'name' });
    // Another organization may add the same name.
    const other = await t.newOrg();
    assert.equal((await call(t.app, other.key, 'POST', '/api/v1/domains', { name: 'dup.example' })).statusCode, 201);
  });

  test('Idempotency-Key: a replay answers the stored 201 without creating a second Domain', async () => {
    const key = idemKey();
    const first = await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'idem.example' }, { 'idempotency-key': key });
    const second = await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'idem.example' }, { 'idempotency-key': key });
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 201);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(second.body, first.body);
    const reuse = await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'other.example' }, { 'idempotency-key': key });
    assert.equal(json(reuse).error, 'idempotency_key_reuse');
  });

  test('verify: no record → failed with lastError; wrong value → failed; the record → verified', async () => {
    const d = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'verify.example' })) as unknown as Domain;
    t.clock.advance(1000);
    const failed = await call(t.app, org.key, 'POST', `/api/v1/domains/${d.id}/verify`);
    assert.equal(failed.statusCode, 200, failed.body);
    const f = json(failed) as unknown as Domain;
    assert.equal(f.status, 'failed');
    assert.match(f.lastError!, /no TXT record found for _segmentflow\.verify\.example/);
    assert.equal(f.lastCheckedAt, new Date(t.clock.now()).toISOString());
    assert.equal(f.verifiedAt, null);

    dns.set('_segmentflow.verify.example', [['v=spf1 -all'], ['segmentflow-verification=wrong']]);
    const wrong = json(await call(t.app, org.key, 'POST', `/api/v1/domains/${d.id}/verify`, {})) as unknown as Domain;
    assert.equal(wrong.status, 'failed');
    assert.match(wrong.lastError!, /has no TXT record with the value segmentflow-verification=/);

    // A long value may arrive split into character-strings.
    const value = d.verificationRecord.value;
    dns.set('_segmentflow.verify.example', [['v=spf1 -all'], [value.slice(0, 10), value.slice(10)]]);
    t.clock.advance(1000);
    const ok = json(await call(t.app, org.key, 'POST', `/api/v1/domains/${d.id}/verify`)) as unknown as Domain;
    assert.equal(ok.status, 'verified');
    assert.equal(ok.lastError, null);
    assert.equal(ok.verifiedAt, new Date(t.clock.now()).toISOString());
    assert.deepEqual(json(await call(t.app, org.key, 'GET', `/api/v1/domains/${d.id}`)), ok as unknown as Record<string, unknown>);

    // The record removed: the next check fails again.
    dns.delete('_segmentflow.verify.example');
    const lost = json(await call(t.app, org.key, 'POST', `/api/v1/domains/${d.id}/verify`)) as unknown as Domain;
    assert.equal(lost.status, 'failed');
    assert.equal(lost.verifiedAt, null);
  });

  test('verify maps resolver failures without a code to a generic lastError, never a 5xx', async () => {
    const d = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'timeout.example' })) as unknown as Domain;
    const saved = t.deps.resolveTxt;
    t.deps.resolveTxt = async () => {
      throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
    };
    try {
      const res = await call(t.app, org.key, 'POST', `/api/v1/domains/${d.id}/verify`);
      assert.equal(res.statusCode, 200);
      assert.match(String(json(res).lastError), /timed out/);
    } finally {
      t.deps.resolveTxt = saved;
    }
  });

  test('delete: 409 resource_in_use while SenderProfiles use it, then 204, then 404', async () => {
    const d = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'inuse.example' })) as unknown as Domain;
    const s = json(await call(t.app, org.key, 'POST', '/api/v1/sender-profiles', { name: 'In use', email: 'a@inuse.example' }));
    const blocked = await call(t.app, org.key, 'DELETE', `/api/v1/domains/${d.id}`);
    assert.equal(blocked.statusCode, 409);
    assert.equal(json(blocked).error, 'resource_in_use');
    assert.deepEqual(json(blocked).details, { references: [{ type: 'SenderProfile', id: s.id }] });
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/sender-profiles/${String(s.id)}`)).statusCode, 204);
    const deleted = await call(t.app, org.key, 'DELETE', `/api/v1/domains/${d.id}`);
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, '');
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/domains/${d.id}`)).statusCode, 404);
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/domains/${d.id}`)).statusCode, 404);
  });

  test('list: newest first, cursor pages without repeats; a foreign cursor → 400 /cursor', async () => {
    const o = await t.newOrg();
    const names = ['p1.example', 'p2.example', 'p3.example'];
    for (const name of names) await call(t.app, o.key, 'POST', '/api/v1/domains', { name });
    const first = json(await call(t.app, o.key, 'GET', '/api/v1/domains?limit=2'));
    assert.deepEqual((first.data as Domain[]).map((d) => d.name), ['p3.example', 'p2.example']);
    assert.equal(typeof first.nextCursor, 'string');
    const second = json(await call(t.app, o.key, 'GET', `/api/v1/domains?limit=2&cursor=${encodeURIComponent(String(first.nextCursor))}`));
    assert.deepEqual((second.data as Domain[]).map((d) => d.name), ['p1.example']);
    assert.equal(second.nextCursor, null);
    const foreign = await call(t.app, org.key, 'GET', `/api/v1/domains?cursor=${encodeURIComponent(String(first.nextCursor))}`);
    assert.equal(foreign.statusCode, 400);
    assert.deepEqual((json(foreign).details as { errors: unknown[] }).errors, [{ in: 'query', pointer: '/cursor', message: 'is not a cursor of this route' }]);
    const fromOtherRoute = await call(t.app, o.key, 'GET', `/api/v1/sender-profiles?cursor=${encodeURIComponent(String(first.nextCursor))}`);
    assert.equal(fromOtherRoute.statusCode, 400);
    const badLimit = await call(t.app, o.key, 'GET', '/api/v1/domains?limit=500');
    assert.deepEqual((json(badLimit).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/limit']);
  });

  test('another organization\'s Domain is not found; malformed ids → 400 in path', async () => {
    const d = json(await call(t.app, org.key, 'POST', '/api/v1/domains', { name: 'mine.example' })) as unknown as Domain;
    const other = await t.newOrg();
    for (const [method, url] of [['GET', `/api/v1/domains/${d.id}`], ['POST', `/api/v1/domains/${d.id}/verify`], ['DELETE', `/api/v1/domains/${d.id}`]] as const) {
      const res = await call(t.app, other.key, method, url);
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(json(res).error, 'not_found');
    }
    assert.deepEqual(json(await call(t.app, other.key, 'GET', '/api/v1/domains')).data, []);
    const bad = await call(t.app, org.key, 'GET', '/api/v1/domains/not-a-uuid');
    assert.equal(bad.statusCode, 400);
    assert.deepEqual((json(bad).details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['path', '/id']]);
  });

  test('scopes: senders:read lists and reads, senders:write changes; otherwise 403 with details.required', async () => {
    const readOnly = await org.keyWith(['senders:read']);
    assert.equal((await call(t.app, readOnly, 'GET', '/api/v1/domains')).statusCode, 200);
    const denied = await call(t.app, readOnly, 'POST', '/api/v1/domains', { name: 'denied.example' });
    assert.equal(denied.statusCode, 403);
    assert.deepEqual(json(denied).details, { required: ['senders:write'] });
    const writeOnly = await org.keyWith(['senders:write']);
    const list = await call(t.app, writeOnly, 'GET', '/api/v1/domains');
    assert.equal(list.statusCode, 403);
    assert.deepEqual(json(list).details, { required: ['senders:read'] });
    const none = await org.keyWith(['templates:read']);
    for (const [method, url] of [['POST', '/api/v1/domains/00000000-0000-0000-0000-000000000000/verify'], ['DELETE', '/api/v1/domains/00000000-0000-0000-0000-000000000000']] as const) {
      assert.equal((await call(t.app, none, method, url)).statusCode, 403);
    }
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/domains' })).statusCode, 401);
  });
});
