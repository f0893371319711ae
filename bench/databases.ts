/**
 * Fresh databases for one benchmark run, and the post-run check that every answered 202 is a
 * committed UserEvent. SQLite: a new file (the server keeps its default synchronous=FULL).
 * PostgreSQL: a new database on a loopback server, dropped afterwards. The counts are read
 * directly with the drivers, after the server has exited, so nothing is still in flight.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';

export interface Counts {
  userEvents: number;
  profiles: number;
  idempotencyRecords: number;
  /** Of the keys given, how many have an idempotency record (i.e. were committed). */
  committedOf: number;
  /** Server-side statistics worth printing (PostgreSQL: transactions, rollbacks, deadlocks). */
  notes: string[];
}

export interface BenchDatabase {
  label: string;
  /** SEGMENTFLOW_DATABASE_URL for the server. */
  url: string;
  counts(keys: ReadonlySet<string>): Promise<Counts>;
  dispose(): Promise<void>;
}

const KEY_CHUNK = 500;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function createSqliteDatabase(parentDir: string, synchronous: 'FULL' | 'NORMAL'): BenchDatabase {
  mkdirSync(parentDir, { recursive: true });
  const dir = mkdtempSync(join(parentDir, 'bench-'));
  const path = join(dir, 'bench.db');
  return {
    label: `sqlite (${path}, synchronous=${synchronous})`,
    url: `sqlite:${path}`,
    async counts(keys) {
      const db = new SqliteDatabase(path, { readonly: true });
      try {
        const count = (sql: string, ...params: string[]) => (db.prepare(sql).get(...params) as { n: number }).n;
        let committedOf = 0;
        for (const chunk of chunks([...keys], KEY_CHUNK)) {
          committedOf += count(`SELECT COUNT(*) AS n FROM idempotency_records WHERE key IN (${chunk.map(() => '?').join(',')})`, ...chunk);
        }
        return {
          userEvents: count('SELECT COUNT(*) AS n FROM user_events'),
          profiles: count('SELECT COUNT(*) AS n FROM profiles'),
          idempotencyRecords: count('SELECT COUNT(*) AS n FROM idempotency_records'),
          committedOf,
          notes: [],
        };
      } finally {
        db.close();
      }
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Creates `segmentflow_bench_<random>` on the server of `adminUrl`. Returns a reason string when
 * the server is not reachable (the caller skips PostgreSQL then).
 */
export async function createPostgresDatabase(adminUrl: string): Promise<BenchDatabase | string> {
  const url = new URL(adminUrl);
  if (!LOOPBACK.has(url.hostname)) return `refusing non-loopback PostgreSQL host ${url.hostname}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    return `PostgreSQL not reachable at ${url.host}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const name = `segmentflow_bench_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    await admin.end();
    return `cannot create a database on ${url.host}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${name}`;
  return {
    label: `postgres (${url.host}/${name})`,
    url: dbUrl.toString(),
    async counts(keys) {
      const client = new pg.Client({ connectionString: dbUrl.toString(), connectionTimeoutMillis: 3000 });
      await client.connect();
      try {
        const count = async (sql: string, params: unknown[] = []) => Number((await client.query<{ n: string }>(sql, params)).rows[0]!.n);
        // Statistics are flushed when backends exit; the server has exited by now.
        const stats = (
          await client.query<{ xact_commit: string; xact_rollback: string; deadlocks: string }>(
            'SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = current_database()',
          )
        ).rows[0];
        let committedOf = 0;
        for (const chunk of chunks([...keys], KEY_CHUNK)) {
          committedOf += await count('SELECT COUNT(*) AS n FROM idempotency_records WHERE key = ANY($1::text[])', [chunk]);
        }
        return {
          userEvents: await count('SELECT COUNT(*) AS n FROM user_events'),
          profiles: await count('SELECT COUNT(*) AS n FROM profiles'),
          idempotencyRecords: await count('SELECT COUNT(*) AS n FROM idempotency_records'),
          committedOf,
          notes:
            stats === undefined
              ? []
              : [`pg_stat_database: ${stats.xact_commit} transactions committed, ${stats.xact_rollback} rolled back, ${stats.deadlocks} deadlocks (all of this database's sessions, migrations included)`],
        };
      } finally {
        await client.end();
      }
    },
    async dispose() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}
