/**
 * Group commit (conventions.md §10): concurrent units of work are executed in one database
 * transaction and each caller is answered only after that transaction committed. One fsync then
 * covers a whole batch instead of one request.
 *
 * A unit of work receives the batch transaction and must keep all its effects inside it; expected
 * failures are returned as values (they write nothing), so a throw means something unexpected
 * (a unique-index race with another process, a database error, a bug). When a batch throws, it
 * is rolled back as a whole and each of its units is retried alone in its own transaction, so one
 * bad unit cannot fail its neighbours and a unit that lost a race re-reads the winner's row.
 */
import type { Transaction } from 'kysely';
import type { Db } from './connect.js';
import type { Database } from './tables.js';

export type UnitOfWork<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  work: UnitOfWork<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface GroupCommitOptions {
  /** Largest number of units in one transaction. */
  maxBatch?: number;
  /** Transactions in flight at once (1 for SQLite's single writer). */
  lanes?: number;
}

export class GroupCommitter {
  readonly #db: Db;
  readonly #maxBatch: number;
  readonly #lanes: number;
  #queue: Pending[] = [];
  #active = 0;
  #scheduled = false;
  #idle: (() => void)[] = [];

  constructor(db: Db, options: GroupCommitOptions = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 256;
    this.#lanes = options.lanes ?? db.writeConcurrency;
  }

  run<T>(work: UnitOfWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Resolves once every queued unit has been committed or rejected (graceful shutdown). */
  drain(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Batches start on the next turn of the event loop, never synchronously: better-sqlite3 runs a
   * whole transaction without yielding, so starting at once would commit every request alone
   * before the next socket is even read. One `setImmediate` lets every request that arrived in the
   * same I/O phase join the batch.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#active < this.#lanes && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#active++;
      void this.#execute(batch).finally(() => {
        this.#active--;
        if (this.#queue.length > 0) this.#schedule();
        else if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
    }
  }

  async #execute(batch: Pending[]): Promise<void> {
    let results: unknown[];
    try {
      results = await this.#db.kysely.transaction().execute(async (trx) => {
        const out: unknown[] = [];
        for (const item of batch) out.push(await item.work(trx));
        return out;
      });
    } catch (error) {
      if (batch.length === 1 && !isConflict(error)) {
        batch[0]!.reject(error);
        return;
      }
      // Isolate the failure: each unit gets a transaction of its own.
      for (const item of batch) await this.#runAlone(item);
      return;
    }
    batch.forEach((item, i) => item.resolve(results[i]));
  }

  /**
   * One unit in its own transaction. A unit that lost a uniqueness race against a concurrent
   * transaction (or was picked as a deadlock victim) is run again: by then the winner has
   * committed and the unit reads its row instead of inserting a duplicate.
   */
  async #runAlone(item: Pending): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        item.resolve(await this.#db.kysely.transaction().execute((trx) => item.work(trx)));
        return;
      } catch (error) {
        if (attempt >= MAX_CONFLICT_RETRIES || !isConflict(error)) {
          item.reject(error);
          return;
        }
      }
    }
  }
}

const MAX_CONFLICT_RETRIES = 4;

/** Unique violations, serialization failures and deadlocks (PostgreSQL), constraint and busy errors (SQLite). */
export function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code === '23505' || code === '40001' || code === '40P01' || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY') || code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_BUSY');
}
