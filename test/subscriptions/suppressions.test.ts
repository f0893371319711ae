/**
 * The suppression list (emails.md §8.4) on both databases: manual adds (201, then 200 with the
 * existing entry), HMAC-keyed lookups, erasure markers (email null) matched by hashing, filters
 * and pages, removal, the Profile's deliverySuppression, and addSuppression/findSuppression as
 * the send gates use them.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';
import { addSuppression, findSuppression, suppressionHash } from '../../src/modules/subscriptions/suppressions.service.js';

interface Suppression {
  email: string | null;
  reason: string;
  source: string;
  suppressedAt: string;
  latestBounceReason: string | null;
  latestBounceDiagnosticCode: string | null;
}

forEachDialect('suppressions', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  const list = async (o: TestOrg, query = '') => json(await call(t.app, o.key, 'GET', `/api/v1/suppressions${query}`));

  test('POST adds a manual entry (201); the same address again → 200 with the existing entry', async () => {
    const res = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: ' Alex@Example.com ' });
    assert.equal(res.statusCode, 201, res.body);
    const entry = json(res) as unknown as Suppression;
    assert.deepEqual(entry, {
      email: 'alex@example.com',
      reason: 'manual',
      source: 'api',
      suppressedAt: '2026-05-31T12:00:00.000Z',
      latestBounceReason: null,
      latestBounceDiagnosticCode: null,
    });
    t.clock.advance(60_000);
    const again = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'ALEX@example.com', reason: 'manual' });
    assert.equal(again.statusCode, 200);
    assert.deepEqual(json(again), entry as unknown as Record<string, unknown>);

    // Stored under the HMAC of the canonical address with the instance secret.
    const row = await t.deps.db.kysely.selectFrom('suppressions').selectAll().where('organization_id', '=', org.id).where('email', '=', 'alex@example.com').executeTakeFirstOrThrow();
    assert.equal(row.email_hash, createHmac('sha256', t.deps.secret).update('alex@example.com').digest('hex'));
    assert.equal(row.email_hash, suppressionHash(t.deps.secret, '  ALEX@example.COM'));
  });

  test('POST validation: bad email, reasons other than manual, unknown fields → 400 with pointers', async () => {
    const res = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'not an email', reason: 'hard_bounce', note: 'x' });
    assert.equal(res.statusCode, 400);
    assert.deepEqual((json(res).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/email', '/note', '/reason']);
    const missing = await call(t.app, org.key, 'POST', '/api/v1/suppressions', {});
    assert.deepEqual((json(missing).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['/email']);
  });

  test('Idempotency-Key: a replay repeats the first answer (201), not the 200 a second add would give', async () => {
    const key = idemKey();
    const first = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'idem@example.com' }, { 'idempotency-key': key });
    const replay = await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'idem@example.com' }, { 'idempotency-key': key });
    assert.equal(first.statusCode, 201);
    assert.equal(replay.statusCode, 201);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal((await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'idem@example.com' })).statusCode, 200);
  });

  test('list: newest first, reason and email filters, pages, bad filters → 400', async () => {
    const o = await t.newOrg();
    const db = t.deps.db.kysely;
    await addSuppression(db, t.deps.secret, o.id, { email: 'b1@example.com', reason: 'hard_bounce', source: 'smtp', bounceReason: 'smtp; 550 5.1.1 user unknown', diagnosticCode: '5.1.1', at: t.clock.now() });
    await addSuppression(db, t.deps.secret, o.id, { email: 'c1@example.com', reason: 'complaint', source: 'webhook', at: t.clock.now() });
    await call(t.app, o.key, 'POST', '/api/v1/suppressions', { email: 'm1@example.com' });
    const all = await list(o);
    assert.deepEqual((all.data as Suppression[]).map((s) => s.email), ['m1@example.com', 'c1@example.com', 'b1@example.com']);
    assert.deepEqual((all.data as Suppression[])[2], {
      email: 'b1@example.com',
      reason: 'hard_bounce',
      source: 'smtp',
      suppressedAt: new Date(t.clock.now()).toISOString(),
      latestBounceReason: 'smtp; 550 5.1.1 user unknown',
      latestBounceDiagnosticCode: '5.1.1',
    });
    assert.deepEqual(((await list(o, '?reason=complaint')).data as Suppression[]).map((s) => s.email), ['c1@example.com']);
    assert.deepEqual(((await list(o, `?email=${encodeURIComponent('B1@Example.com')}`)).data as Suppression[]).map((s) => s.email), ['b1@example.com']);
    assert.deepEqual((await list(o, '?email=nobody%40example.com')).data, []);
    const p1 = await list(o, '?limit=2');
    assert.equal((p1.data as Suppression[]).length, 2);
    const p2 = await list(o, `?limit=2&cursor=${encodeURIComponent(String(p1.nextCursor))}`);
    assert.deepEqual((p2.data as Suppression[]).map((s) => s.email), ['b1@example.com']);
    assert.equal(p2.nextCursor, null);
    const bad = await call(t.app, o.key, 'GET', '/api/v1/suppressions?reason=bounced&email=nope&limit=0&x=1');
    assert.equal(bad.statusCode, 400);
    assert.deepEqual((json(bad).details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [
      ['query', '/email'],
      ['query', '/limit'],
      ['query', '/reason'],
      ['query', '/x'],
    ]);
  });

  test('DELETE by URL-encoded address → 204, then 404; a malformed address → 400 in path', async () => {
    await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'gone+tag@example.com' });
    const removed = await call(t.app, org.key, 'DELETE', `/api/v1/suppressions/${encodeURIComponent('Gone+Tag@Example.com')}`);
    assert.equal(removed.statusCode, 204);
    assert.equal(removed.body, '');
    const again = await call(t.app, org.key, 'DELETE', `/api/v1/suppressions/${encodeURIComponent('gone+tag@example.com')}`);
    assert.equal(again.statusCode, 404);
    assert.equal(json(again).error, 'not_found');
    await call(t.app, org.key, 'POST', '/api/v1/suppressions', { email: 'a/b@example.com' });
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/suppressions/${encodeURIComponent('a/b@example.com')}`)).statusCode, 204);
    const bad = await call(t.app, org.key, 'DELETE', '/api/v1/suppressions/not-an-email');
    assert.equal(bad.statusCode, 400);
    assert.deepEqual((json(bad).details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['path', '/email']]);
  });

  test('erasure markers (email null) are listed, matched by hashing the address, and removable', async () => {
    const o = await t.newOrg();
    await t.deps.db.kysely
      .insertInto('suppressions')
      .values({
        id: t.deps.ids(),
        organization_id: o.id,
        email: null,
        email_hash: suppressionHash(t.deps.secret, 'erased@example.com'),
        reason: 'hard_bounce',
        source: 'smtp',
        suppressed_at: t.clock.now(),
        latest_bounce_reason: null,
        latest_bounce_diagnostic_code: null,
      })
      .execute();
    const listed = (await list(o)).data as Suppression[];
    assert.deepEqual(listed.map((s) => [s.email, s.reason]), [[null, 'hard_bounce']]);
    assert.deepEqual(((await list(o, '?email=ERASED%40example.com')).data as Suppression[]).map((s) => s.email), [null]);
    const found = await findSuppression(t.deps.db.kysely, t.deps.secret, o.id, 'Erased@Example.com');
    assert.equal(found?.reason, 'hard_bounce');

    // A new Profile with that address shows as suppressed.
    const res = await track(t.app, o.key, { event: 'x', profile: { email: 'erased@example.com' } });
    const profile = json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${String(json(res).profileId)}`));
    assert.deepEqual(profile.deliverySuppression, {
      suppressed: true,
      email: 'erased@example.com',
      reason: 'hard_bounce',
      suppressedAt: new Date(t.clock.now()).toISOString(),
      latestBounceReason: null,
      latestBounceDiagnosticCode: null,
    });

    // Adding the address again keeps the marker (no clear address comes back).
    const readd = await call(t.app, o.key, 'POST', '/api/v1/suppressions', { email: 'erased@example.com' });
    assert.equal(readd.statusCode, 200);
    assert.equal(json(readd).email, null);
    assert.equal((await call(t.app, o.key, 'DELETE', '/api/v1/suppressions/erased%40example.com')).statusCode, 204);
    assert.deepEqual((await list(o)).data, []);
    assert.equal(await findSuppression(t.deps.db.kysely, t.deps.secret, o.id, 'erased@example.com'), null);
  });

  test('Profile deliverySuppression follows the list', async () => {
    const o = await t.newOrg();
    const pid = String(json(await track(t.app, o.key, { event: 'x', profile: { email: 'P@example.com' } })).profileId);
    const get = async () => json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${pid}`)).deliverySuppression as Record<string, unknown>;
    assert.deepEqual(await get(), { suppressed: false, email: 'p@example.com', reason: null, suppressedAt: null, latestBounceReason: null, latestBounceDiagnosticCode: null });
    t.clock.advance(1000);
    await addSuppression(t.deps.db.kysely, t.deps.secret, o.id, { email: 'p@example.com', reason: 'hard_bounce', source: 'smtp', bounceReason: 'smtp; 550 5.1.1 user unknown', diagnosticCode: '5.1.1', at: t.clock.now() });
    assert.deepEqual(await get(), {
      suppressed: true,
      email: 'p@example.com',
      reason: 'hard_bounce',
      suppressedAt: new Date(t.clock.now()).toISOString(),
      latestBounceReason: 'smtp; 550 5.1.1 user unknown',
      latestBounceDiagnosticCode: '5.1.1',
    });
    await call(t.app, o.key, 'DELETE', '/api/v1/suppressions/p%40example.com');
    assert.equal((await get()).suppressed, false);
  });

  test('addSuppression is an idempotent upsert: bounce details update, a manual add never downgrades', async () => {
    const o = await t.newOrg();
    const db = t.deps.db.kysely;
    const at = t.clock.now();
    assert.deepEqual(await addSuppression(db, t.deps.secret, o.id, { email: 'Up@example.com', reason: 'manual', source: 'cli', at }), { created: true });
    assert.deepEqual(await findSuppression(db, t.deps.secret, o.id, 'up@example.com'), { reason: 'manual', suppressedAt: at, latestBounceReason: null, latestBounceDiagnosticCode: null });
    assert.deepEqual(
      await addSuppression(db, t.deps.secret, o.id, { email: 'up@EXAMPLE.com', reason: 'hard_bounce', source: 'smtp', bounceReason: 'smtp; 550 5.1.1 gone', diagnosticCode: '5.1.1', at: at + 1000 }),
      { created: false },
    );
    assert.deepEqual(await findSuppression(db, t.deps.secret, o.id, 'up@example.com'), { reason: 'hard_bounce', suppressedAt: at, latestBounceReason: 'smtp; 550 5.1.1 gone', latestBounceDiagnosticCode: '5.1.1' });
    await addSuppression(db, t.deps.secret, o.id, { email: 'up@example.com', reason: 'hard_bounce', source: 'webhook', bounceReason: 'smtp; 550 5.1.10 null MX', diagnosticCode: '5.1.10', at: at + 2000 });
    await addSuppression(db, t.deps.secret, o.id, { email: 'up@example.com', reason: 'manual', source: 'api', at: at + 3000 });
    const row = await db.selectFrom('suppressions').selectAll().where('organization_id', '=', o.id).execute();
    assert.equal(row.length, 1);
    assert.deepEqual([row[0]!.reason, row[0]!.source, row[0]!.latest_bounce_diagnostic_code, row[0]!.suppressed_at], ['hard_bounce', 'cli', '5.1.10', at]);
    // Concurrent adds of one address make one row.
    const results = await Promise.all([1, 2, 3, 4].map(() => t.deps.committer.run((trx) => addSuppression(trx, t.deps.secret, o.id, { email: 'race@example.com', reason: 'complaint', source: 'webhook', at }))));
    assert.equal(results.filter((r) => r.created).length, 1);
  });

  test('organizations are isolated; scopes subscriptions:read / subscriptions:write', async () => {
    const a = await t.newOrg();
    const b = await t.newOrg();
    await call(t.app, a.key, 'POST', '/api/v1/suppressions', { email: 'iso@example.com' });
    assert.deepEqual((await list(b)).data, []);
    assert.equal((await call(t.app, b.key, 'DELETE', '/api/v1/suppressions/iso%40example.com')).statusCode, 404);
    assert.equal(await findSuppression(t.deps.db.kysely, t.deps.secret, b.id, 'iso@example.com'), null);
    assert.notEqual(await findSuppression(t.deps.db.kysely, t.deps.secret, a.id, 'iso@example.com'), null);
    // Adding in B creates B's own entry.
    assert.equal((await call(t.app, b.key, 'POST', '/api/v1/suppressions', { email: 'iso@example.com' })).statusCode, 201);

    const readOnly = await a.keyWith(['subscriptions:read']);
    assert.equal((await call(t.app, readOnly, 'GET', '/api/v1/suppressions')).statusCode, 200);
    for (const [method, url, body] of [['POST', '/api/v1/suppressions', { email: 'x@example.com' }], ['DELETE', '/api/v1/suppressions/iso%40example.com', undefined]] as const) {
      const res = await call(t.app, readOnly, method, url, body);
      assert.equal(res.statusCode, 403);
      assert.deepEqual(json(res).details, { required: ['subscriptions:write'] });
    }
    const writeOnly = await a.keyWith(['subscriptions:write']);
    const denied = await call(t.app, writeOnly, 'GET', '/api/v1/suppressions');
    assert.deepEqual(json(denied).details, { required: ['subscriptions:read'] });
  });
});
