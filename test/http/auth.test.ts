/**
 * Authentication and authorisation matrix (conventions.md §2–3): no key, unknown key, forged
 * checksum, revoked, expired, wrong scope, right scope; cross-organization 404; API key routes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import type { KyselyPlugin } from 'kysely';
import { ApiKeyAuthenticator, createApiKey } from '../../src/modules/api-keys/api-keys.service.js';
import { generateApiKeySecret, hasPlausibleChecksum } from '../../src/modules/api-keys/secrets.js';

const EVENT = { event: 'order.created', profile: { email: 'auth@example.com' } };

forEachDialect('authentication and scopes', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  const assertUnauthorized = (res: Awaited<ReturnType<typeof track>>) => {
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'ApiKey realm="segmentflow"');
    assert.deepEqual(json(res), { error: 'unauthorized', message: 'Missing or invalid API key.' });
  };

  test('no key → 401 with WWW-Authenticate, before the body is even validated', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    assertUnauthorized(res);
  });

  test('unknown key, forged checksum, and a key in another header → 401', async () => {
    assertUnauthorized(await track(t.app, 'sk_live_' + 'A'.repeat(38), EVENT));
    assertUnauthorized(await track(t.app, generateApiKeySecret(), EVENT));
    assertUnauthorized(await track(t.app, 'some-other-format-key-000000', EVENT));
    const bearer = await t.app.inject({ method: 'GET', url: '/api/v1/organization', headers: { authorization: `Bearer ${org.key}` } });
    assert.equal(bearer.statusCode, 401);
  });

  test('an sk_live_ value with a wrong checksum is refused without a database lookup (conventions.md §2.1)', async () => {
    let queries = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        queries++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const authenticator = new ApiKeyAuthenticator(t.deps.db.kysely.withPlugin(counting), t.clock, () => {});
    for (let i = 0; i < 200; i++) assert.equal(await authenticator.authenticate(`sk_live_${String(i).padStart(38, 'x')}`), null);
    assert.equal(queries, 0, 'a forged value cost a query');
    // The same authenticator does look a plausible value up (so the counter counts).
    assert.equal(await authenticator.authenticate(generateApiKeySecret()), null);
    assert.ok(queries > 0);
  });

  test('generated secrets have the documented format and a checksum that catches typos', () => {
    const secret = generateApiKeySecret();
    assert.match(secret, /^sk_live_[0-9A-Za-z]{38}$/);
    assert.ok(hasPlausibleChecksum(secret));
    const typo = secret.slice(0, 20) + (secret[20] === 'a' ? 'b' : 'a') + secret.slice(21);
    assert.equal(hasPlausibleChecksum(typo), false);
  });

  test('wrong scope → 403 insufficient_scope with details.required; right scope → 202', async () => {
    const narrow = await org.keyWith(['profiles:read']);
    const res = await track(t.app, narrow, EVENT);
    assert.equal(res.statusCode, 403);
    assert.equal(json(res).error, 'insufficient_scope');
    assert.deepEqual((json(res).details as Record<string, unknown>).required, ['events:write']);
    const right = await org.keyWith(['events:write']);
    assert.equal((await track(t.app, right, EVENT)).statusCode, 202);
  });

  test('revoked key → 401 from then on (revoking the calling key is allowed)', async () => {
    const admin = await org.keyWith(['api-keys:admin', 'events:write']);
    const list = json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys?limit=200', headers: { 'x-api-key': admin } }));
    const self = (list.data as { id: string; prefix: string; last4: string }[]).find((k) => admin.startsWith(k.prefix) && admin.endsWith(k.last4));
    assert.ok(self);
    assert.equal((await track(t.app, admin, EVENT)).statusCode, 202);
    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${self.id}`, headers: { 'x-api-key': admin } });
    assert.equal(revoked.statusCode, 204);
    assertUnauthorized(await track(t.app, admin, EVENT));
    const again = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${self.id}`, headers: { 'x-api-key': org.key } });
    assert.equal(again.statusCode, 404);
  });

  test('expired key → 401', async () => {
    const { key } = await createApiKey(t.database.db.kysely, t.deps, {
      organizationId: org.id,
      label: 'short-lived',
      scopes: ['events:write'],
      expiresAt: t.clock.now() + 1000,
    });
    assert.equal((await track(t.app, key, EVENT)).statusCode, 202);
    t.clock.advance(1000);
    assertUnauthorized(await track(t.app, key, EVENT));
  });

  test('another organization’s profile and event are 404 not_found', async () => {
    const other = await t.newOrg();
    const mine = json(await track(t.app, org.key, { event: 'x', profile: { email: 'mine@example.com' } }));
    for (const url of [`/api/v1/profiles/${String(mine.profileId)}`, `/api/v1/events/${String(mine.eventId)}`]) {
      const res = await t.app.inject({ method: 'GET', url, headers: { 'x-api-key': other.key } });
      assert.equal(res.statusCode, 404, url);
      assert.equal(json(res).error, 'not_found');
      assert.equal((await t.app.inject({ method: 'GET', url, headers: { 'x-api-key': org.key } })).statusCode, 200);
    }
    const listed = json(await t.app.inject({ method: 'GET', url: '/api/v1/events', headers: { 'x-api-key': other.key } }));
    assert.deepEqual(listed.data, []);
  });

  test('GET /api/v1/organization works with any valid key', async () => {
    const narrow = await org.keyWith(['profiles:read']);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/organization', headers: { 'x-api-key': narrow } });
    assert.equal(res.statusCode, 200);
    assert.equal(json(res).id, org.id);
  });

  test('POST /api/v1/api-keys shows the secret once and cannot grant scopes the caller lacks', async () => {
    const admin = await org.keyWith(['api-keys:admin', 'profiles:read']);
    const escalate = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: { 'x-api-key': admin, 'content-type': 'application/json' },
      payload: { label: 'x', scopes: ['profiles:read', 'events:write'] },
    });
    assert.equal(escalate.statusCode, 403);
    assert.deepEqual((json(escalate).details as Record<string, unknown>).required, ['events:write']);

    const headers = { 'x-api-key': admin, 'content-type': 'application/json', 'idempotency-key': 'create-key-1' };
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { label: 'reader', scopes: ['profiles:read'] } });
    assert.equal(created.statusCode, 201);
    const body = json(created);
    assert.match(String(body.key), /^sk_live_/);
    assert.equal(body.prefix, String(body.key).slice(0, 12));
    const replay = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { label: 'reader', scopes: ['profiles:read'] } });
    assert.equal(replay.statusCode, 201);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(json(replay).id, body.id);
    assert.equal(json(replay).key, undefined, 'the secret is shown exactly once');
    const row = await t.database.db.kysely.selectFrom('idempotency_records').select('response_body').where('key', '=', 'create-key-1').executeTakeFirstOrThrow();
    assert.ok(!row.response_body.includes(String(body.key)), 'the secret is not stored in the idempotency record');
    const keyRow = await t.database.db.kysely.selectFrom('api_keys').selectAll().where('id', '=', String(body.id)).executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(keyRow).includes(String(body.key)), 'only a hash of the secret is stored');

    const listed = json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: { 'x-api-key': admin } }));
    assert.ok(!JSON.stringify(listed).includes(String(body.key)));
    const unknownScope = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: { 'x-api-key': admin, 'content-type': 'application/json' },
      payload: { label: 'x', scopes: ['nope:read'] },
    });
    assert.equal(unknownScope.statusCode, 400);
    assert.equal((json(unknownScope).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/scopes/0');
  });

  test('API key list pages with a signed cursor; a tampered cursor is 400', async () => {
    const o = await t.newOrg();
    for (let i = 0; i < 4; i++) await o.keyWith(['profiles:read']);
    const page1 = json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys?limit=3', headers: { 'x-api-key': o.key } }));
    assert.equal((page1.data as unknown[]).length, 3);
    assert.equal(typeof page1.nextCursor, 'string');
    const page2 = json(await t.app.inject({ method: 'GET', url: `/api/v1/api-keys?limit=3&cursor=${String(page1.nextCursor)}`, headers: { 'x-api-key': o.key } }));
    assert.equal((page2.data as unknown[]).length, 2);
    assert.equal(page2.nextCursor, null);
    const ids = [...(page1.data as { id: string }[]), ...(page2.data as { id: string }[])].map((k) => k.id);
    assert.equal(new Set(ids).size, 5);
    const tampered = await t.app.inject({ method: 'GET', url: `/api/v1/api-keys?cursor=${String(page1.nextCursor).slice(0, -2)}xx`, headers: { 'x-api-key': o.key } });
    assert.equal(tampered.statusCode, 400);
    assert.equal((json(tampered).details as { errors: { in: string; pointer: string }[] }).errors[0]!.pointer, '/cursor');
  });
});
