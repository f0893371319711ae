/**
 * Opens the one Kysely instance over SQLite (better-sqlite3, WAL) or PostgreSQL (pg pool).
 * Everything above this file is dialect-free; the only dialect facts that leak upward are the
 * `dialect` tag (for `FOR UPDATE SKIP LOCKED`, which SQLite neither has nor needs) and the
 * group-commit concurrency the database can use.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase as KyselySqliteDatabase } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { namingClient } from './pg-named.js';
import type { Database } from './tables.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** Human description for start-up lines, without credentials. */
  describe: string;
  /** How many write transactions may usefully run at once (SQLite has one writer). */
  writeConcurrency: number;
  close(): Promise<void>;
}

const INT8_OID = 20;
/** Grouped statements come in one text per row count (up to a few hundred per statement). */
const STATEMENT_CACHE_SIZE = 2000;

/**
 * Kysely prepares every query anew; preparing is a large share of a short SQLite statement's cost.
 * Statements are reusable (better-sqlite3 runs them synchronously), so the SQL text keys a
 * bounded cache of prepared statements, least recently used out first.
 */
function withStatementCache(sqlite: SqliteDatabase.Database): KyselySqliteDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    prepare(source: string) {
      let statement = cache.get(source);
      if (statement === undefined) {
        statement = sqlite.prepare(source);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      } else {
        cache.delete(source);
      }
      cache.set(source, statement);
      return statement;
    },
    close: () => sqlite.close(),
  };
}

export function connectDatabase(config: DatabaseConfig): Db {
  if (config.dialect === 'sqlite') {
    const path = resolve(config.path);
    if (config.path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const sqlite = new SqliteDatabase(config.path === ':memory:' ? ':memory:' : path, { timeout: 10_000 });
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${config.synchronous}`);
    // Redacted values must not linger in free pages of the file or the WAL.
    sqlite.pragma('secure_delete = ON');
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    return {
      kysely,
      dialect: 'sqlite',
      describe: `sqlite:${config.path}`,
      writeConcurrency: 1,
      close: () => kysely.destroy(),
    };
  }
  const pool = new pg.Pool({
    // Runs PreparedQuery texts as named statements (src/db/pg-named.ts).
    Client: namingClient(),
    connectionString: config.url,
    max: 16,
    // Times are stored as BIGINT epoch milliseconds; they fit a JS number exactly.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const url = new URL(config.url);
  return {
    kysely,
    dialect: 'postgres',
    describe: `postgres://${url.host}${url.pathname}`,
    // Three lanes: with concurrent events.track requests sharing statements (ADR 0001 addendum),
    // fewer, larger groups beat more, smaller ones — bench:events 700–848 req/s with 3 lanes vs
    // 528–681 with 6 (alternating runs); bench:send was the same within noise.
    writeConcurrency: 3,
    close: () => kysely.destroy(),
  };
}
