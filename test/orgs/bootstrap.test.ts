/** First start (cli.md §3): exactly once, capture mode gets a dev sender, starters are created. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { bootstrapInstance } from '../../src/modules/orgs/bootstrap.js';
import { createTestDatabase, forEachDialect } from '../harness/database.js';

const deps = { clock: systemClock, ids: uuidV7 };

forEachDialect('bootstrap', (dialect) => {
  test('capture mode: one organization, an all-scope key, a dev sender and published starters — once', async () => {
    const t = await createTestDatabase(dialect);
    try {
      const options = { bootstrapApiKey: 'dev_key_0123456789abcdef', configuredSecret: null, mailTransport: 'capture' as const };
      const results = await Promise.all([bootstrapInstance(t.db, deps, options), bootstrapInstance(t.db, deps, options)].map((p) => p.then((r) => (r.ok ? r.value : r), (e: unknown) => e)));
      const first = results.filter((r) => typeof r === 'object' && r !== null && 'bootstrapApiKey' in r && r.bootstrapApiKey !== null);
      assert.equal(first.length, 1, 'exactly one start bootstraps');
      const db = t.db.kysely;
      assert.equal((await db.selectFrom('organizations').selectAll().execute()).length, 1);
      assert.equal((await db.selectFrom('api_keys').selectAll().execute()).length, 1);
      const senders = await db.selectFrom('sender_profiles').selectAll().execute();
      assert.deepEqual(senders.map((s) => [s.email, s.is_default]), [['hello@example.test', 1]]);
      const templates = await db.selectFrom('templates').selectAll().execute();
      assert.equal(templates.length, 3);
      assert.ok(templates.every((x) => x.current_snapshot_id !== null && x.source === 'starter'));
      const again = await bootstrapInstance(t.db, deps, options);
      assert.ok(again.ok);
      assert.equal(again.value.bootstrapApiKey, null);
      assert.equal(again.value.secret, (first[0] as { secret: string }).secret, 'the instance secret is stable');
      // Once bootstrapped, the variable is ignored, even a value that could not have been used.
      assert.ok((await bootstrapInstance(t.db, deps, { ...options, bootstrapApiKey: 'sk_live_operator-chosen-key_0001' })).ok);
    } finally {
      await t.destroy();
    }
  });

  test('smtp mode: no example.test domain or sender; starters stay unpublished drafts', async () => {
    const t = await createTestDatabase(dialect);
    try {
      const refused = await bootstrapInstance(t.db, deps, { bootstrapApiKey: 'sk_live_operator-chosen-key_0001', configuredSecret: null, mailTransport: 'smtp' });
      assert.deepEqual(refused, { ok: false, error: { type: 'bootstrap_key_not_generated' } });
      assert.equal((await t.db.kysely.selectFrom('instance_settings').selectAll().execute()).length, 0, 'a refused start writes nothing');
      const result = await bootstrapInstance(t.db, deps, { bootstrapApiKey: null, configuredSecret: null, mailTransport: 'smtp' });
      assert.ok(result.ok);
      assert.match(String(result.value.bootstrapApiKey), /^sk_live_/);
      assert.equal((await t.db.kysely.selectFrom('domains').selectAll().execute()).length, 0);
      const templates = await t.db.kysely.selectFrom('templates').selectAll().execute();
      assert.equal(templates.length, 3);
      assert.ok(templates.every((x) => x.current_snapshot_id === null));
    } finally {
      await t.destroy();
    }
  });
});
