/**
 * Public links of emails.md §9 on both databases: the unsubscribe page changes nothing, the
 * RFC 8058 one-click POST (urlencoded and multipart) and the confirm button unsubscribe
 * idempotently, forged and mismatched tokens answer 400 (HTML or the invalid_token envelope),
 * erased Profiles get the same page, the preferences round trip, and click tracking.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signToken } from '../../src/lib/signed-token.js';
import { unsubscribeLinks } from '../../src/modules/emails/send-render.js';
import { clickLink } from '../../src/modules/public-links/link-tokens.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, track, type TestApp, type TestOrg } from '../harness/app.js';
import { call } from '../harness/http.js';

interface Entry {
  subscriptionGroupId: string;
  status: string;
  isSubscribed: boolean;
  source: string | null;
  updatedAt: string | null;
}

const ONE_CLICK = 'List-Unsubscribe=One-Click';
const SEND_ID = '0190f500-0000-7000-8000-000000000001';

function multipart(fields: [string, string][]): { payload: string; contentType: string } {
  const boundary = '----sfTestBoundary7MA4YWxk';
  const parts = fields.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  return { payload: `${parts.join('')}--${boundary}--\r\n`, contentType: `multipart/form-data; boundary=${boundary}` };
}

forEachDialect('public links', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  const group = async (name: string, type: 'OptIn' | 'OptOut') => String(json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name, type })).id);
  const profile = async (email: string) => String(json(await track(t.app, org.key, { event: 'x', profile: { email } })).profileId);
  const subscriptions = async (profileId: string) => json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${profileId}/subscriptions`)).subscriptions as Entry[];
  const entry = async (profileId: string, groupId: string) => (await subscriptions(profileId)).find((e) => e.subscriptionGroupId === groupId)!;
  const paths = (profileId: string | null, groupId: string | null) => {
    const links = unsubscribeLinks(t.deps.config.publicUrl, t.deps.secret, { organizationId: org.id, profileId, subscriptionGroupId: groupId, emailSendId: SEND_ID });
    return { unsubscribe: new URL(links.unsubscribeUrl).pathname, preferences: new URL(links.preferencesUrl).pathname };
  };
  const post = (url: string, payload: string, contentType: string, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType, ...headers } });

  test('GET /unsubscribe shows the group (escaped) and a confirm form, and changes nothing', async () => {
    const g = await group('News <&> "Weekly"', 'OptOut');
    const p = await profile('page@example.com');
    const { unsubscribe } = paths(p, g);
    const res = await t.app.inject({ method: 'GET', url: unsubscribe });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.ok(res.body.includes('News &lt;&amp;&gt; &quot;Weekly&quot;'), res.body);
    assert.ok(!res.body.includes('<&>'));
    assert.match(res.body, /<form method="post">/);
    assert.doesNotMatch(res.body, /<script|src=|https?:\/\//i, 'self-contained, no external assets');
    // Link scanners issue GETs (and HEADs): still nothing recorded.
    await t.app.inject({ method: 'HEAD', url: unsubscribe });
    const unchanged = await entry(p, g);
    assert.deepEqual([unchanged.status, unchanged.isSubscribed, unchanged.source], ['none', true, null]);
  });

  test('one-click POST (urlencoded) unsubscribes with source one_click; a second POST is idempotent', async () => {
    const g = await group('Weekly news', 'OptOut');
    const p = await profile('oneclick@example.com');
    const { unsubscribe } = paths(p, g);
    const first = await post(unsubscribe, ONE_CLICK, 'application/x-www-form-urlencoded');
    assert.equal(first.statusCode, 200);
    assert.match(String(first.headers['content-type']), /^text\/html/);
    assert.match(first.body, /You are unsubscribed/);
    assert.ok(first.body.includes('Weekly news'));
    assert.equal(first.headers['set-cookie'], undefined, 'no cookies');
    const after1 = await entry(p, g);
    assert.deepEqual([after1.status, after1.isSubscribed, after1.source], ['unsubscribed', false, 'one_click']);

    t.clock.advance(5_000);
    const second = await post(unsubscribe, 'confirm=1', 'application/x-www-form-urlencoded');
    assert.equal(second.statusCode, 200);
    assert.equal(second.body, first.body);
    assert.deepEqual(await entry(p, g), after1, 'status, source and time unchanged');
  });

  test('one-click POST as multipart/form-data → one_click; any other body (or none) → unsubscribe_link', async () => {
    const g = await group('Promotions', 'OptIn');
    const pMultipart = await profile('multipart@example.com');
    await call(t.app, org.key, 'PUT', `/api/v1/profiles/${pMultipart}/subscriptions/${g}`, { status: 'subscribed' });
    const body = multipart([['List-Unsubscribe', 'One-Click']]);
    const res = await post(paths(pMultipart, g).unsubscribe, body.payload, body.contentType);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([(await entry(pMultipart, g)).status, (await entry(pMultipart, g)).source], ['unsubscribed', 'one_click']);

    const pButton = await profile('button@example.com');
    await post(paths(pButton, g).unsubscribe, 'confirm=1', 'application/x-www-form-urlencoded');
    assert.deepEqual([(await entry(pButton, g)).status, (await entry(pButton, g)).source], ['unsubscribed', 'unsubscribe_link']);

    const pJson = await profile('json@example.com');
    await post(paths(pJson, g).unsubscribe, '{"List-Unsubscribe":"One-Click"', 'application/json');
    assert.equal((await entry(pJson, g)).source, 'unsubscribe_link');

    const pEmpty = await profile('empty@example.com');
    const empty = await t.app.inject({ method: 'POST', url: paths(pEmpty, g).unsubscribe });
    assert.equal(empty.statusCode, 200);
    assert.equal((await entry(pEmpty, g)).source, 'unsubscribe_link');
  });

  test('forged, malformed and mismatched tokens → 400 page, or invalid_token JSON when JSON is preferred', async () => {
    const g = await group('Forgery', 'OptOut');
    const p = await profile('forged@example.com');
    const { unsubscribe, preferences } = paths(p, g);
    const token = unsubscribe.slice('/unsubscribe/'.length);
    const forgedPayload = signToken('not-the-instance-secret', { v: 1, o: org.id, p, g, s: null, k: 'u' });
    const tampered = `${Buffer.from(JSON.stringify({ v: 1, o: org.id, p, g, s: null, k: 'u' })).toString('base64url')}.${token.split('.')[1]!}`;
    const bad = [`/unsubscribe/${forgedPayload}`, `/unsubscribe/${tampered}`, '/unsubscribe/not-a-token', '/unsubscribe/', `/unsubscribe/${token}x`];
    // A preferences token is not an unsubscribe token, and the other way round.
    bad.push(`/unsubscribe/${preferences.slice('/preferences/'.length)}`, `/preferences/${token}`);
    for (const url of bad) {
      for (const method of ['GET', 'POST'] as const) {
        const page = await t.app.inject({ method, url, headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }, ...(method === 'POST' ? { payload: ONE_CLICK, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}) });
        assert.equal(page.statusCode, 400, `${method} ${url}`);
        assert.match(String(page.headers['content-type']), /^text\/html/);
        assert.match(page.body, /not valid/);
        const api = await t.app.inject({ method, url, headers: { accept: 'application/json' } });
        assert.equal(api.statusCode, 400);
        assert.equal(json(api).error, 'invalid_token');
      }
    }
    const anyType = await t.app.inject({ method: 'GET', url: '/unsubscribe/nope', headers: { accept: '*/*' } });
    assert.match(String(anyType.headers['content-type']), /^text\/html/, 'no preference → HTML');
    assert.equal((await entry(p, g)).status, 'none', 'nothing changed');
  });

  test('an erased (missing) Profile or a deleted group → the same 200 page, nothing written', async () => {
    const g = await group('Gone', 'OptOut');
    const missing = '0190f3c2-0000-7000-8000-0000000000aa';
    const res = await post(paths(missing, g).unsubscribe, ONE_CLICK, 'application/x-www-form-urlencoded');
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /You are unsubscribed/);
    const none = await post(paths(null, g).unsubscribe, ONE_CLICK, 'application/x-www-form-urlencoded');
    assert.equal(none.statusCode, 200);
    const rows = await t.deps.db.kysely.selectFrom('subscription_statuses').selectAll().where('subscription_group_id', '=', g).execute();
    assert.equal(rows.length, 0);
    const prefs = await t.app.inject({ method: 'GET', url: paths(missing, g).preferences });
    assert.equal(prefs.statusCode, 200);
    assert.match(prefs.body, /no email preferences/);

    const p = await profile('deleted-group@example.com');
    const g2 = await group('Deleted later', 'OptOut');
    const { unsubscribe } = paths(p, g2);
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/subscription-groups/${g2}`)).statusCode, 204);
    const page = await t.app.inject({ method: 'GET', url: unsubscribe });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /this list/);
    assert.equal((await post(unsubscribe, ONE_CLICK, 'application/x-www-form-urlencoded')).statusCode, 200);
  });

  test('preferences: every group with its effective status; the form saves checked/unchecked with source preferences_page', async () => {
    const o = await t.newOrg();
    const gIn = String(json(await call(t.app, o.key, 'POST', '/api/v1/subscription-groups', { name: 'Digest <b>', type: 'OptIn' })).id);
    const gOut = String(json(await call(t.app, o.key, 'POST', '/api/v1/subscription-groups', { name: 'Product updates', type: 'OptOut' })).id);
    const gKeep = String(json(await call(t.app, o.key, 'POST', '/api/v1/subscription-groups', { name: 'Kept', type: 'OptIn' })).id);
    const p = String(json(await track(t.app, o.key, { event: 'x', profile: { email: 'prefs@example.com' } })).profileId);
    await call(t.app, o.key, 'PUT', `/api/v1/profiles/${p}/subscriptions/${gKeep}`, { status: 'subscribed' });
    const links = unsubscribeLinks(t.deps.config.publicUrl, t.deps.secret, { organizationId: o.id, profileId: p, subscriptionGroupId: null, emailSendId: SEND_ID });
    assert.equal(links.unsubscribeUrl, '', 'no group, no unsubscribe link');
    const url = new URL(links.preferencesUrl).pathname;
    const checkbox = (id: string, checked: boolean) => `<input type="checkbox" name="group" value="${id}"${checked ? ' checked' : ''}>`;

    const page = await t.app.inject({ method: 'GET', url });
    assert.equal(page.statusCode, 200);
    assert.ok(page.body.includes(checkbox(gIn, false)), page.body);
    assert.ok(page.body.includes(checkbox(gOut, true)));
    assert.ok(page.body.includes(checkbox(gKeep, true)));
    assert.ok(page.body.includes('Digest &lt;b&gt;'));
    const view = async () => json(await call(t.app, o.key, 'GET', `/api/v1/profiles/${p}/subscriptions`)).subscriptions as Entry[];
    const before1 = await view();

    t.clock.advance(1000);
    const saved = await post(url, `group=${gIn}&group=${gKeep}&group=0190f3c2-0000-7000-8000-0000000000bb&group=junk`, 'application/x-www-form-urlencoded');
    assert.equal(saved.statusCode, 200);
    assert.match(saved.body, /saved/);
    assert.ok(saved.body.includes(checkbox(gIn, true)));
    assert.ok(saved.body.includes(checkbox(gOut, false)));
    const after1 = await view();
    const byId = new Map(after1.map((e) => [e.subscriptionGroupId, e]));
    assert.deepEqual([byId.get(gIn)!.status, byId.get(gIn)!.source, byId.get(gIn)!.isSubscribed], ['subscribed', 'preferences_page', true]);
    assert.deepEqual([byId.get(gOut)!.status, byId.get(gOut)!.source, byId.get(gOut)!.isSubscribed], ['unsubscribed', 'preferences_page', false]);
    assert.deepEqual(byId.get(gKeep), before1.find((e) => e.subscriptionGroupId === gKeep), 'an unchanged group keeps its source and time');

    const again = await t.app.inject({ method: 'GET', url });
    assert.ok(again.body.includes(checkbox(gIn, true)));
    assert.ok(again.body.includes(checkbox(gOut, false)));

    // Multipart works too; nothing checked unsubscribes from everything.
    const body = multipart([['other', 'x']]);
    await post(url, body.payload, body.contentType);
    assert.deepEqual((await view()).map((e) => e.status), ['unsubscribed', 'unsubscribed', 'unsubscribed']);
    const mp = multipart([['group', gOut]]);
    await post(url, mp.payload, mp.contentType);
    assert.deepEqual((await view()).map((e) => [e.status, e.isSubscribed]), [['unsubscribed', false], ['subscribed', true], ['unsubscribed', false]]);
  });

  test('GET /c/{token}: 302 to the URL, email.clicked recorded at most once per send+URL per minute', async () => {
    const p = await profile('clicker@example.com');
    const target = 'https://shop.example/sale?item=1&utm=email';
    const ctx = { organizationId: org.id, profileId: p, subscriptionGroupId: null, emailSendId: SEND_ID };
    const path = (url: string) => new URL(clickLink(t.deps.config.publicUrl, t.deps.secret, ctx, url)).pathname;
    const clicks = async () =>
      (json(await call(t.app, org.key, 'GET', `/api/v1/events?profileId=${p}&event=email.clicked`)).data as { data: unknown; source: string; type: string }[]);

    const head = await t.app.inject({ method: 'HEAD', url: path(target) });
    assert.equal(head.statusCode, 302);
    assert.equal((await clicks()).length, 0, 'HEAD (link checkers) is not a click');
    const first = await t.app.inject({ method: 'GET', url: path(target) });
    assert.equal(first.statusCode, 302);
    assert.equal(first.headers.location, target);
    const recorded = await clicks();
    assert.equal(recorded.length, 1);
    assert.deepEqual(recorded[0]!.data, { emailSendId: SEND_ID, url: target });
    assert.equal(recorded[0]!.source, 'system');

    t.clock.advance(30_000);
    assert.equal((await t.app.inject({ method: 'GET', url: path(target) })).statusCode, 302);
    assert.equal((await clicks()).length, 1, 'same send and URL within a minute');
    await t.app.inject({ method: 'GET', url: path('https://shop.example/other') });
    assert.equal((await clicks()).length, 2, 'another URL counts');
    t.clock.advance(31_000);
    await t.app.inject({ method: 'GET', url: path(target) });
    assert.equal((await clicks()).length, 3, 'a minute later it counts again');

    // Only http(s) destinations, and the token kind must be a click.
    const js = signToken(t.deps.secret, { v: 1, o: org.id, p, g: null, s: SEND_ID, k: 'c', url: 'javascript:alert(1)' });
    assert.equal((await t.app.inject({ method: 'GET', url: `/c/${js}` })).statusCode, 400);
    assert.throws(() => clickLink(t.deps.config.publicUrl, t.deps.secret, ctx, 'ftp://x.example/'));
    const prefToken = new URL(unsubscribeLinks(t.deps.config.publicUrl, t.deps.secret, ctx).preferencesUrl).pathname.slice('/preferences/'.length);
    const wrongKind = await t.app.inject({ method: 'GET', url: `/c/${prefToken}`, headers: { accept: 'application/json' } });
    assert.equal(json(wrongKind).error, 'invalid_token');

    // A missing Profile still redirects, without an event.
    const gone = { ...ctx, profileId: '0190f3c2-0000-7000-8000-0000000000cc' };
    const redirect = await t.app.inject({ method: 'GET', url: new URL(clickLink(t.deps.config.publicUrl, t.deps.secret, gone, target)).pathname });
    assert.equal(redirect.statusCode, 302);
    assert.equal((await clicks()).length, 3);
  });

  test('public routes need no API key; the OpenAPI document lists them', async () => {
    const doc = json(await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })) as { paths: Record<string, unknown> };
    for (const path of ['/unsubscribe/{token}', '/preferences/{token}', '/c/{token}']) assert.ok(doc.paths[path], path);
  });
});
