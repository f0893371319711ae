/**
 * The HTTP foundation: unknown routes, request ids, the OpenAPI document and docs, operational
 * routes, path-id validation, profile ids that are not UUIDs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

forEachDialect('http foundation', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  test('unknown routes and the old /api/v1/public generation → 404 not_found envelope', async () => {
    for (const url of ['/api/v1/nope', '/api/v1/public/events', '/']) {
      const res = await t.app.inject({ method: 'GET', url, headers: { 'x-api-key': org.key } });
      assert.equal(res.statusCode, 404, url);
      assert.equal(json(res).error, 'not_found');
    }
  });

  test('x-request-id is echoed when valid and generated otherwise', async () => {
    const echoed = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'req-abc_123' } });
    assert.equal(echoed.headers['x-request-id'], 'req-abc_123');
    const generated = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const error = await t.app.inject({ method: 'GET', url: '/api/v1/organization' });
    assert.ok(error.headers['x-request-id']);
  });

  test('OpenAPI 3.1 document generated from the route schemas, and interactive docs', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = json(res) as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>> };
    assert.equal(doc.openapi, '3.1.0');
    const events = doc.paths['/api/v1/events']!.post!;
    assert.ok(events.requestBody);
    assert.ok(events.responses['202']);
    assert.ok(doc.paths['/api/v1/profiles/{profileId}']);
    assert.ok(doc.paths['/api/v1/api-keys']);
    assert.equal(doc.paths['/healthz'], undefined, 'operational routes are hidden');
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });

  test('healthz, readyz and metrics answer without a key', async () => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /segmentflow_http_requests_total \d+/);
  });

  test('a malformed id in a path → 400 in path; a profile id that is not a UUID → 404', async () => {
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/events/not-a-uuid', headers: { 'x-api-key': org.key } });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual((json(bad).details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['path', '/eventId']]);
    const profile = await t.app.inject({ method: 'GET', url: '/api/v1/profiles/not-a-uuid', headers: { 'x-api-key': org.key } });
    assert.equal(profile.statusCode, 404);
    assert.equal(json(profile).error, 'not_found');
  });

  test('events list filters and pages newest first with a cursor bound to the route', async () => {
    const o = await t.newOrg();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      t.clock.advance(1000);
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/events',
        headers: { 'x-api-key': o.key, 'idempotency-key': `list-${i}`, 'content-type': 'application/json' },
        payload: { event: i % 2 === 0 ? 'even' : 'odd', profile: { email: `l${i}@example.com` }, referenceId: `ref-${i}` },
      });
      ids.push(String(json(res).eventId));
    }
    const get = (qs: string) => t.app.inject({ method: 'GET', url: `/api/v1/events?${qs}`, headers: { 'x-api-key': o.key } });
    const page1 = json(await get('limit=2'));
    assert.deepEqual((page1.data as { id: string }[]).map((e) => e.id), [ids[4], ids[3]]);
    const page2 = json(await get(`limit=2&cursor=${String(page1.nextCursor)}`));
    assert.deepEqual((page2.data as { id: string }[]).map((e) => e.id), [ids[2], ids[1]]);
    const page3 = json(await get(`limit=2&cursor=${String(page2.nextCursor)}`));
    assert.deepEqual((page3.data as { id: string }[]).map((e) => e.id), [ids[0]]);
    assert.equal(page3.nextCursor, null);
    assert.deepEqual((json(await get('event=even')).data as { id: string }[]).map((e) => e.id), [ids[4], ids[2], ids[0]]);
    assert.deepEqual((json(await get('referenceId=ref-3')).data as { id: string }[]).map((e) => e.id), [ids[3]]);
    assert.equal((await get('limit=500')).statusCode, 400);
    // A cursor of another route is rejected.
    const keysPage = json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys?limit=1', headers: { 'x-api-key': o.key } }));
    await o.keyWith(['profiles:read']);
    const other = json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys?limit=1', headers: { 'x-api-key': o.key } }));
    const foreign = String(other.nextCursor ?? keysPage.nextCursor);
    assert.equal((await get(`cursor=${foreign}`)).statusCode, 400);
  });
});
