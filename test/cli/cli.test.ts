/**
 * The `segmentflow` command against a real database (cli.md): migrate, organizations, API keys,
 * configuration errors, and `serve` with bootstrap, the CLI working beside it, graceful stop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { defaultConfig } from '../../src/config.js';
import { createDeps } from '../../src/deps.js';
import { systemClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { createLogger } from '../../src/logger.js';
import { createApiKey } from '../../src/modules/api-keys/api-keys.service.js';
import { createTestDatabase, forEachDialect, type TestDatabase } from '../harness/database.js';
import { runCli, startServer } from '../harness/cli.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('configuration errors name every bad variable and exit 2 without touching the database', async () => {
  const res = await runCli(['serve'], { PORT: 'abc', SEGMENTFLOW_MAIL_TRANSPORT: 'smtp', SEGMENTFLOW_DATABASE_URL: 'sqlite:/nonexistent-dir/never/created.db' });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /PORT: not a port number/);
  assert.match(res.stderr, /SEGMENTFLOW_SMTP_URL: required with SEGMENTFLOW_MAIL_TRANSPORT=smtp/);
  const bad = await runCli(['migrate'], { SEGMENTFLOW_DATABASE_URL: 'mysql://x', SEGMENTFLOW_LOG_LEVEL: 'loud' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /SEGMENTFLOW_DATABASE_URL/);
  assert.match(bad.stderr, /SEGMENTFLOW_LOG_LEVEL/);
});

test('HOST and the SMTP URL options are checked at start with the rest (exit 2, named, no database); no command is a usage error', async () => {
  const res = await runCli(['serve'], { HOST: 'no such host!', SEGMENTFLOW_MAIL_TRANSPORT: 'smtp', SEGMENTFLOW_SMTP_URL: 'smtp://127.0.0.1:2525/?pool=maybe&bogus=1', SEGMENTFLOW_DATABASE_URL: 'sqlite:/nonexistent-dir/never/created.db' });
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /HOST: must be an IP address or a host name/);
  assert.match(res.stderr, /SEGMENTFLOW_SMTP_URL: .*bogus/);
  for (const [args, code] of [[[], 2], [['api-keys'], 2], [['bogus'], 2], [['--help'], 0], [['help', 'serve'], 0], [['--version'], 0]] as const) {
    assert.equal((await runCli([...args], {})).code, code, `segmentflow ${args.join(' ')}`);
  }
});

test('a first start that fails after bootstrapping still shows the key once; PORT=0 prints the port actually bound', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'segmentflow-cli-'));
  const blocker = createServer();
  try {
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    const env = { SEGMENTFLOW_DATABASE_URL: `sqlite:${join(dir, 'x.db')}`, HOST: '127.0.0.1' };
    const busy = await runCli(['serve', '--port', String(port)], env);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /Bootstrap API key \(shown once, all scopes\): sk_live_\w+/);
    assert.match(busy.stderr, /EADDRINUSE/);
    const server = await startServer(['--port', '0'], env);
    try {
      const bound = /listening on http:\/\/localhost:(\d+)/.exec(server.stdout())?.[1];
      assert.ok(bound !== undefined && Number(bound) > 0, server.stdout());
      assert.doesNotMatch(server.stdout(), /Bootstrap API key/, 'shown once');
      const health = await fetch(`http://127.0.0.1:${bound}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      await server.stop();
    }
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bootstrap key shaped like a generated key but not one stops the first start (exit 2, nothing written); once bootstrapped it is ignored', async () => {
  // Such a value is refused without a lookup (conventions.md §2.1), so it could never authenticate.
  const dir = mkdtempSync(join(tmpdir(), 'segmentflow-cli-'));
  try {
    const env = { SEGMENTFLOW_DATABASE_URL: `sqlite:${join(dir, 'x.db')}`, SEGMENTFLOW_BOOTSTRAP_API_KEY: 'sk_live_operator-chosen-key_0001' };
    const refused = await runCli(['serve', '--port', '0'], env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /SEGMENTFLOW_BOOTSTRAP_API_KEY: starts with sk_live_ but is not a generated key/);
    assert.match((await runCli(['orgs', 'create', 'acme'], env)).stdout, /acme/);
    assert.equal((await runCli(['api-keys', 'list'], env)).code, 0, 'other commands are not affected');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

forEachDialect('segmentflow CLI', (dialect) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  before(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    env = { SEGMENTFLOW_DATABASE_URL: database.url };
  });
  after(() => database.destroy());

  test('migrate applies, then reports up to date', async () => {
    const first = await runCli(['migrate'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied 0001-foundation/);
    const second = await runCli(['migrate'], env);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /up to date/);
  });

  test('serve bootstraps once, the CLI works beside it, keys are enforced, SIGTERM exits 0', async () => {
    const port = await freePort();
    const bootstrapKey = 'dev_key_0123456789abcdef';
    const server = await startServer(['--port', String(port)], { ...env, SEGMENTFLOW_BOOTSTRAP_API_KEY: bootstrapKey, HOST: '127.0.0.1' });
    try {
      assert.match(server.stdout(), new RegExp(`Segmentflow listening on http://localhost:${port}  \\(role all · ${dialect === 'sqlite' ? 'sqlite:' : 'postgres://'}.* · mail capture\\)`));
      assert.match(server.stdout(), /Bootstrap API key \(shown once, all scopes\): dev_key_0123456789abcdef/);
      const base = `http://127.0.0.1:${port}`;
      const org = await fetch(`${base}/api/v1/organization`, { headers: { 'x-api-key': bootstrapKey } });
      assert.equal(org.status, 200);
      assert.equal(((await org.json()) as { name: string }).name, 'default');

      // Capture mode: a dev sender exists, so the starter templates are published.
      const templates = (await (await fetch(`${base}/api/v1/templates`, { headers: { 'x-api-key': bootstrapKey } })).json()) as { id: string; name: string; source: string; isComplete: boolean }[];
      assert.deepEqual(templates.map((x) => x.name).sort(), ['Order confirmation', 'Password reset', 'Welcome']);
      assert.ok(templates.every((x) => x.source === 'starter' && x.isComplete));
      const welcome = (await (await fetch(`${base}/api/v1/templates/${templates.find((x) => x.name === 'Welcome')!.id}`, { headers: { 'x-api-key': bootstrapKey } })).json()) as { currentSnapshotId: string | null };
      assert.ok(welcome.currentSnapshotId);

      // The CLI writes to the same database while serve runs.
      const created = await runCli(['api-keys', 'create', '--scopes', 'profiles:read', '--label', 'narrow', '--json'], env);
      assert.equal(created.code, 0, created.stderr);
      const lines = created.stdout.trim().split('\n');
      assert.equal(lines.length, 1);
      const key = JSON.parse(lines[0]!) as { id: string; key: string; scopes: string[] };
      assert.deepEqual(Object.keys(key), ['id', 'key', 'scopes']);
      assert.deepEqual(key.scopes, ['profiles:read']);
      const denied = await fetch(`${base}/api/v1/events`, {
        method: 'POST',
        headers: { 'x-api-key': key.key, 'content-type': 'application/json', 'idempotency-key': 'cli-1' },
        body: JSON.stringify({ event: 'x', profile: { email: 'a@example.com' } }),
      });
      assert.equal(denied.status, 403);
      const accepted = await fetch(`${base}/api/v1/events`, {
        method: 'POST',
        headers: { 'x-api-key': bootstrapKey, 'content-type': 'application/json', 'idempotency-key': 'cli-1' },
        body: JSON.stringify({ event: 'x', profile: { email: 'a@example.com' } }),
      });
      assert.equal(accepted.status, 202);

      const listed = await runCli(['api-keys', 'list'], env);
      assert.equal(listed.code, 0);
      assert.ok(listed.stdout.includes(key.id));
      assert.ok(!listed.stdout.includes(key.key), 'list never prints secrets');
      assert.ok(!listed.stdout.includes(bootstrapKey));

      const revoked = await runCli(['api-keys', 'revoke', key.id], env);
      assert.equal(revoked.code, 0, revoked.stderr);
      // Another process revoked it: the server's one-second key cache lets it lapse within a second.
      let status = 0;
      for (let i = 0; i < 30 && status !== 401; i++) {
        status = (await fetch(`${base}/api/v1/organization`, { headers: { 'x-api-key': key.key } })).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 401);
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }

    // A second start on the non-empty database prints no key and ignores the bootstrap variable.
    const again = await startServer(['--port', String(port), '--role', 'api'], { ...env, SEGMENTFLOW_BOOTSTRAP_API_KEY: 'another_key_0123456789abc', HOST: '127.0.0.1' });
    try {
      assert.doesNotMatch(again.stdout(), /Bootstrap API key/);
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/organization`, { headers: { 'x-api-key': 'another_key_0123456789abc' } });
      assert.equal(res.status, 401);
    } finally {
      assert.equal(await again.stop('SIGINT'), 0);
    }
  });

  test('orgs and api-keys: --org required with several organizations, unknown scopes exit 2', async () => {
    const unknown = await runCli(['api-keys', 'create', '--scopes', 'nope:read'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /nope:read/);
    const org = await runCli(['orgs', 'create', 'acme', '--json'], env);
    assert.equal(org.code, 0, org.stderr);
    const acme = JSON.parse(org.stdout) as { id: string; name: string };
    assert.equal(acme.name, 'acme');
    const duplicate = await runCli(['orgs', 'create', 'acme'], env);
    assert.equal(duplicate.code, 2);
    assert.equal((await runCli(['orgs', 'create', 'globex'], env)).code, 0);
    const ambiguous = await runCli(['api-keys', 'create', '--scopes', 'all'], env);
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /acme/);
    const made = await runCli(['api-keys', 'create', '--org', 'acme', '--scopes', 'events:write,profiles:read', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const { key } = JSON.parse(made.stdout) as { key: string };
    assert.match(key, /^sk_live_[0-9A-Za-z]{38}$/);
    // Expiry: in the past is refused; a key that has expired lists as expired (not active).
    const past = await runCli(['api-keys', 'create', '--org', 'acme', '--scopes', 'all', '--expires', '2020-01-01T00:00:00Z'], env);
    assert.equal(past.code, 2);
    assert.match(past.stderr, /--expires must be in the future/);
    const lapsed = await createApiKey(database.db.kysely, { clock: systemClock, ids: uuidV7 }, { organizationId: acme.id, label: 'lapsed', scopes: ['events:write'], expiresAt: Date.now() - 1000 });
    assert.match((await runCli(['api-keys', 'list', '--org', 'acme'], env)).stdout, new RegExp(`^${lapsed.apiKey.id} .* lapsed  expired `, 'm'));
    // Revoke by id alone with several organizations (key ids are unique); an unknown id exits 2.
    const spare = await runCli(['api-keys', 'create', '--org', 'globex', '--scopes', 'all', '--json'], env);
    const keyId = (JSON.parse(spare.stdout) as { id: string }).id;
    const revoked = await runCli(['api-keys', 'revoke', keyId], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match((await runCli(['api-keys', 'list', '--org', 'globex'], env)).stdout, new RegExp(`^${keyId} .* revoked `, 'm'));
    assert.equal((await runCli(['api-keys', 'revoke', keyId], env)).code, 2, 'already revoked');
    assert.equal((await runCli(['api-keys', 'revoke', '0190f600-0000-7000-8000-000000000000'], env)).code, 2);

    // Template files: import creates, a second import updates by name, --publish publishes.
    const dir = mkdtempSync(join(tmpdir(), 'sf-tpl-'));
    const file = join(dir, 'receipt.json');
    // The file is a create body checked by the API's schema: every bad field is named, nothing saved.
    writeFileSync(file, JSON.stringify({ name: 'Receipt', language: 'not a tag!!', colour: 'red' }));
    const badFile = await runCli(['templates', 'import', file, '--org', 'acme'], env);
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /\/language/);
    assert.match(badFile.stderr, /\/colour: unknown field/);
    writeFileSync(file, JSON.stringify({ name: 'Receipt', purpose: 'Transactional', subType: 'receipt', definition: { subject: 'Your receipt' } }));
    const imported = await runCli(['templates', 'import', file, '--org', 'acme'], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^created template "Receipt"/);
    const body = { root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: 'Thanks' } } } };
    writeFileSync(file, JSON.stringify({ name: 'Receipt', purpose: 'Transactional', definition: { subject: 'Your receipt', body } }));
    const noSender = await runCli(['templates', 'import', file, '--org', 'acme', '--publish'], env);
    assert.equal(noSender.code, 2, 'acme has no sender: the template is saved but cannot be published');
    assert.match(noSender.stderr, /sender/);
    writeFileSync(file, JSON.stringify({ name: 'Broken', definition: { body: { root: 'x', elements: { x: { type: 'Marquee', props: {} } } } } }));
    const broken = await runCli(['templates', 'import', file, '--org', 'acme'], env);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /\/definition\/body\/elements\/x\/type/);
    const starter = await runCli(['templates', 'import', '--starter', 'welcome', '--org', 'acme'], env);
    assert.equal(starter.code, 0, starter.stderr);
    assert.match(starter.stdout, /^created template "Welcome".*incomplete/);
    assert.equal((await runCli(['templates', 'import', '--starter', 'nope'], env)).code, 2);

    // Journeys as code: created, unchanged, updated with a new version.
    const journeyFile = join(dir, 'welcome.json');
    const journey = { key: 'welcome', name: 'Welcome', definition: { entry: { type: 'event', event: 'user.signed_up' }, start: 'wait', steps: { wait: { type: 'delay', duration: 'PT24H', next: 'done' }, done: { type: 'exit' } } } };
    writeFileSync(journeyFile, JSON.stringify(journey));
    const applied = await runCli(['journeys', 'apply', journeyFile, '--org', 'acme'], env);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout.trim(), 'created welcome v1');
    assert.equal((await runCli(['journeys', 'apply', journeyFile, '--org', 'acme'], env)).stdout.trim(), 'unchanged welcome v1');
    journey.definition.steps.wait.duration = 'PT48H';
    writeFileSync(journeyFile, JSON.stringify(journey));
    assert.equal((await runCli(['journeys', 'apply', journeyFile, '--org', 'acme'], env)).stdout.trim(), 'updated welcome v2');
    // --activate: the first line stays exactly cli.md's; the activation is reported on its own line.
    assert.equal((await runCli(['journeys', 'apply', journeyFile, '--org', 'acme', '--activate'], env)).stdout.trim(), 'unchanged welcome v2\nactivated welcome');
    journey.definition.start = 'nowhere';
    writeFileSync(journeyFile, JSON.stringify(journey));
    const invalid = await runCli(['journeys', 'apply', journeyFile, '--org', 'acme'], env);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /\/definition\/start/);

    // The key belongs to acme: check it through the app on the same database.
    const db = (await import('../../src/db/connect.js')).connectDatabase(
      dialect === 'sqlite' ? { dialect: 'sqlite', path: database.url.slice('sqlite:'.length), synchronous: 'FULL' } : { dialect: 'postgres', url: database.url },
    );
    const app = await buildApp(createDeps({ config: defaultConfig(), db, clock: systemClock, ids: uuidV7, logger: createLogger('silent'), secret: 'x'.repeat(32) }));
    try {
      const res = await app.inject({ method: 'GET', url: '/api/v1/organization', headers: { 'x-api-key': key } });
      assert.equal(JSON.parse(res.body).id, acme.id);
      // Every field of the imported create body was kept, not only name/purpose/definition.
      const receipt = await db.kysely.selectFrom('templates').select(['sub_type', 'purpose']).where('organization_id', '=', acme.id).where('name', '=', 'Receipt').executeTakeFirstOrThrow();
      assert.deepEqual(receipt, { sub_type: 'receipt', purpose: 'Transactional' });
    } finally {
      await app.close();
      await db.close();
    }
  });
});
