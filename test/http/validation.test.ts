/**
 * Bad input on POST /api/v1/events: every field rule of events.md §1 with its JSON Pointer, the
 * parse-level hardening of conventions.md §5, and a bounded fuzz loop proving no input yields 5xx.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';

type Body = Record<string, unknown>;
const base = (): Body => ({ event: 'order.created', profile: { email: 'v@example.com' } });
const withProfile = (profile: Body): Body => ({ event: 'e', profile });

/** [description, body, expected pointer] */
const INVALID: [string, Body, string][] = [
  ['event empty', { ...base(), event: '' }, '/event'],
  ['event too long', { ...base(), event: 'e'.repeat(256) }, '/event'],
  ['event with a control character', { ...base(), event: 'a\tb' }, '/event'],
  ['event not a string', { ...base(), event: 5 }, '/event'],
  ['event missing', { profile: { email: 'v@example.com' } }, '/event'],
  ['profile missing', { event: 'e' }, '/profile'],
  ['profile without email or externalId', withProfile({ properties: {} }), '/profile'],
  ['invalid email', withProfile({ email: 'nope' }), '/profile/email'],
  ['email with a space inside', withProfile({ email: 'a b@example.com' }), '/profile/email'],
  ['email longer than 254', withProfile({ email: `${'a'.repeat(60)}@${'b'.repeat(190)}.com` }), '/profile/email'],
  ['email local part longer than 64', withProfile({ email: `${'a'.repeat(65)}@example.com` }), '/profile/email'],
  ['externalId empty', withProfile({ externalId: '' }), '/profile/externalId'],
  ['externalId too long', withProfile({ externalId: 'x'.repeat(256) }), '/profile/externalId'],
  ['externalId with a newline', withProfile({ externalId: 'a\nb' }), '/profile/externalId'],
  ['unknown profile field', withProfile({ email: 'v@example.com', phone: '1' }), '/profile/phone'],
  ['properties not an object', withProfile({ email: 'v@example.com', properties: [1] }), '/profile/properties'],
  ['more than 256 properties', withProfile({ email: 'v@example.com', properties: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, i])) }), '/profile/properties'],
  ['property key longer than 255', withProfile({ email: 'v@example.com', properties: { ['k'.repeat(256)]: 1 } }), `/profile/properties/${'k'.repeat(256)}`],
  ['property key empty', withProfile({ email: 'v@example.com', properties: { '': 1 } }), '/profile/properties/'],
  ['property value over 32 KiB', withProfile({ email: 'v@example.com', properties: { big: 'x'.repeat(33 * 1024) } }), '/profile/properties/big'],
  ['data not an object', { ...base(), data: 'x' }, '/data'],
  ['data over 256 KiB', { ...base(), data: { big: 'x'.repeat(257 * 1024) } }, '/data'],
  ['referenceId empty', { ...base(), referenceId: '' }, '/referenceId'],
  ['referenceId too long', { ...base(), referenceId: 'r'.repeat(256) }, '/referenceId'],
  ['redacted path outside /event/', { ...base(), redactedDataPaths: ['/data/payment/token'] }, '/redactedDataPaths/0'],
  ['redacted path with a bad ~ escape', { ...base(), redactedDataPaths: ['/event/ok', '/event/a~2b'] }, '/redactedDataPaths/1'],
  ['redacted path over 1024 characters', { ...base(), redactedDataPaths: ['/event/' + 'x'.repeat(1020)] }, '/redactedDataPaths/0'],
  ['more than 100 redacted paths', { ...base(), redactedDataPaths: Array.from({ length: 101 }, (_, i) => `/event/k${i}`) }, '/redactedDataPaths'],
  ['occurredAt not on the calendar', { ...base(), occurredAt: '2026-02-30T10:00:00Z' }, '/occurredAt'],
  ['occurredAt without a zone', { ...base(), occurredAt: '2026-05-31T10:00:00' }, '/occurredAt'],
  ['occurredAt a date only', { ...base(), occurredAt: '2026-05-31' }, '/occurredAt'],
  ['occurredAt more than 24 h ahead', { ...base(), occurredAt: '2026-06-01T12:00:01Z' }, '/occurredAt'],
  ['unknown top-level field', { ...base(), userId: 'u1' }, '/userId'],
];

forEachDialect('request validation', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect); // fake clock: 2026-05-31T12:00:00Z
    org = await t.newOrg();
  });
  after(() => t.close());

  for (const [name, body, pointer] of INVALID) {
    test(`400 validation_failed: ${name} (pointer ${pointer})`, async () => {
      const res = await track(t.app, org.key, body);
      assert.equal(res.statusCode, 400, res.body.slice(0, 300));
      const envelope = json(res);
      assert.equal(envelope.error, 'validation_failed');
      const errors = (envelope.details as { errors: { in: string; pointer: string; message: string }[] }).errors;
      assert.ok(
        errors.some((e) => e.in === 'body' && e.pointer === pointer),
        `expected pointer ${pointer}, got ${JSON.stringify(errors.map((e) => e.pointer))}`,
      );
    });
  }

  test('bad property keys are reported with their own escaped pointer, once each', async () => {
    const long = 'a/b~' + 'k'.repeat(260);
    const res = await track(t.app, org.key, withProfile({ email: 'v@example.com', properties: { '': 1, [long]: 2, fine: 3 } }));
    assert.equal(res.statusCode, 400);
    const errors = (json(res).details as { errors: { in: string; pointer: string; message: string }[] }).errors;
    assert.deepEqual(
      errors.map((e) => [e.in, e.pointer]),
      [
        ['body', '/profile/properties/'],
        ['body', `/profile/properties/a~1b~0${'k'.repeat(260)}`],
      ],
    );
    assert.ok(errors.every((e) => e.message.startsWith('key ')), JSON.stringify(errors));
  });

  test('valid edge values are accepted: 24 h ahead exactly, offsets, fraction digits, 256 properties, leap day', async () => {
    for (const body of [
      { ...base(), occurredAt: '2026-06-01T12:00:00Z' },
      { ...base(), occurredAt: '2026-05-31T14:00:00.123456+02:00' },
      { ...base(), occurredAt: '2024-02-29T00:00Z' },
      withProfile({ email: 'v@example.com', properties: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`k${i}`, i])) }),
      withProfile({ externalId: 'E'.repeat(255), email: 'edge@example.com' }),
    ]) {
      const res = await track(t.app, org.key, body);
      assert.equal(res.statusCode, 202, res.body);
    }
    const stored = await t.database.db.kysely.selectFrom('user_events').select('occurred_at').where('organization_id', '=', org.id).execute();
    assert.ok(stored.some((r) => r.occurred_at === Date.parse('2026-05-31T12:00:00.123Z')), 'extra fraction digits are truncated, offset applied');
  });

  test('all errors are reported, ordered by pointer', async () => {
    const res = await track(t.app, org.key, { event: '', profile: {}, extra: 1, occurredAt: 'x' });
    const pointers = (json(res).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer);
    assert.deepEqual(pointers, [...pointers].sort());
    for (const p of ['/event', '/extra', '/occurredAt', '/profile']) assert.ok(pointers.includes(p), p);
  });

  const raw = (payload: string | Buffer, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { 'x-api-key': org.key, 'idempotency-key': idemKey(), 'content-type': 'application/json', ...headers },
      payload,
    });

  test('malformed JSON and invalid UTF-8 → 400 malformed_json', async () => {
    for (const payload of ['{"event":', '{"a":1}}', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])]) {
      const res = await raw(payload);
      assert.equal(res.statusCode, 400);
      assert.equal(json(res).error, 'malformed_json');
    }
  });

  test('a 2 MiB body → 413 payload_too_large', async () => {
    const res = await raw(JSON.stringify({ ...base(), data: { big: 'x'.repeat(2 * 1024 * 1024) } }));
    assert.equal(res.statusCode, 413);
    assert.equal(json(res).error, 'payload_too_large');
  });

  test('wrong Content-Type → 415 unsupported_media_type', async () => {
    const res = await raw('event=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(res.statusCode, 415);
    assert.equal(json(res).error, 'unsupported_media_type');
  });

  test('nesting deeper than 32 → 400 with the pointer of the first too-deep container; 32 is fine', async () => {
    const nest = (levels: number): unknown => (levels === 0 ? 1 : { a: nest(levels - 1) });
    // Top level is depth 1 and data depth 2, so data = nest(31) puts its innermost object at depth 32.
    assert.equal((await track(t.app, org.key, { ...base(), data: nest(31) })).statusCode, 202);
    const res = await track(t.app, org.key, { ...base(), data: nest(32) });
    assert.equal(res.statusCode, 400);
    const error = (json(res).details as { errors: { pointer: string }[] }).errors[0]!;
    assert.equal(error.pointer, '/data' + '/a'.repeat(31));
    const deepArray = await raw(`{"event":"e","profile":{"email":"v@example.com"},"data":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`);
    assert.equal(deepArray.statusCode, 400);
  });

  test('__proto__, constructor and prototype keys → 400 with the pointer of the key', async () => {
    const res = await raw('{"event":"x","profile":{"email":"a@example.com","properties":{"__proto__":{"admin":true}}}}');
    assert.equal(res.statusCode, 400);
    assert.deepEqual((json(res).details as { errors: unknown[] }).errors[0], { in: 'body', pointer: '/profile/properties/__proto__', message: 'forbidden key' });
    for (const key of ['constructor', 'prototype']) {
      const r = await track(t.app, org.key, { ...base(), data: { nested: [{ [key]: 1 }] } });
      assert.equal(r.statusCode, 400);
      assert.equal((json(r).details as { errors: { pointer: string }[] }).errors[0]!.pointer, `/data/nested/0/${key}`);
    }
  });

  test('NUL characters and unpaired surrogates → 400', async () => {
    for (const payload of ['{"event":"a\\u0000b","profile":{"email":"a@example.com"}}', '{"event":"a\\ud800","profile":{"email":"a@example.com"}}', '{"event":"x","profile":{"email":"a@example.com"},"data":{"\\udc00":1}}']) {
      const res = await raw(payload);
      assert.equal(res.statusCode, 400, payload);
      assert.equal(json(res).error, 'validation_failed');
    }
    assert.equal((await raw('{"event":"emoji \\ud83d\\ude00","profile":{"email":"a@example.com"}}')).statusCode, 202);
  });

  test('numbers too large to be finite (1e400 parses to Infinity) → 400 with the pointer of the number', async () => {
    for (const [payload, pointer] of [
      ['{"event":"e","profile":{"email":"a@example.com"},"data":{"x":1e400}}', '/data/x'],
      ['{"event":"e","profile":{"email":"a@example.com","properties":{"n":[1,-1e309]}}}', '/profile/properties/n/1'],
    ] as const) {
      const res = await raw(payload);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(json(res).error, 'validation_failed');
      assert.deepEqual((json(res).details as { errors: unknown[] }).errors, [{ in: 'body', pointer, message: 'must be a finite number' }]);
    }
    assert.equal((await raw('{"event":"e","profile":{"email":"a@example.com"},"data":{"x":1.7976931348623157e308,"y":1e-400}}')).statusCode, 202);
  });

  test('an empty body → 400 malformed_json, not stored: a retry with the same key and a real body executes', async () => {
    for (const headers of [{ 'content-type': 'application/json' }, { 'content-type': 'application/json; charset=utf-8' }]) {
      const key = idemKey();
      const empty = await raw('', { 'idempotency-key': key, ...headers });
      assert.equal(empty.statusCode, 400, empty.body);
      assert.equal(json(empty).error, 'malformed_json');
      const again = await raw('', { 'idempotency-key': key, ...headers });
      assert.equal(again.headers['idempotent-replayed'], undefined);
      const good = await raw(JSON.stringify(base()), { 'idempotency-key': key });
      assert.equal(good.statusCode, 202, good.body);
      assert.equal(good.headers['idempotent-replayed'], undefined);
    }
    // Without any Content-Type the body is just as absent.
    const bare = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'x-api-key': org.key, 'idempotency-key': idemKey() } });
    assert.equal(bare.statusCode, 400);
    assert.equal(json(bare).error, 'malformed_json');
    // A route without a body still takes an empty JSON body (it is then judged on its merits).
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/templates', headers: { 'x-api-key': org.key, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'empty-body', purpose: 'Transactional' }) });
    assert.equal(created.statusCode, 201, created.body);
    const publish = await t.app.inject({ method: 'POST', url: `/api/v1/templates/${String(json(created).id)}/publish`, headers: { 'x-api-key': org.key, 'content-type': 'application/json' }, payload: '' });
    assert.equal(json(publish).error, 'unprocessable', publish.body);
  });

  test('parse-level rejections are not stored: the same key then executes', async () => {
    const key = idemKey();
    const bad = await raw('{"event":"x","profile":{"email":"a@example.com","properties":{"__proto__":1}}}', { 'idempotency-key': key });
    assert.equal(bad.statusCode, 400);
    const good = await raw(JSON.stringify(base()), { 'idempotency-key': key });
    assert.equal(good.statusCode, 202);
    assert.equal(good.headers['idempotent-replayed'], undefined);
  });

  test('no input produces a 5xx (bounded fuzz)', async () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const atoms: unknown[] = [null, true, 0, -1.5, 1e308, '', 'x', '\u2028', [], {}, { a: 1 }, ['/event/a'], '2026-01-01T00:00:00Z', 'a@example.com'];
    const fields = ['event', 'profile', 'data', 'referenceId', 'redactedDataPaths', 'occurredAt', 'email', 'externalId', 'properties', 'x'];
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.5) return atoms[Math.floor(rand() * atoms.length)];
      if (r < 0.75) return Array.from({ length: Math.floor(rand() * 3) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [fields[Math.floor(rand() * fields.length)]!, value(depth + 1)]));
    };
    for (let i = 0; i < 300; i++) {
      const body = rand() < 0.5 ? { ...base(), [fields[Math.floor(rand() * fields.length)]!]: value(0) } : value(0);
      const res = await raw(JSON.stringify(body) ?? 'null');
      assert.ok(res.statusCode < 500, `${res.statusCode} for ${JSON.stringify(body)}: ${res.body}`);
    }
  });
});
