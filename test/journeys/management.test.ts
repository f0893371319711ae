/**
 * Journey management (journeys.md §1, §4, §7, §10 examples 1, 2, 6): create, key rules,
 * structure (400) and semantic (422) validation with pointers, versions, lifecycle, validate.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';

function call(app: FastifyInstance, key: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) {
  return app.inject({ method, url, headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
}

const cart = (templateId: string, groupId: string) => ({
  entry: { type: 'event', event: 'checkout.started', filter: { path: '/event/total', op: 'gte', value: 20 } },
  eligibility: { reEntry: 'once_per_key', key: '/event/cartId' },
  exitOn: [{ event: 'account.closed' }],
  start: 'wait_order',
  steps: {
    wait_order: { type: 'wait_for_event', event: 'order.completed', filter: { path: '/candidate/cartId', op: 'eq', value: { $state: '/event/cartId' } }, timeout: 'PT1H', onEvent: 'done', onTimeout: 'remind' },
    remind: { type: 'send_email', templateId, subscriptionGroupId: groupId, next: 'done' },
    done: { type: 'exit' },
  },
});

forEachDialect('journey management', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  let groupId: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    const tpl = json(await call(t.app, org.key, 'POST', '/api/v1/templates', { name: 'Reminder', purpose: 'Promotional', definition: { subject: 'Your cart', body: { root: 'e', elements: { e: { type: 'Email', props: {}, children: [] } } } } }));
    templateId = String(tpl.id);
    groupId = String(json(await call(t.app, org.key, 'POST', '/api/v1/subscription-groups', { name: 'Cart reminders', type: 'OptOut' })).id);
  });
  after(() => t.close());

  test('create → Draft v1; same key → 409 already_exists; reserved and malformed keys → 400', async () => {
    const created = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: 'abandoned-cart', name: 'Abandoned cart', definition: cart(templateId, groupId) });
    assert.equal(created.statusCode, 201, created.body);
    const body = json(created);
    assert.equal(body.status, 'Draft');
    assert.equal(body.version, 1);
    assert.equal(body.key, 'abandoned-cart');
    const again = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: 'abandoned-cart', name: 'Again', definition: cart(templateId, groupId) });
    assert.equal(again.statusCode, 409);
    assert.deepEqual(json(again).details, { field: 'key' });
    for (const key of ['runs', 'validate', '-bad', 'a'.repeat(121)]) {
      const res = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key, name: 'x', definition: cart(templateId, groupId) });
      assert.equal(res.statusCode, 400, key);
      assert.equal((json(res).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/key');
    }
  });

  test('semantic errors → 422 invalid_definition with every pointer; structure errors → 400', async () => {
    const def = cart(templateId, groupId) as { steps: Record<string, Record<string, unknown>> };
    def.steps.remind!.next = 'nowhere';
    def.steps.orphan = { type: 'exit' };
    const res = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: 'broken', name: 'Broken', definition: def });
    assert.equal(res.statusCode, 422, res.body);
    const details = json(res).details as { reason: string; errors: { pointer: string }[] };
    assert.equal(details.reason, 'invalid_definition');
    const pointers = details.errors.map((e) => e.pointer);
    assert.ok(pointers.includes('/definition/steps/remind/next'), JSON.stringify(pointers));
    assert.ok(pointers.includes('/definition/steps/orphan'), JSON.stringify(pointers));
    const malformed = await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: 'malformed', name: 'x', definition: { ...cart(templateId, groupId), steps: { s: { type: 'delay', duration: 'P1Y' } }, start: 's' } });
    assert.equal(malformed.statusCode, 400);
    assert.equal((json(malformed).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/definition/steps/s/duration');
    const validated = json(await call(t.app, org.key, 'POST', '/api/v1/journeys/validate', { definition: def }));
    assert.equal(validated.valid, false);
    assert.ok((validated.errors as { pointer: string }[]).some((e) => e.pointer === '/definition/steps/orphan'));
    assert.deepEqual(json(await call(t.app, org.key, 'POST', '/api/v1/journeys/validate', { definition: cart(templateId, groupId) })), { valid: true, errors: [] });
  });

  test('lifecycle: activation needs published templates; pause/archive table; PUT makes a new version', async () => {
    const j = json(await call(t.app, org.key, 'POST', '/api/v1/journeys', { key: 'lifecycle', name: 'Lifecycle', definition: cart(templateId, groupId) }));
    const id = String(j.id);
    const pauseDraft = await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/pause`);
    assert.equal(pauseDraft.statusCode, 409);
    assert.deepEqual(json(pauseDraft).details, { status: 'Draft' });
    const unpublished = await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/activate`);
    assert.equal(unpublished.statusCode, 422);
    assert.equal((json(unpublished).details as { reason: string }).reason, 'template_not_published');
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/templates/${templateId}/publish`)).statusCode, 200);
    const active = json(await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/activate`));
    assert.equal(active.status, 'Active');
    assert.ok(active.activatedAt);
    assert.equal(json(await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/activate`)).status, 'Active');
    // A live journey holds its template and subscription group.
    for (const url of [`/api/v1/templates/${templateId}`, `/api/v1/subscription-groups/${groupId}`]) {
      const blocked = await t.app.inject({ method: 'DELETE', url, headers: { 'x-api-key': org.key } });
      assert.equal(blocked.statusCode, 409, url);
      assert.deepEqual(json(blocked).details, { references: [{ type: 'Journey', id }] });
    }

    const renamed = json(await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { name: 'Renamed' }));
    assert.equal(renamed.version, 1, 'a name change is not a new version');
    const def = cart(templateId, groupId) as { steps: { wait_order: { timeout: string } } };
    def.steps.wait_order.timeout = 'PT2H';
    const v2 = json(await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { definition: def }));
    assert.equal(v2.version, 2);
    assert.notEqual(v2.versionId, active.versionId);
    const versions = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${id}/versions`)).data as { version: number; definition: { steps: { wait_order: { timeout: string } } } }[];
    assert.deepEqual(versions.map((v) => v.version), [2, 1]);
    assert.equal(versions[1]!.definition.steps.wait_order.timeout, 'PT1H', 'version 1 is immutable');
    // Paginated like every list (conventions.md §7): limit, then the cursor continues below.
    const first = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${id}/versions?limit=1`)) as { data: { version: number }[]; nextCursor: string | null };
    assert.deepEqual(first.data.map((v) => v.version), [2]);
    assert.ok(first.nextCursor);
    const second = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${id}/versions?limit=1&cursor=${encodeURIComponent(first.nextCursor)}`)) as { data: { version: number }[]; nextCursor: string | null };
    assert.deepEqual([second.data.map((v) => v.version), second.nextCursor], [[1], null]);
    const foreign = await call(t.app, org.key, 'GET', `/api/v1/journeys/${id}/versions?cursor=${encodeURIComponent(first.nextCursor)}x`);
    assert.equal(foreign.statusCode, 400);

    assert.equal(json(await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/pause`)).status, 'Paused');
    assert.equal(json(await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/archive`)).status, 'Archived');
    assert.equal((await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/activate`)).statusCode, 409);
    assert.equal((await call(t.app, org.key, 'PUT', `/api/v1/journeys/${id}`, { name: 'x' })).statusCode, 409);
    assert.equal(json(await call(t.app, org.key, 'POST', `/api/v1/journeys/${id}/archive`)).status, 'Archived');
  });

  test('list, get, isolation and scopes', async () => {
    const o = await t.newOrg();
    const api = { entry: { type: 'api' }, start: 'x', steps: { x: { type: 'exit' } } };
    const j = json(await call(t.app, o.key, 'POST', '/api/v1/journeys', { key: 'api-journey', name: 'API', definition: api }));
    assert.equal((await call(t.app, org.key, 'GET', `/api/v1/journeys/${String(j.id)}`)).statusCode, 404);
    const list = json(await call(t.app, o.key, 'GET', '/api/v1/journeys?key=api-journey'));
    assert.deepEqual((list.data as { id: string }[]).map((x) => x.id), [j.id]);
    const reader = await o.keyWith(['journeys:read']);
    assert.equal((await call(t.app, reader, 'POST', '/api/v1/journeys', { key: 'nope', name: 'x', definition: api })).statusCode, 403);
    assert.equal((await call(t.app, reader, 'GET', `/api/v1/journeys/${String(j.id)}`)).statusCode, 200);
  });
});
