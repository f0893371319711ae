/**
 * The subscription gate the send paths call (emails.md §4), on both databases: OptIn and OptOut
 * groups × no status, subscribed, unsubscribed; unknown and foreign groups; setSubscriptionStatus
 * as an upsert; getSubscriptionGroup scoped to the organization.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';
import { getSubscriptionGroup, setSubscriptionStatus, subscriptionGate } from '../../src/modules/subscriptions/subscriptions.service.js';

forEachDialect('subscription gate', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  const group = async (o: TestOrg, name: string, type: 'OptIn' | 'OptOut') =>
    String(json(await call(t.app, o.key, 'POST', '/api/v1/subscription-groups', { name, type })).id);
  const profile = async (o: TestOrg, email: string) => String(json(await track(t.app, o.key, { event: 'x', profile: { email } })).profileId);

  test('OptIn / OptOut × none / subscribed / unsubscribed', async () => {
    const db = t.deps.db.kysely;
    const optIn = await group(org, 'Newsletter', 'OptIn');
    const optOut = await group(org, 'Product news', 'OptOut');
    const none = await profile(org, 'none@example.com');
    const subscribed = await profile(org, 'subscribed@example.com');
    const unsubscribed = await profile(org, 'unsubscribed@example.com');
    for (const g of [optIn, optOut]) {
      await setSubscriptionStatus(db, org.id, subscribed, g, 'subscribed', 'api', t.clock.now());
      await setSubscriptionStatus(db, org.id, unsubscribed, g, 'unsubscribed', 'one_click', t.clock.now());
    }
    const expected: [string, string, unknown][] = [
      [optIn, none, { allowed: false, reason: 'not_subscribed' }],
      [optIn, subscribed, { allowed: true }],
      [optIn, unsubscribed, { allowed: false, reason: 'unsubscribed' }],
      [optOut, none, { allowed: true }],
      [optOut, subscribed, { allowed: true }],
      [optOut, unsubscribed, { allowed: false, reason: 'unsubscribed' }],
    ];
    for (const [g, p, answer] of expected) assert.deepEqual(await subscriptionGate(db, org.id, p, g), answer, `${g === optIn ? 'OptIn' : 'OptOut'} ${p}`);
    // Ids compare case-insensitively.
    assert.deepEqual(await subscriptionGate(db, org.id, subscribed.toUpperCase(), optIn.toUpperCase()), { allowed: true });
  });

  test('setSubscriptionStatus replaces the status; the gate and the Profile view follow at once', async () => {
    const db = t.deps.db.kysely;
    const g = await group(org, 'Flip', 'OptIn');
    const p = await profile(org, 'flip@example.com');
    await setSubscriptionStatus(db, org.id, p, g, 'subscribed', 'import', 1000);
    assert.deepEqual(await subscriptionGate(db, org.id, p, g), { allowed: true });
    await setSubscriptionStatus(db, org.id, p, g, 'unsubscribed', 'unsubscribe_link', 2000);
    assert.deepEqual(await subscriptionGate(db, org.id, p, g), { allowed: false, reason: 'unsubscribed' });
    const rows = await db.selectFrom('subscription_statuses').selectAll().where('profile_id', '=', p).execute();
    assert.deepEqual(rows.map((r) => [r.status, r.source, Number(r.updated_at)]), [['unsubscribed', 'unsubscribe_link', 2000]]);
    const view = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${p}/subscriptions`));
    const entry = (view.subscriptions as { subscriptionGroupId: string; status: string; source: string; updatedAt: string }[]).find((e) => e.subscriptionGroupId === g)!;
    assert.deepEqual([entry.status, entry.source, entry.updatedAt], ['unsubscribed', 'unsubscribe_link', '1970-01-01T00:00:02.000Z']);
  });

  test('an unknown group, or another organization\'s, → group_not_found; getSubscriptionGroup is scoped', async () => {
    const db = t.deps.db.kysely;
    const p = await profile(org, 'gnf@example.com');
    assert.deepEqual(await subscriptionGate(db, org.id, p, '0190f3c2-7b1d-7e11-8a41-6c0d2f5b7a10'), { allowed: false, reason: 'group_not_found' });
    const other = await t.newOrg();
    const foreign = await group(other, 'Theirs', 'OptOut');
    assert.deepEqual(await subscriptionGate(db, org.id, p, foreign), { allowed: false, reason: 'group_not_found' });
    assert.equal(await getSubscriptionGroup(db, org.id, foreign), undefined);
    const row = await getSubscriptionGroup(db, other.id, foreign.toUpperCase());
    assert.equal(row?.id, foreign);
    assert.equal(row?.type, 'OptOut');
    assert.equal(row?.name, 'Theirs');
  });
});
