/**
 * A database that cannot be reached or cannot work answers 503 `service_unavailable` with
 * `Retry-After`, never 500 (conventions.md §4.2). PostgreSQL: a server address where nothing
 * listens (connection refused at once). SQLite: a connection with no busy timeout while another
 * connection holds the write lock (SQLITE_BUSY at once). Both are deterministic.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { defaultConfig } from '../../src/config.js';
import { connectDatabase, type Db } from '../../src/db/connect.js';
import type { Database } from '../../src/db/tables.js';
import { createDeps } from '../../src/deps.js';
import { isDatabaseUnavailable } from '../../src/http/database-unavailable.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { createLogger } from '../../src/logger.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp } from '../harness/app.js';

/** A port on 127.0.0.1 where nothing listens: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function appOver(db: Db): Promise<FastifyInstance> {
  const deps = createDeps({
    config: defaultConfig(),
    db,
    clock: new FakeClock(),
    ids: uuidV7,
    logger: createLogger('silent'),
    secret: randomBytes(32).toString('hex'),
  });
  const app = await buildApp(deps);
  await app.ready();
  return app;
}

function assertUnavailable(res: { statusCode: number; body: string; headers: Record<string, unknown> }): void {
  assert.equal(res.statusCode, 503, res.body);
  assert.equal(JSON.parse(res.body).error, 'service_unavailable');
  assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
  assert.ok(res.headers['x-request-id']);
}

test('connection-level errors are recognised; ordinary SQL errors are not', () => {
  const coded = (code: string) => Object.assign(new Error('x'), { code });
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '53300', '08006', '08001', 'SQLITE_BUSY', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_CANTOPEN', 'SQLITE_IOERR_WRITE', 'SQLITE_FULL']) {
    assert.ok(isDatabaseUnavailable(coded(code)), code);
  }
  assert.ok(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')));
  assert.ok(isDatabaseUnavailable(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], '')));
  for (const code of ['23505', '42P01', '22021', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR']) assert.ok(!isDatabaseUnavailable(coded(code)), code);
  assert.ok(!isDatabaseUnavailable(new Error('boom')));
});

forEachDialect('database unavailable', (dialect) => {
  if (dialect === 'postgres') {
    let app: FastifyInstance;
    let db: Db;
    before(async () => {
      db = connectDatabase({ dialect: 'postgres', url: `postgres://postgres@127.0.0.1:${await closedPort()}/nowhere` });
      app = await appOver(db);
    });
    after(async () => {
      await app.close();
      await db.close();
    });

    test('PostgreSQL server unreachable → 503 service_unavailable with Retry-After (read and write routes)', async () => {
      assertUnavailable(await app.inject({ method: 'GET', url: '/api/v1/organization', headers: { 'x-api-key': 'dev_key_0123456789abcdef' } }));
      assertUnavailable(await track(app, 'dev_key_0123456789abcdef', { event: 'e', profile: { email: 'a@example.com' } }));
    });
    return;
  }

  let t: TestApp;
  let locked: { app: FastifyInstance; db: Db; holder: SqliteDatabase.Database };
  before(async () => {
    t = await createTestApp('sqlite');
    const path = t.database.url.slice('sqlite:'.length);
    // A second app over the same file, without a busy timeout, while a holder keeps the write lock.
    const sqlite = new SqliteDatabase(path, { timeout: 0 });
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    const db: Db = { kysely, dialect: 'sqlite', describe: 'locked', writeConcurrency: 1, close: () => kysely.destroy() };
    const holder = new SqliteDatabase(path);
    locked = { app: await appOver(db), db, holder };
  });
  after(async () => {
    locked.holder.close();
    await locked.app.close();
    await locked.db.close();
    await t.close();
  });

  test('SQLite write lock held past the busy timeout → 503 service_unavailable; the key is not stored', async () => {
    const org = await t.newOrg();
    const key = idemKey();
    const body = { event: 'e', profile: { email: 'busy@example.com' } };
    locked.holder.exec('BEGIN IMMEDIATE');
    try {
      assertUnavailable(await track(locked.app, org.key, body, key));
    } finally {
      locked.holder.exec('ROLLBACK');
    }
    const retried = await track(locked.app, org.key, body, key);
    assert.equal(retried.statusCode, 202, retried.body);
    assert.equal(json(retried).profileId !== undefined, true);
  });
});
