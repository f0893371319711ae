/**
 * `segmentflow journeys apply <file> --activate` (cli.md §1, journeys.md §7): the journey ends
 * Active; applying the identical file again with --activate reports it unchanged and changes
 * nothing. The outcome is checked in the database the CLI wrote to, not from its output text
 * (beyond the `unchanged` word), since that format is being reworked.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';
import { runCli } from '../harness/cli.js';
import { forEachDialect } from '../harness/database.js';
import { call, orgWithSender, publishedTemplate } from '../journeys/runs/support.js';

forEachDialect('segmentflow journeys apply --activate', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let dir: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await orgWithSender(t);
    dir = mkdtempSync(join(tmpdir(), 'sf-journey-apply-'));
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('apply --activate → Active v1; the identical apply --activate again → unchanged, nothing written', async () => {
    const templateId = await publishedTemplate(t, org, 'Welcome');
    const key = 'welcome-activate';
    const file = join(dir, `${key}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        key,
        name: 'Welcome (activated)',
        definition: {
          entry: { type: 'event', event: 'user.signed_up' },
          start: 'mail',
          steps: { mail: { type: 'send_email', templateId, next: 'wait' }, wait: { type: 'delay', duration: 'PT24H', next: 'done' }, done: { type: 'exit' } },
        },
      }),
    );
    const env = { SEGMENTFLOW_DATABASE_URL: t.database.url };
    const db = t.database.db.kysely;
    const journeyRow = () => db.selectFrom('journeys').selectAll().where('organization_id', '=', org.id).where('key', '=', key).executeTakeFirst();
    const versionCount = async (journeyId: string) => (await db.selectFrom('journey_versions').select('id').where('journey_id', '=', journeyId).execute()).length;

    const first = await runCli(['journeys', 'apply', file, '--org', org.id, '--activate'], env);
    assert.equal(first.code, 0, first.stderr);
    const created = await journeyRow();
    assert.ok(created, `no journey ${key} after apply: ${first.stdout}`);
    assert.equal(created.status, 'Active');
    assert.equal(created.version, 1);
    assert.notEqual(created.activated_at, null);
    assert.equal(await versionCount(created.id), 1);
    const viaApi = await call(t.app, org.key, 'GET', `/api/v1/journeys/${created.id}`);
    assert.equal(viaApi.statusCode, 200, viaApi.body);
    assert.equal(json(viaApi).status, 'Active');
    assert.equal(json(viaApi).version, 1);

    const second = await runCli(['journeys', 'apply', file, '--org', org.id, '--activate'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`^unchanged ${key} v1$`, 'm'));
    const after = await journeyRow();
    assert.deepEqual(after, created, 'the second apply wrote nothing: same status, version, activatedAt, updatedAt');
    assert.equal(await versionCount(created.id), 1);
    assert.equal((await db.selectFrom('journeys').select('id').where('organization_id', '=', org.id).execute()).length, 1);
  });
});
