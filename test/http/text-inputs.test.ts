/**
 * NUL characters in path parameters and query values (conventions.md §4.2, §5): swept over every
 * registered route, so a route added later cannot reach SQL with one (PostgreSQL answers
 * `invalid byte sequence for encoding "UTF8": 0x00`, which used to become a 500).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { badTextInputs } from '../../src/http/text-inputs.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

const SOME_ID = '0190f3c2-0000-7000-8000-000000000000';
const NUL = 'a%00b';

type FieldErrors = { errors: { in: string; pointer: string }[] };

/** The concrete URL of a route pattern, each parameter filled with `value(name)`. */
function fill(pattern: string, value: (name: string) => string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => value(name)).replace(/\*$/, value('*'));
}

function paramNames(pattern: string): string[] {
  return [...pattern.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!).concat(pattern.endsWith('*') ? ['*'] : []);
}

test('unpaired surrogates and NUL in keys or repeated values are found too', () => {
  assert.deepEqual(badTextInputs({ a: 'x\uD800', b: ['ok', 'y\uDC00'], ['c\u0000']: 'z', d: 'fine\uD83D\uDE00' }, 'query').map((e) => e.pointer), ['/a', '/b', '/c\u0000']);
});

forEachDialect('NUL in path parameters and query values', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  test('every route answers 4xx (never 5xx) with the pointer of the bad value, whatever its method', async () => {
    const routes = t.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
    assert.ok(routes.filter((r) => r.method === 'GET').length > 20, 'too few GET routes found');
    assert.ok(routes.filter((r) => r.method !== 'GET').length > 20, 'too few write routes found');
    let checked = 0;
    for (const route of routes) {
      const config = route.config;
      const strict = config.public !== true;
      const withBody = route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH';
      const get = (url: string) =>
        t.app.inject({
          method: route.method as 'GET',
          url,
          headers: { 'x-api-key': org.key, 'idempotency-key': `nul-${checked}`, ...(withBody ? { 'content-type': 'application/json' } : {}) },
          ...(withBody ? { payload: '{}' } : {}),
        });

      for (const bad of paramNames(route.url)) {
        const url = fill(route.url, (name) => (name === bad ? NUL : SOME_ID));
        const res = await get(url);
        assert.ok(res.statusCode < 500, `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
        checked++;
        if (!strict) continue;
        if (config.opaqueParams === true) {
          assert.equal(res.statusCode, 404, url);
          assert.equal(json(res).error, 'not_found', url);
          continue;
        }
        assert.equal(res.statusCode, 400, `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
        assert.equal(json(res).error, 'validation_failed');
        assert.ok((json(res).details as FieldErrors).errors.some((e) => e.in === 'path' && e.pointer === `/${bad}`), `${url}: ${res.body}`);
      }

      // Every query name of the route's schema, and one no route knows.
      for (const name of [...route.query, 'unknown']) {
        const url = `${fill(route.url, () => SOME_ID)}?${encodeURIComponent(name)}=${NUL}`;
        const res = await get(url);
        assert.ok(res.statusCode < 500, `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
        checked++;
        if (!strict) continue;
        assert.equal(res.statusCode, 400, `${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
        assert.ok((json(res).details as FieldErrors).errors.some((e) => e.in === 'query' && e.pointer === `/${name}`), `${url}: ${res.body}`);
      }
    }
    assert.ok(checked > 40, `only ${checked} requests`);
  });

  test('the audited URLs: profile id → 404, events filters → 400 in query', async () => {
    const profile = await t.app.inject({ method: 'GET', url: '/api/v1/profiles/a%00b', headers: { 'x-api-key': org.key } });
    assert.equal(profile.statusCode, 404);
    assert.equal(json(profile).error, 'not_found');
    for (const name of ['event', 'referenceId', 'profileId']) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/events?${name}=${NUL}`, headers: { 'x-api-key': org.key } });
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual((json(res).details as FieldErrors).errors, [{ in: 'query', pointer: `/${name}`, message: 'must not contain NUL characters or unpaired surrogates' }]);
    }
  });

  test('an unknown route with a NUL stays 404 not_found', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/nope?x=a%00b', headers: { 'x-api-key': org.key } });
    assert.equal(res.statusCode, 404);
  });
});
