/**
 * SubscriptionGroups (emails.md §8.3) and Profile subscription statuses (profiles.md §6) on both
 * databases: CRUD, unique names, immutable type, computed counts, effective isSubscribed,
 * validation pointers, scopes and isolation.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';

interface Group {
  id: string;
  name: string;
  description: string | null;
  type: 'OptIn' | 'OptOut';
  channel: string;
  subscribedCount: number;
  unsubscribedCount: number;
  createdAt: string;
  updatedAt: string;
}

interface Entry {
  subscriptionGroupId: string;
  name: string;
  type: string;
  channel: string;
  status: string;
  isSubscribed: boolean;
  source: string | null;
  updatedAt: string | null;
}

const pointers = (body: Record<string, unknown>) => (body.details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer);

forEachDialect('subscription groups and profile subscriptions API', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  async function profile(o: TestOrg, email: string): Promise<string> {
    const res = await track(t.app, o.key, { event: 'signed_up', profile: { email } });
    assert.equal(res.statusCode, 202, res.body);
    return String(json(res).profileId);
  }
  const createGroup = async (o: TestOrg, body: Record<string, unknown>) => json(await call(t.app, o.key, 'POST', '/api/v1/subscription-groups', body)) as unknown as Group;

  test('create, get, list; a duplicate name → 409 already_exists field name', async () => {
    const res = await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Weekly news', description: 'Every Monday', type: 'OptIn' });
    assert.equal(res.statusCode, 201, res.body);
    const g = json(res) as unknown as Group;
    assert.deepEqual({ ...g, id: 'x' }, {
      id: 'x',
      name: 'Weekly news',
      description: 'Every Monday',
      type: 'OptIn',
      channel: 'email',
      subscribedCount: 0,
      unsubscribedCount: 0,
      createdAt: '2026-05-31T12:00:00.000Z',
      updatedAt: '2026-05-31T12:00:00.000Z',
    });
    assert.deepEqual(json(await call(t.app, org.key, 'GET', `/api/v1/subscription-groups/${g.id}`)), g as unknown as Record<string, unknown>);
    const noDescription = await createGroup(org, { name: 'Product updates', type: 'OptOut' });
    assert.equal(noDescription.description, null);
    const list = json(await call(t.app, org.key, 'GET', '/api/v1/subscription-groups'));
    assert.deepEqual((list.data as Group[]).map((x) => x.name), ['Product updates', 'Weekly news']);
    assert.equal(list.nextCursor, null);
    const page1 = json(await call(t.app, org.key, 'GET', '/api/v1/subscription-groups?limit=1'));
    assert.deepEqual((page1.data as Group[]).map((x) => x.name), ['Product updates']);
    const page2 = json(await call(t.app, org.key, 'GET', `/api/v1/subscription-groups?limit=1&cursor=${encodeURIComponent(String(page1.nextCursor))}`));
    assert.deepEqual((page2.data as Group[]).map((x) => x.name), ['Weekly news']);

    const dup = await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Weekly news', type: 'OptOut' });
    assert.equal(dup.statusCode, 409);
    assert.equal(json(dup).error, 'already_exists');
    assert.deepEqual(json(dup).details, { field: 'name' });
  });

  test('validation: pointers for each bad field; replayed with the Idempotency-Key', async () => {
    const key = idemKey();
    const bad = await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: '', type: 'Sometimes', channel: 'sms' }, { 'idempotency-key': key });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(pointers(json(bad)), ['/channel', '/name', '/type']);
    const replay = await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: '', type: 'Sometimes', channel: 'sms' }, { 'idempotency-key': key });
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.deepEqual(pointers(json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'x'.repeat(201) }))), ['/name', '/type']);
  });

  test('update: partial, description null clears, type immutable → 422 immutable_field, rename onto a taken name → 409', async () => {
    const g = await createGroup(org, { name: 'Offers', description: 'Deals', type: 'OptIn' });
    await createGroup(org, { name: 'Taken', type: 'OptIn' });
    t.clock.advance(60_000);
    const renamed = await call(t.app, org.key, 'PUT', `/api/v1/subscription-groups/${g.id}`, { name: 'Special offers', type: 'OptIn' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(json(renamed).name, 'Special offers');
    assert.equal(json(renamed).description, 'Deals');
    assert.equal(json(renamed).updatedAt, new Date(t.clock.now()).toISOString());
    assert.equal(json(await call(t.app, org.key, 'PUT', `/api/v1/subscription-groups/${g.id}`, { description: null })).description, null);

    const immutable = await call(t.app, org.key, 'PUT', `/api/v1/subscription-groups/${g.id}`, { type: 'OptOut' });
    assert.equal(immutable.statusCode, 422);
    assert.equal(json(immutable).error, 'unprocessable');
    assert.deepEqual(json(immutable).details, { reason: 'immutable_field', field: 'type' });

    const taken = await call(t.app, org.key, 'PUT', `/api/v1/subscription-groups/${g.id}`, { name: 'Taken' });
    assert.equal(taken.statusCode, 409);
    assert.deepEqual(json(taken).details, { field: 'name' });
    assert.deepEqual(pointers(json(await call(t.app, org.key, 'PUT', `/api/v1/subscription-groups/${g.id}`, { color: 'red' }))), ['/color']);
  });

  test('profile subscriptions: one entry per group with status none; PUT sets status (source api); counts follow', async () => {
    const o = await t.newOrg();
    const optIn = await createGroup(o, { name: 'Weekly news', type: 'OptIn' });
    const optOut = await createGroup(o, { name: 'Product updates', type: 'OptOut' });
    const p1 = await profile(o, 'p1@example.com');
    const p2 = await profile(o, 'p2@example.com');
    await profile(o, 'p3@example.com');

    const initial = json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${p1}/subscriptions`));
    assert.equal(initial.profileId, p1);
    assert.deepEqual(initial.subscriptions, [
      { subscriptionGroupId: optIn.id, name: 'Weekly news', type: 'OptIn', channel: 'email', status: 'none', isSubscribed: false, source: null, updatedAt: null },
      { subscriptionGroupId: optOut.id, name: 'Product updates', type: 'OptOut', channel: 'email', status: 'none', isSubscribed: true, source: null, updatedAt: null },
    ]);

    t.clock.advance(1000);
    const sub = await call(t.app, o.key, 'PUT', `/api/v1/profiles/${p1}/subscriptions/${optIn.id}`, { status: 'subscribed' });
    assert.equal(sub.statusCode, 200, sub.body);
    assert.deepEqual(json(sub), {
      subscriptionGroupId: optIn.id,
      name: 'Weekly news',
      type: 'OptIn',
      channel: 'email',
      status: 'subscribed',
      isSubscribed: true,
      source: 'api',
      updatedAt: new Date(t.clock.now()).toISOString(),
    });
    const unsub = json(await call(t.app, o.key, 'PUT', `/api/v1/profiles/${p2}/subscriptions/${optOut.id}`, { status: 'unsubscribed' })) as unknown as Entry;
    assert.equal(unsub.isSubscribed, false);
    await call(t.app, o.key, 'PUT', `/api/v1/profiles/${p2}/subscriptions/${optIn.id}`, { status: 'unsubscribed' });

    const after1 = json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${p1.toUpperCase()}/subscriptions`));
    assert.deepEqual((after1.subscriptions as Entry[]).map((e) => [e.status, e.isSubscribed]), [['subscribed', true], ['none', true]]);
    const after2 = json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${p2}/subscriptions`));
    assert.deepEqual((after2.subscriptions as Entry[]).map((e) => [e.status, e.isSubscribed]), [['unsubscribed', false], ['unsubscribed', false]]);

    // OptIn counts subscribed statuses; OptOut counts every Profile that has not unsubscribed.
    const g1 = json(await call(t.app, o.key, 'GET', `/api/v1/subscription-groups/${optIn.id}`));
    assert.deepEqual([g1.subscribedCount, g1.unsubscribedCount], [1, 1]);
    const g2 = json(await call(t.app, o.key, 'GET', `/api/v1/subscription-groups/${optOut.id}`));
    assert.deepEqual([g2.subscribedCount, g2.unsubscribedCount], [2, 1]);

    // Re-subscribing replaces the status.
    await call(t.app, o.key, 'PUT', `/api/v1/profiles/${p2}/subscriptions/${optOut.id}`, { status: 'subscribed' });
    const g3 = json(await call(t.app, o.key, 'GET', `/api/v1/subscription-groups/${optOut.id}`));
    assert.deepEqual([g3.subscribedCount, g3.unsubscribedCount], [3, 0]);

    // Deleting a group removes it from every Profile's list (and its statuses).
    assert.equal((await call(t.app, o.key, 'DELETE', `/api/v1/subscription-groups/${optOut.id}`)).statusCode, 204);
    assert.equal((await call(t.app, o.key, 'GET', `/api/v1/subscription-groups/${optOut.id}`)).statusCode, 404);
    assert.equal((await call(t.app, o.key, 'DELETE', `/api/v1/subscription-groups/${optOut.id}`)).statusCode, 404);
    const after3 = json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${p2}/subscriptions`));
    assert.deepEqual((after3.subscriptions as Entry[]).map((e) => e.subscriptionGroupId), [optIn.id]);
  });

  test('profile subscriptions: unknown Profile or group → 404; bad ids and bodies → 400 with pointers', async () => {
    const g = await createGroup(org, { name: 'Edge cases', type: 'OptIn' });
    const p = await profile(org, 'edge@example.com');
    const missing = '0190f3c2-7b1d-7e11-8a41-6c0d2f5b7a10';
    assert.equal(json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${missing}/subscriptions`)).error, 'not_found');
    const noProfile = await call(t.app, org.key, 'PUT', `/api/v1/profiles/${missing}/subscriptions/${g.id}`, { status: 'subscribed' });
    assert.equal(noProfile.statusCode, 404);
    assert.equal(json(noProfile).message, 'Profile not found.');
    const noGroup = await call(t.app, org.key, 'PUT', `/api/v1/profiles/${p}/subscriptions/${missing}`, { status: 'subscribed' });
    assert.equal(noGroup.statusCode, 404);
    assert.equal(json(noGroup).message, 'Subscription group not found.');

    const badIds = await call(t.app, org.key, 'PUT', '/api/v1/profiles/nope/subscriptions/also-nope', { status: 'subscribed' });
    assert.equal(badIds.statusCode, 400);
    assert.deepEqual((json(badIds).details as { errors: { in: string; pointer: string }[] }).errors.map((e) => [e.in, e.pointer]), [['path', '/profileId'], ['path', '/subscriptionGroupId']]);
    assert.equal((await call(t.app, org.key, 'GET', '/api/v1/profiles/nope/subscriptions')).statusCode, 400);
    const badBody = await call(t.app, org.key, 'PUT', `/api/v1/profiles/${p}/subscriptions/${g.id}`, { status: 'none' });
    assert.deepEqual(pointers(json(badBody)), ['/status']);
    assert.deepEqual(pointers(json(await call(t.app, org.key, 'PUT', `/api/v1/profiles/${p}/subscriptions/${g.id}`, {}))), ['/status']);
  });

  test('another organization\'s groups and Profiles are not found', async () => {
    const g = await createGroup(org, { name: 'Private', type: 'OptIn' });
    const p = await profile(org, 'private@example.com');
    const other = await t.newOrg();
    const otherGroup = await createGroup(other, { name: 'Private', type: 'OptIn' });
    const otherProfile = await profile(other, 'private@example.com');
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/subscription-groups/${g.id}`)).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'PUT', `/api/v1/subscription-groups/${g.id}`, { name: 'Mine' })).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'DELETE', `/api/v1/subscription-groups/${g.id}`)).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'GET', `/api/v1/profiles/${p}/subscriptions`)).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'PUT', `/api/v1/profiles/${p}/subscriptions/${otherGroup.id}`, { status: 'subscribed' })).statusCode, 404);
    assert.equal((await call(t.app, other.key, 'PUT', `/api/v1/profiles/${otherProfile}/subscriptions/${g.id}`, { status: 'subscribed' })).statusCode, 404);
    const otherList = json(await call(t.app, other.key, 'GET', '/api/v1/subscription-groups'));
    assert.deepEqual((otherList.data as Group[]).map((x) => x.id), [otherGroup.id]);
  });

  test('scopes: subscriptions:read / subscriptions:write; the Profile list needs profiles:read', async () => {
    const g = await createGroup(org, { name: 'Scoped', type: 'OptOut' });
    const p = await profile(org, 'scoped@example.com');
    const readOnly = await org.keyWith(['subscriptions:read']);
    assert.equal((await call(t.app, readOnly, 'GET', '/api/v1/subscription-groups')).statusCode, 200);
    assert.equal((await call(t.app, readOnly, 'GET', `/api/v1/subscription-groups/${g.id}`)).statusCode, 200);
    for (const [method, url, body] of [
      ['POST', '/api/v1/subscription-groups', { name: 'Nope', type: 'OptIn' }],
      ['PUT', `/api/v1/subscription-groups/${g.id}`, { name: 'Nope' }],
      ['DELETE', `/api/v1/subscription-groups/${g.id}`, undefined],
      ['PUT', `/api/v1/profiles/${p}/subscriptions/${g.id}`, { status: 'unsubscribed' }],
    ] as const) {
      const res = await call(t.app, readOnly, method, url, body);
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      assert.deepEqual(json(res).details, { required: ['subscriptions:write'] });
    }
    const denied = await call(t.app, readOnly, 'GET', `/api/v1/profiles/${p}/subscriptions`);
    assert.equal(denied.statusCode, 403);
    assert.deepEqual(json(denied).details, { required: ['profiles:read'] });
    const profilesRead = await org.keyWith(['profiles:read']);
    assert.equal((await call(t.app, profilesRead, 'GET', `/api/v1/profiles/${p}/subscriptions`)).statusCode, 200);
    assert.equal((await call(t.app, profilesRead, 'GET', '/api/v1/subscription-groups')).statusCode, 403);
    const writeOnly = await org.keyWith(['subscriptions:write']);
    assert.equal((await call(t.app, writeOnly, 'PUT', `/api/v1/profiles/${p}/subscriptions/${g.id}`, { status: 'unsubscribed' })).statusCode, 200);
  });
});
