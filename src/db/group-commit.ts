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
 *
 * A unit may also be an item of a `BatchKind`: the items of one kind that land in the same batch
 * are handed to `many` together (one statement per step for the whole group instead of one per
 * item), and `one` runs a single item when the batch is retried unit by unit.
 */
import type { Transaction } from 'kysely';
import type { Db } from './connect.js';
import { isNamedStatementLost } from './pg-named.js';
import type { Database } from './tables.js';

export type UnitOfWork<T> = (trx: Transaction<Database>) => Promise<T>;

/**
 * Items that can be executed together. `many(trx, items)` must have exactly the effects and
 * results of running `one` on each item in order inside `trx` (it may simply do that when a
 * group is not one it can handle set-wise).
 */
export interface BatchKind<I, O> {
  one(trx: Transaction<Database>, item: I): Promise<O>;
  many(trx: Transaction<Database>, items: I[]): Promise<O[]>;
}

interface Pending {
  work: UnitOfWork<unknown>;
  batched?: { kind: BatchKind<unknown, unknown>; item: unknown };
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

  /** One item of `kind`; items of the same kind that share a transaction go to `kind.many` together. */
  runBatched<I, O>(kind: BatchKind<I, O>, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({
        work: (trx) => kind.one(trx, item),
        batched: { kind: kind as BatchKind<unknown, unknown>, item },
        resolve: resolve as (v: unknown) => void,
        reject,
      });
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
      results = await this.#db.kysely.transaction().execute((trx) => runUnits(trx, batch));
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

/** The units of a batch in order; the items of a kind run together, where the first of them stands. */
async function runUnits(trx: Transaction<Database>, batch: Pending[]): Promise<unknown[]> {
  const out = new Array<unknown>(batch.length);
  const groups = new Map<BatchKind<unknown, unknown>, number[]>();
  batch.forEach((unit, i) => {
    if (unit.batched === undefined) return;
    const group = groups.get(unit.batched.kind);
    if (group) group.push(i);
    else groups.set(unit.batched.kind, [i]);
  });
  for (let i = 0; i < batch.length; i++) {
    const unit = batch[i]!;
    if (unit.batched === undefined) {
      out[i] = await unit.work(trx);
      continue;
    }
    const group = groups.get(unit.batched.kind)!;
    if (group[0] !== i) continue;
    const results = await runKind(trx, unit.batched.kind, group.map((j) => batch[j]!.batched!.item));
    group.forEach((j, k) => (out[j] = results[k]));
  }
  return out;
}

/** `kind` on `items` inside `trx`: `one` for a single item, else `many`, which must answer every item. */
export async function runKind<I, O>(trx: Transaction<Database>, kind: BatchKind<I, O>, items: I[]): Promise<O[]> {
  const results = items.length === 1 ? [await kind.one(trx, items[0]!)] : await kind.many(trx, items);
  if (results.length !== items.length) throw new Error(`a BatchKind returned ${results.length} results for ${items.length} items`);
  return results;
}

/**
 * Unique violations, serialization failures and deadlocks (PostgreSQL), constraint and busy
 * errors (SQLite), and a named statement the pool could not use (./pg-named.ts: by the retry it
 * has stopped naming or moved to fresh names).
 */
export function isConflict(error: unknown): boolean {
  if (isNamedStatementLost(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code === '23505' || code === '40001' || code === '40P01' || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY') || code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_BUSY');
}
