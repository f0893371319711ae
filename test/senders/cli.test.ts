/**
 * `segmentflow domains add|verify` and `segmentflow senders create` (cli.md §1) as real child
 * processes on both databases, checked through the API on the same database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { defaultConfig } from '../../src/config.js';
import { connectDatabase } from '../../src/db/connect.js';
import { createDeps } from '../../src/deps.js';
import { systemClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { createLogger } from '../../src/logger.js';
import { createApiKey } from '../../src/modules/api-keys/api-keys.service.js';
import { runCli } from '../harness/cli.js';
import { createTestDatabase, forEachDialect, type TestDatabase } from '../harness/database.js';

forEachDialect('domains and senders CLI', (dialect) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  before(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    env = { SEGMENTFLOW_DATABASE_URL: database.url };
  });
  after(() => database.destroy());

  test('domains add prints the TXT record; verify fails without DNS, --trust verifies; senders create', async () => {
    const org = await runCli(['orgs', 'create', 'acme', '--json'], env);
    assert.equal(org.code, 0, org.stderr);
    const acme = JSON.parse(org.stdout) as { id: string };

    const added = await runCli(['domains', 'add', 'Mail.Acme.Example'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^Added domain mail\.acme\.example to acme \([0-9a-f-]{36}\)\./);
    assert.match(added.stdout, /\n {2}_segmentflow\.mail\.acme\.example {2}TXT {2}"segmentflow-verification=[0-9a-f]{32}"\n/);
    assert.match(added.stdout, /segmentflow domains verify mail\.acme\.example/);

    // Adding it again shows the same record instead of failing.
    const again = await runCli(['domains', 'add', 'mail.acme.example', '--org', 'acme'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already exists in acme .*pending/);
    const token = /segmentflow-verification=([0-9a-f]{32})/.exec(added.stdout)![1]!;
    assert.ok(again.stdout.includes(token));

    const invalid = await runCli(['domains', 'add', 'not a domain'], env);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /valid domain name/);

    // The reserved .example TLD never resolves (and this machine may have no DNS at all).
    const failed = await runCli(['domains', 'verify', 'mail.acme.example'], env);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /not verified: .*_segmentflow\.mail\.acme\.example/);
    const unknown = await runCli(['domains', 'verify', 'nope.example'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /domains add nope\.example/);

    const noDomain = await runCli(['senders', 'create', '--email', 'hello@other.example', '--name', 'Acme'], env);
    assert.equal(noDomain.code, 2);
    assert.match(noDomain.stderr, /segmentflow domains add other\.example/);
    const badEmail = await runCli(['senders', 'create', '--email', 'nope', '--name', 'Acme'], env);
    assert.equal(badEmail.code, 2);

    const sender = await runCli(['senders', 'create', '--email', 'Hello@mail.acme.example', '--name', 'Acme'], env);
    assert.equal(sender.code, 0, sender.stderr);
    assert.match(sender.stdout, /^Created sender profile Acme <hello@mail\.acme\.example> \([0-9a-f-]{36}\), the default — its domain is not verified yet/);

    const trusted = await runCli(['domains', 'verify', 'MAIL.acme.example', '--trust', '--org', acme.id], env);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /Domain mail\.acme\.example verified \(trusted without DNS\)/);

    const second = await runCli(['senders', 'create', '--email', 'news@mail.acme.example', '--name', 'Acme News', '--default', '--org', 'acme'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Acme News <news@mail\.acme\.example> .*, the default\n$/);

    // Through the API on the same database.
    const db = connectDatabase(dialect === 'sqlite' ? { dialect: 'sqlite', path: database.url.slice('sqlite:'.length), synchronous: 'FULL' } : { dialect: 'postgres', url: database.url });
    const deps = createDeps({ config: defaultConfig(), db, clock: systemClock, ids: uuidV7, logger: createLogger('silent'), secret: 'x'.repeat(32) });
    const app = await buildApp(deps);
    try {
      const { key } = await createApiKey(db.kysely, deps, { organizationId: acme.id, label: 'test', scopes: ['senders:read'] });
      const domains = JSON.parse((await app.inject({ method: 'GET', url: '/api/v1/domains', headers: { 'x-api-key': key } })).body) as { data: { name: string; status: string; lastError: string | null; verificationRecord: { value: string } }[] };
      assert.deepEqual(domains.data.map((d) => [d.name, d.status, d.lastError]), [['mail.acme.example', 'verified', null]]);
      assert.equal(domains.data[0]!.verificationRecord.value, `segmentflow-verification=${token}`);
      const senders = JSON.parse((await app.inject({ method: 'GET', url: '/api/v1/sender-profiles', headers: { 'x-api-key': key } })).body) as { data: { email: string; isDefault: boolean; verified: boolean }[] };
      assert.deepEqual(senders.data.map((s) => [s.email, s.isDefault, s.verified]), [['news@mail.acme.example', true, true], ['hello@mail.acme.example', false, true]]);
    } finally {
      await app.close();
      await db.close();
    }
  });
});
