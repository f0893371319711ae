/**
 * Errors Fastify raises itself come back in our envelope with x-request-id (conventions.md §1,
 * §4.1): a path that cannot be percent-decoded, a very long path parameter, and requests that
 * arrive while the server closes (503 service_unavailable with Retry-After).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { defaultConfig } from '../../src/config.js';
import { createDeps } from '../../src/deps.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

forEachDialect('framework errors in our envelope', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers: { 'x-api-key': org.key, ...headers } });

  test('a path that is not valid percent-encoding → 400 validation_failed in path, with x-request-id', async () => {
    for (const url of ['/api/v1/events/%ZZ', '/api/v1/profiles/%E0%A4%A', '/api/v1/templates/%']) {
      const res = await get(url, { 'x-request-id': 'bad-url-1' });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(res.headers['x-request-id'], 'bad-url-1');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const body = json(res);
      assert.equal(body.error, 'validation_failed');
      assert.deepEqual((body.details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['path', '']]);
      assert.ok(!res.body.includes('%ZZ'), 'the URL is not echoed');
    }
  });

  test('a long path parameter reaches its route (400 for a malformed id); one longer than any request head is 404, never 414', async () => {
    const event = await get(`/api/v1/events/${'a'.repeat(3000)}`);
    assert.equal(event.statusCode, 400);
    assert.deepEqual((json(event).details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['path', '/eventId']]);
    const huge = await get(`/api/v1/events/${'a'.repeat(70_000)}`, { 'x-request-id': 'long-1' });
    assert.equal(huge.statusCode, 404);
    assert.equal(json(huge).error, 'not_found');
    assert.equal(huge.headers['x-request-id'], 'long-1');
    assert.ok(!huge.body.includes('aaaa'), 'the URL is not echoed');
  });

  test('GET /api/v1/profiles/{profileId}: any non-UUID is 404 not_found, however long (conventions.md §6)', async () => {
    for (const length of [1024, 1025, 3000, 16_000, 70_000]) {
      const res = await get(`/api/v1/profiles/${'a'.repeat(length)}`);
      assert.equal(res.statusCode, 404, `${length}: ${res.body.slice(0, 200)}`);
      assert.equal(json(res).error, 'not_found');
      assert.ok(res.headers['x-request-id']);
    }
  });
});

forEachDialect('draining', (dialect) => {
  test('a request arriving while the server closes → 503 service_unavailable with Retry-After and x-request-id', async () => {
    const database = await createTestDatabase(dialect);
    const deps = createDeps({ config: defaultConfig(), db: database.db, clock: new FakeClock(), ids: uuidV7, logger: createLogger('silent'), secret: randomBytes(32).toString('hex') });
    const app = await buildApp(deps);
    // Holds close() between its start and the moment the listening socket is closed, the window
    // in which a request can still arrive (a slow preClose hook or in-flight work in production).
    let closingStarted!: () => void;
    const closing = new Promise<void>((resolve) => (closingStarted = resolve));
    let proceed!: () => void;
    const proceeding = new Promise<void>((resolve) => (proceed = resolve));
    app.addHook('preClose', async () => {
      closingStarted();
      await proceeding;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    try {
      const closed = app.close();
      await closing;
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/organization`, { headers: { 'x-request-id': 'drain-1' } });
      proceed();
      await closed;
      assert.equal(res.status, 503);
      assert.match(String(res.headers.get('retry-after')), /^[1-9]\d*$/);
      assert.equal(res.headers.get('x-request-id'), 'drain-1');
      assert.equal(((await res.json()) as { error: string }).error, 'service_unavailable');
    } finally {
      proceed();
      await database.destroy();
    }
  });
});
