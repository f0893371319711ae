/**
 * A bootstrap key chosen by the operator (SEGMENTFLOW_BOOTSTRAP_API_KEY, any 20–200 visible ASCII
 * characters) works even when it starts with `sk_live_` without a valid checksum (conventions.md
 * §2.1, cli.md §3), while other `sk_live_` values with a wrong checksum still cost no query.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KyselyPlugin } from 'kysely';
import { ApiKeyAuthenticator } from '../../src/modules/api-keys/api-keys.service.js';
import { hasPlausibleChecksum } from '../../src/modules/api-keys/secrets.js';
import { bootstrapInstance } from '../../src/modules/orgs/bootstrap.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp } from '../harness/app.js';

const BOOTSTRAP_KEY = 'sk_live_operator-chosen-bootstrap-key_0001';

forEachDialect('bootstrap key with an sk_live_ prefix and no checksum', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp(dialect);
    assert.equal(hasPlausibleChecksum(BOOTSTRAP_KEY), false);
    const boot = await bootstrapInstance(t.database.db, { clock: t.clock, ids: uuidV7 }, { bootstrapApiKey: BOOTSTRAP_KEY, configuredSecret: null, mailTransport: 'capture' });
    assert.equal(boot.bootstrapApiKey, BOOTSTRAP_KEY);
  });
  after(() => t.close());

  test('the printed key authenticates with every scope', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/organization', headers: { 'x-api-key': BOOTSTRAP_KEY } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json(res).name, 'default');
    const keys = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: { 'x-api-key': BOOTSTRAP_KEY } });
    assert.equal(keys.statusCode, 200);
  });

  test('other sk_live_ values with a wrong checksum → 401, and a flood of them makes no query', async () => {
    let queries = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        queries++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const authenticator = new ApiKeyAuthenticator(t.deps.db.kysely.withPlugin(counting), t.clock, () => {});
    assert.ok(await authenticator.authenticate(BOOTSTRAP_KEY));
    const afterBootstrap = queries;
    for (let i = 0; i < 200; i++) {
      assert.equal(await authenticator.authenticate(`sk_live_${String(i).padStart(38, 'x')}`), null);
      assert.equal(await authenticator.authenticate(`${BOOTSTRAP_KEY}${i}`), null);
    }
    assert.equal(queries, afterBootstrap, 'no query for values that fail the checksum and are not the bootstrap key');
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/organization', headers: { 'x-api-key': 'sk_live_' + 'A'.repeat(38) } });
    assert.equal(res.statusCode, 401);
  });

  test('a revoked bootstrap key → 401', async () => {
    const list = json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: { 'x-api-key': BOOTSTRAP_KEY } })) as { data: { id: string }[] };
    const id = list.data[0]!.id;
    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: { 'x-api-key': BOOTSTRAP_KEY } });
    assert.equal(revoked.statusCode, 204);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/organization', headers: { 'x-api-key': BOOTSTRAP_KEY } });
    assert.equal(res.statusCode, 401);
  });
});
