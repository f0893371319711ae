/**
 * Helpers for the job suites: a second real connection to a test database (a second worker
 * process, as far as the database can tell), a logger that keeps what it was told, and a
 * deferred promise for holding a handler mid-run.
 */
import { connectDatabase, type Db } from '../../src/db/connect.js';
import type { JobsTable } from '../../src/db/tables.js';
import type { JobLogger } from '../../src/jobs/runner.js';
import type { TestDatabase } from '../harness/database.js';

export function connectSecond(tdb: TestDatabase): Db {
  if (tdb.db.dialect === 'sqlite') {
    return connectDatabase({ dialect: 'sqlite', path: tdb.url.slice('sqlite:'.length), synchronous: 'FULL' });
  }
  return connectDatabase({ dialect: 'postgres', url: tdb.url });
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export class CapturingLogger implements JobLogger {
  readonly entries: LogEntry[] = [];
  info(obj: object, msg?: string): void {
    this.entries.push({ level: 'info', obj: { ...obj }, msg });
  }
  warn(obj: object, msg?: string): void {
    this.entries.push({ level: 'warn', obj: { ...obj }, msg });
  }
  error(obj: object, msg?: string): void {
    this.entries.push({ level: 'error', obj: { ...obj }, msg });
  }
  at(level: LogEntry['level']): LogEntry[] {
    return this.entries.filter((e) => e.level === level);
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves with 'pending' if `promise` has not settled within `ms` of real time. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls (real time) until `check` is true; for waiting on the background poll loop. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function jobRow(db: Db, id: string): Promise<JobsTable> {
  return db.kysely.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}
