/**
 * The Templates API on a real database (templates.md §2, §7, §8): lifecycle, completeness,
 * catalog validation with pointers, immutable snapshots, render and preview, auth and isolation.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

const VALID_BODY = {
  root: 'email',
  elements: {
    email: { type: 'Email', props: {}, children: ['main'] },
    main: { type: 'Section', props: { padding: '32px 24px' }, children: ['title', 'intro'] },
    title: { type: 'Heading', props: { text: { $template: 'Order ${/event/orderId}' } } },
    intro: { type: 'Text', props: { text: { $template: 'Hi ${/profile/firstName}' } } },
  },
};

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method,
    url,
    headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
}

forEachDialect('templates API', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await addDefaultSender(t, org.id);
  });
  after(() => t.close());

  test('create → incomplete draft; publish lists what is missing; complete → snapshot', async () => {
    const created = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Receipt', purpose: 'Transactional' });
    assert.equal(created.statusCode, 201);
    const tpl = json(created);
    assert.equal(tpl.isComplete, false);
    assert.equal(tpl.currentSnapshotId, null);
    assert.equal((tpl.definition as Record<string, unknown>).subject, '');
    assert.equal(tpl.type, 'email');
    assert.equal(tpl.status, 'Active');

    const publish = await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`);
    assert.equal(publish.statusCode, 422);
    assert.deepEqual(json(publish).details, { reason: 'template_incomplete', missing: ['subject', 'body'] });

    const updated = await call(t.app, org.key, 'PUT', `/api/v1/templates/${String(tpl.id)}`, {
      definition: { subject: { $template: 'Order ${/event/orderId}' }, body: VALID_BODY },
    });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal(json(updated).isComplete, true);
    const published = json(await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`));
    const s1 = String(published.currentSnapshotId);
    assert.match(s1, /^[0-9a-f-]{36}$/);
    // Publishing an unchanged draft makes no new snapshot.
    const again = json(await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`));
    assert.equal(again.currentSnapshotId, s1);

    // Editing the draft changes no snapshot.
    await call(t.app, org.key, 'PUT', `/api/v1/templates/${String(tpl.id)}`, { definition: { subject: 'Changed' } });
    const snapshot = json(await call(t.app, org.key, 'GET', `/api/v1/templates/${String(tpl.id)}/snapshots/${s1}`));
    assert.deepEqual((snapshot.definition as Record<string, unknown>).subject, { $template: 'Order ${/event/orderId}' });
    assert.equal(snapshot.version, 1);
    // /render reads the draft by default, the published snapshot with "current", or a given snapshot.
    const renderFrom = async (source?: string) =>
      String(json(await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, { ...(source ? { source } : {}), state: { event: { orderId: '5' } } })).subject);
    assert.deepEqual([await renderFrom(), await renderFrom('draft'), await renderFrom('current'), await renderFrom(s1)], ['Changed', 'Changed', 'Order 5', 'Order 5']);
    const s2 = json(await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`));
    assert.notEqual(s2.currentSnapshotId, s1);
    const list = json(await call(t.app, org.key, 'GET', `/api/v1/templates/${String(tpl.id)}/snapshots`));
    assert.deepEqual((list.data as { version: number }[]).map((s) => s.version), [2, 1]);

    // An explicit plain-text part, then `text: null` clears it: the text is derived from the HTML again.
    const withText = json(await call(t.app, org.key, 'PUT', `/api/v1/templates/${String(tpl.id)}`, { definition: { text: 'Plain only' } }));
    assert.equal((withText.definition as Record<string, unknown>).text, 'Plain only');
    const render = () => call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, { state: { event: { orderId: '7' } } });
    assert.equal(json(await render()).text, 'Plain only');
    const cleared = json(await call(t.app, org.key, 'PUT', `/api/v1/templates/${String(tpl.id)}`, { definition: { text: null } }));
    assert.ok(!('text' in (cleared.definition as Record<string, unknown>)), JSON.stringify(cleared.definition));
    assert.match(String(json(await render()).text), /Order 7/);
  });

  test('catalog violations → 400 with pointers under /definition', async () => {
    const bad = await call(t.app, org.key, 'POST', '/api/v1/templates', {
      name: 'Bad',
      definition: {
        body: {
          root: 'email',
          elements: {
            email: { type: 'Email', props: {}, children: ['main'] },
            main: { type: 'Section', props: {}, children: ['x', 'title', 'ghost'] },
            x: { type: 'Marquee', props: {} },
            title: { type: 'Heading', props: { text: 'Hi', level: 7 } },
          },
        },
      },
    });
    assert.equal(bad.statusCode, 400);
    const pointers = (json(bad).details as { errors: { pointer: string }[] }).errors.map((e) => e.pointer);
    for (const p of ['/definition/body/elements/x/type', '/definition/body/elements/main/children/2', '/definition/body/elements/title/props/level']) {
      assert.ok(pointers.includes(p), `${p} in ${JSON.stringify(pointers)}`);
    }
    const unknownField = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'X', definition: { subjekt: 'typo' } });
    assert.equal(unknownField.statusCode, 400);
    assert.equal((json(unknownField).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/definition/subjekt');
    const badRef = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'X', senderProfileId: '0190f3b0-0000-7000-8000-000000000000' });
    assert.equal(badRef.statusCode, 422);
    assert.equal((json(badRef).details as { reason: string }).reason, 'reference_not_found');
  });

  test('render: escaping, missing paths, strict, header injection', async () => {
    const tpl = json(
      await call(t.app, org.key, 'POST', '/api/v1/templates', {
        name: 'Escapes',
        definition: { subject: { $template: 'Order ${/event/orderId} ${/data/name}' }, body: VALID_BODY },
      }),
    );
    const rendered = await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, {
      state: { event: { orderId: '<b>1</b>' }, data: { name: 'A\r\nBcc: x@evil.test' } },
    });
    assert.equal(rendered.statusCode, 200, rendered.body);
    const body = json(rendered);
    assert.equal(body.subject, 'Order <b>1</b> A  Bcc: x@evil.test');
    assert.ok(String(body.html).includes('Order &lt;b&gt;1&lt;/b&gt;'));
    assert.ok(!String(body.html).includes('<b>1</b>'));
    assert.deepEqual(body.missingPaths, ['/profile/firstName']);
    assert.ok(String(body.text).includes('Order <b>1</b>'));

    const strict = await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, { strict: true, state: { event: { orderId: '1' }, data: { name: 'x' } } });
    assert.equal(strict.statusCode, 422);
    assert.deepEqual(json(strict).details, { reason: 'missing_paths', missingPaths: ['/profile/firstName'] });

    const current = await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, { source: 'current' });
    assert.equal((json(current).details as { reason: string }).reason, 'template_not_published');
  });

  test('render with a real profile; preview of an unsaved definition', async () => {
    const ev = await t.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: { 'x-api-key': org.key, 'idempotency-key': 'tpl-profile', 'content-type': 'application/json' },
      payload: { event: 'x', profile: { email: 'sam@example.com', properties: { firstName: 'Sam' } } },
    });
    const profileId = String(json(ev).profileId);
    const tpl = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Hello', definition: { subject: 'Hi', body: VALID_BODY } }));
    const res = json(await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, { profileId, state: { event: { orderId: '9' } } }));
    assert.deepEqual(res.missingPaths, []);
    assert.ok(String(res.html).includes('Hi Sam'));
    // An unknown profileId is profile_not_found (conventions.md §4.2), as for emails.send.
    const unknown = await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/render`, { profileId: '0190f400-0000-7000-8000-000000000000' });
    assert.equal(unknown.statusCode, 422);
    assert.equal(json(unknown).error, 'profile_not_found');

    // Published, then deleted: neither the snapshot list nor a snapshot is shown any more.
    const published = json(await call(t.app, org.key, 'POST', `/api/v1/templates/${String(tpl.id)}/publish`));
    const snapshotId = String(published.currentSnapshotId);
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/templates/${String(tpl.id)}/snapshots/${snapshotId}`)).statusCode, 200);
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/templates/${String(tpl.id)}`)).statusCode, 204);
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/templates/${String(tpl.id)}/snapshots`)).statusCode, 404);
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/templates/${String(tpl.id)}/snapshots/${snapshotId}`)).statusCode, 404);

    const preview = await call(t.app, org.key, 'POST', '/api/v1/templates/preview', {
      definition: { subject: { $template: 'Hey ${/variables/who}' }, renderVariables: { who: 'you' }, body: VALID_BODY },
      state: { variables: { who: 'there' } },
    });
    assert.equal(preview.statusCode, 200, preview.body);
    assert.equal(json(preview).subject, 'Hey there');
    const invalid = await call(t.app, org.key, 'POST', '/api/v1/templates/preview', { definition: { body: { root: 'a', elements: { a: { type: 'Nope', props: {} } } } } });
    assert.equal(invalid.statusCode, 400);
    assert.equal((json(invalid).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/definition/body/elements/a/type');
  });

  test('duplicate and render take an optional body: no body, or an empty one with a JSON content type, is the same as {}', async () => {
    const o = await t.newOrg();
    const a = json(await call(t.app, o.key, 'POST', '/api/v1/templates', { name: 'Opt', definition: { subject: 'Hi' } }));
    const bare = await call(t.app, o.key, 'POST', `/api/v1/templates/${String(a.id)}/duplicate`);
    assert.equal(bare.statusCode, 201, bare.body);
    assert.equal(json(bare).name, 'Opt (copy)');
    const empty = await t.app.inject({ method: 'POST', url: `/api/v1/templates/${String(a.id)}/render`, headers: { 'x-api-key': o.key, 'content-type': 'application/json' }, payload: '' });
    assert.equal(empty.statusCode, 200, empty.body);
    assert.equal(json(empty).subject, 'Hi');
    // A body that is there is still validated.
    const bad = await call(t.app, o.key, 'POST', `/api/v1/templates/${String(a.id)}/duplicate`, { name: 42 });
    assert.equal(bad.statusCode, 400);
    assert.equal((json(bad).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/name');
  });

  test('list filters, duplicate, archive/unarchive, delete; isolation and scopes', async () => {
    const o = await t.newOrg();
    const a = json(await call(t.app, o.key, 'POST', '/api/v1/templates', { name: 'A', purpose: 'Newsletter' }));
    const b = json(await call(t.app, o.key, 'POST', '/api/v1/templates', { name: 'B' }));
    const copy = await call(t.app, o.key, 'POST', `/api/v1/templates/${String(a.id)}/duplicate`, {});
    assert.equal(copy.statusCode, 201);
    assert.equal(json(copy).name, 'A (copy)');
    const archived = json(await call(t.app, o.key, 'POST', `/api/v1/templates/${String(b.id)}/archive`));
    assert.equal(archived.status, 'Archived');
    assert.equal(json(await call(t.app, o.key, 'POST', `/api/v1/templates/${String(b.id)}/archive`)).status, 'Archived');
    const publishArchived = await call(t.app, o.key, 'POST', `/api/v1/templates/${String(b.id)}/publish`);
    assert.equal((json(publishArchived).details as { reason: string }).reason, 'template_archived');
    const active = JSON.parse((await call(t.app, o.key, 'GET', '/api/v1/templates?status=Active')).body) as { name: string }[];
    assert.deepEqual(active.map((x) => x.name).sort(), ['A', 'A (copy)']);
    const both = JSON.parse((await call(t.app, o.key, 'GET', '/api/v1/templates?status=Active&status=Archived')).body) as unknown[];
    assert.equal(both.length, 3);
    const newsletters = JSON.parse((await call(t.app, o.key, 'GET', '/api/v1/templates?purpose=Newsletter')).body) as { name: string }[];
    assert.deepEqual(newsletters.map((x) => x.name).sort(), ['A', 'A (copy)']);
    assert.equal(json(await call(t.app, o.key, 'POST', `/api/v1/templates/${String(b.id)}/unarchive`)).status, 'Active');

    // Another organization sees nothing.
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/templates/${String(a.id)}`)).statusCode, 404);
    assert.equal((await call(t.app, org.key, 'DELETE', `/api/v1/templates/${String(a.id)}`)).statusCode, 404);
    const reader = await o.keyWith(['templates:read']);
    assert.equal((await call(t.app, reader, 'POST', '/api/v1/templates', { name: 'nope' })).statusCode, 403);
    // Every write route needs templates:write; no key at all is 401.
    for (const [method, url, body] of [
      ['PUT', `/api/v1/templates/${String(a.id)}`, { name: 'x' }],
      ['DELETE', `/api/v1/templates/${String(a.id)}`, undefined],
      ['POST', `/api/v1/templates/${String(a.id)}/publish`, undefined],
      ['POST', `/api/v1/templates/${String(a.id)}/archive`, undefined],
      ['POST', `/api/v1/templates/${String(a.id)}/duplicate`, {}],
    ] as const) {
      const denied = await call(t.app, reader, method, url, body);
      assert.equal(denied.statusCode, 403, `${method} ${url}`);
      assert.equal(json(denied).error, 'insufficient_scope');
    }
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/templates' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal((await call(t.app, reader, 'GET', '/api/v1/templates')).statusCode, 200);

    assert.equal((await call(t.app, o.key, 'DELETE', `/api/v1/templates/${String(a.id)}`)).statusCode, 204);
    assert.equal((await call(t.app, o.key, 'GET', `/api/v1/templates/${String(a.id)}`)).statusCode, 404);
  });

  test('create is idempotent with an Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'tpl-create-1' };
    const first = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Once' }, headers);
    const second = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Once' }, headers);
    assert.equal(second.body, first.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    const all = JSON.parse((await call(t.app, org.key, 'GET', '/api/v1/templates')).body) as { name: string }[];
    assert.equal(all.filter((x) => x.name === 'Once').length, 1);
  });
});

/** A verified domain and a default sender, as the emails module will create them. */
async function addDefaultSender(t: TestApp, organizationId: string): Promise<void> {
  const now = t.clock.now();
  const domainId = t.deps.ids();
  await t.database.db.kysely.insertInto('domains').values({ id: domainId, organization_id: organizationId, name: 'example.test', verification_token: 'tok', verified_at: now, created_at: now, updated_at: now }).execute();
  await t.database.db.kysely
    .insertInto('sender_profiles')
    .values({ id: t.deps.ids(), organization_id: organizationId, domain_id: domainId, name: 'Segmentflow', email: 'hello@example.test', reply_to: null, is_default: 1, created_at: now, updated_at: now })
    .execute();
}
