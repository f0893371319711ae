/**
 * Test databases: every test file gets its own SQLite file or its own PostgreSQL database, and
 * `forEachDialect` runs a suite once per dialect (SEGMENTFLOW_TEST_DIALECTS, default both).
 * Nothing here mocks storage: the suites talk to real SQLite and a real PostgreSQL server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe } from 'node:test';
import pg from 'pg';
import { connectDatabase, type Db, type Dialect } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';

export interface TestDatabase {
  db: Db;
  /** For SQLite, the folder holding the database file, WAL and shm (for on-disk scans). */
  sqliteDir: string | null;
  /** A URL another process (e.g. the CLI) can use to reach the same database. */
  url: string;
  destroy(): Promise<void>;
}

export function testDialects(): Dialect[] {
  const raw = process.env.SEGMENTFLOW_TEST_DIALECTS ?? 'sqlite,postgres';
  return raw.split(',').map((d) => d.trim()).filter((d): d is Dialect => d === 'sqlite' || d === 'postgres');
}

function adminUrl(): string {
  return process.env.SEGMENTFLOW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export async function createTestDatabase(dialect: Dialect, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const migrate = options.migrate ?? true;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'segmentflow-test-'));
    const path = join(dir, 'segmentflow.db');
    const db = connectDatabase({ dialect: 'sqlite', path, synchronous: 'FULL' });
    if (migrate) await migrateToLatest(db);
    return {
      db,
      sqliteDir: dir,
      url: `sqlite:${path}`,
      async destroy() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `sf_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const db = connectDatabase({ dialect: 'postgres', url: url.toString() });
  if (migrate) await migrateToLatest(db);
  return {
    db,
    sqliteDir: null,
    url: url.toString(),
    async destroy() {
      await db.close();
      const drop = new pg.Client({ connectionString: adminUrl() });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await drop.end();
    },
  };
}

/** Declares `suite` once per configured dialect, as `describe('<name> [sqlite]')` etc. */
export function forEachDialect(name: string, suite: (dialect: Dialect) => void): void {
  for (const dialect of testDialects()) {
    describe(`${name} [${dialect}]`, () => suite(dialect));
  }
}
