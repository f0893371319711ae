/**
 * Idempotency (conventions.md §8), one mechanism for every route that creates something.
 *
 * - The key is read and checked before the body is validated (400 `idempotency_key_*`, not stored).
 * - The record and the route's work commit in the same transaction (through the group
 *   committer): a rolled-back request leaves no record. Every outcome a unit of work *returns* is
 *   stored (2xx, validation failures, business 404/409/422); anything *thrown* (5xx) is not, so a
 *   retry executes again.
 * - A second request with the same key while the first is executing in this process gets 409
 *   `idempotency_in_progress` at once. Across processes, the primary key on
 *   (organization_id, key) serialises them: the loser's transaction fails, is retried alone, and
 *   then finds the winner's record and replays it.
 * - Replays send the stored status and the stored body byte for byte, with `Idempotent-Replayed: true`.
 */
import { createHash } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { placeholders, Statement, StatementFamily, valueRows } from '../db/statement.js';
import type { Database, IdempotencyRecordsTable } from '../db/tables.js';
import { runKind, type BatchKind, type GroupCommitter } from '../db/group-commit.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { compareStrings } from '../lib/compare.js';
import type { Clock } from '../lib/clock.js';
import { HttpError } from './errors.js';

export interface Outcome {
  status: number;
  body: unknown;
  /** The Profile this outcome resolved to, so erasing the Profile can delete the record. */
  profileId?: string | null;
  /** What a replay answers when it must differ from the first answer (a secret shown only once). */
  replayBody?: unknown;
}

export type IdempotencyMode = 'required' | 'optional';

const PRINTABLE = /^[\x20-\x7e]{1,255}$/;

/** 1–255 printable ASCII characters (conventions.md §8.1), as a header or a batch item's `idempotencyKey`. */
export function isValidIdempotencyKey(key: string): boolean {
  return PRINTABLE.test(key);
}

/** The key from the `Idempotency-Key` header, undefined when absent. */
export function readIdempotencyKey(request: FastifyRequest, mode: IdempotencyMode): string | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) {
    if (mode === 'required') throw new HttpError('idempotency_key_required', 'This route requires an Idempotency-Key header.');
    return undefined;
  }
  // Node joins repeated headers with ", " or keeps an array; either way the header was sent twice.
  const repeated = Array.isArray(raw) || request.raw.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'idempotency-key').length > 1;
  let key = Array.isArray(raw) ? '' : raw;
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1);
  if (repeated || !PRINTABLE.test(key)) {
    throw new HttpError('idempotency_key_invalid', 'Idempotency-Key must be sent once, with 1–255 printable ASCII characters.');
  }
  return key;
}

/** SHA-256 of method, concrete path, sorted query and canonical body (§8.3). */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  params.sort();
  return createHash('sha256').update(`${method} ${path}?${params.toString()}\n${canonicalJson(body ?? null)}`).digest('hex');
}

export interface IdempotencyDeps {
  committer: GroupCommitter;
  clock: Clock;
  ttlMs: number;
}

// Both run on every guarded request: fixed statements (src/db/statement.ts).
const selectRecord = new Statement<Pick<IdempotencyRecordsTable, 'fingerprint' | 'status_code' | 'response_body' | 'expires_at'>>(
  'select fingerprint, status_code, response_body, expires_at from idempotency_records where organization_id = ? and key = ?',
);
const insertRecord = new Statement(
  'insert into idempotency_records (organization_id, key, fingerprint, status_code, response_body, profile_id, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)',
);

// The same two, for a group of keys of one organization (batched routes).
const selectRecords = new StatementFamily<Pick<IdempotencyRecordsTable, 'key' | 'fingerprint' | 'status_code' | 'response_body' | 'expires_at'>>(
  (count) => `select key, fingerprint, status_code, response_body, expires_at from idempotency_records where organization_id = ? and key in (${placeholders(count)})`,
);
const insertRecords = new StatementFamily(
  (count) =>
    `insert into idempotency_records (organization_id, key, fingerprint, status_code, response_body, profile_id, created_at, expires_at) values ${valueRows(count, 8)}`,
);

type Execution = { kind: 'fresh' | 'replay'; status: number; payload: string } | { kind: 'reuse' };

interface Guarded<I> {
  organizationId: string;
  key: string;
  fingerprint: string;
  item: I;
}

export class IdempotencyGate {
  readonly #inFlight = new Set<string>();
  /** The guarded form of each batch kind routes hand in, made once per kind. */
  readonly #guardedKinds = new WeakMap<BatchKind<never, Outcome>, BatchKind<Guarded<unknown>, Execution>>();

  constructor(private readonly deps: IdempotencyDeps) {}

  /**
   * Runs `work` inside a group-committed transaction, guarded by the key when there is one, and
   * sends the outcome. `work` must keep every effect inside `trx`.
   */
  async respond(
    reply: FastifyReply,
    guard: { organizationId: string; key: string | undefined; fingerprint: () => string },
    work: (trx: Transaction<Database>) => Promise<Outcome>,
  ): Promise<FastifyReply> {
    const result = await this.execute(guard, work);
    return send(reply, result.status, result.payload, result.replayed);
  }

  /**
   * The outcome without sending it (batch items use it): the stored or fresh status and body.
   * Throws the idempotency conflicts as HttpErrors.
   */
  execute(
    guard: { organizationId: string; key: string | undefined; fingerprint: () => string },
    work: (trx: Transaction<Database>) => Promise<Outcome>,
  ): Promise<{ status: number; payload: string; replayed: boolean }> {
    return this.#guarded(
      guard,
      () => this.deps.committer.run(work),
      (organizationId, key, fingerprint) => this.deps.committer.run((trx) => this.#execute(trx, organizationId, key, fingerprint, work)),
    );
  }

  /**
   * `respond` for an item of a batch kind: concurrent requests of the kind share one group of
   * statements (their keys are read together, their records written together).
   */
  async respondBatched<I>(
    reply: FastifyReply,
    guard: { organizationId: string; key: string | undefined; fingerprint: () => string },
    kind: BatchKind<I, Outcome>,
    item: I,
  ): Promise<FastifyReply> {
    const result = await this.#guarded(
      guard,
      () => this.deps.committer.runBatched(kind, item),
      (organizationId, key, fingerprint) => this.deps.committer.runBatched(this.#guardedKind(kind), { organizationId, key, fingerprint, item }),
    );
    return send(reply, result.status, result.payload, result.replayed);
  }

  async #guarded(
    guard: { organizationId: string; key: string | undefined; fingerprint: () => string },
    unguarded: () => Promise<Outcome>,
    run: (organizationId: string, key: string, fingerprint: string) => Promise<Execution>,
  ): Promise<{ status: number; payload: string; replayed: boolean }> {
    const { organizationId, key } = guard;
    if (key === undefined) {
      const outcome = await unguarded();
      return { status: outcome.status, payload: JSON.stringify(outcome.body), replayed: false };
    }
    const slot = `${organizationId}\n${key}`;
    if (this.#inFlight.has(slot)) throw inProgress();
    this.#inFlight.add(slot);
    try {
      const result = await run(organizationId, key, guard.fingerprint());
      if (result.kind === 'reuse') {
        throw new HttpError('idempotency_key_reuse', 'This Idempotency-Key was already used with a different request.');
      }
      return { status: result.status, payload: result.payload, replayed: result.kind === 'replay' };
    } finally {
      this.#inFlight.delete(slot);
    }
  }

  async #execute(
    trx: Transaction<Database>,
    organizationId: string,
    key: string,
    fingerprint: string,
    work: (trx: Transaction<Database>) => Promise<Outcome>,
  ): Promise<Execution> {
    const now = this.deps.clock.now();
    const existing = await selectRecord.first(trx, [organizationId, key]);
    if (existing && existing.expires_at > now) {
      if (existing.fingerprint !== fingerprint) return { kind: 'reuse' };
      return { kind: 'replay', status: existing.status_code, payload: existing.response_body };
    }
    if (existing) {
      await trx.deleteFrom('idempotency_records').where('organization_id', '=', organizationId).where('key', '=', key).execute();
    }
    const outcome = await work(trx);
    const payload = JSON.stringify(outcome.body);
    await insertRecord.all(trx, this.#recordValues(organizationId, key, fingerprint, outcome, payload, now));
    return { kind: 'fresh', status: outcome.status, payload };
  }

  #recordValues(organizationId: string, key: string, fingerprint: string, outcome: Outcome, payload: string, now: number): unknown[] {
    const stored = outcome.replayBody === undefined ? payload : JSON.stringify(outcome.replayBody);
    return [organizationId, key, fingerprint, outcome.status, stored, outcome.profileId ?? null, now, now + this.deps.ttlMs];
  }

  #guardedKind<I>(kind: BatchKind<I, Outcome>): BatchKind<Guarded<I>, Execution> {
    const known = this.#guardedKinds.get(kind as BatchKind<never, Outcome>);
    if (known) return known as BatchKind<Guarded<I>, Execution>;
    const guarded: BatchKind<Guarded<I>, Execution> = {
      one: (trx, g) => this.#executeOne(trx, kind, g),
      many: (trx, items) => this.#executeMany(trx, kind, items),
    };
    this.#guardedKinds.set(kind as BatchKind<never, Outcome>, guarded as BatchKind<Guarded<unknown>, Execution>);
    return guarded;
  }

  #executeOne<I>(trx: Transaction<Database>, kind: BatchKind<I, Outcome>, g: Guarded<I>): Promise<Execution> {
    return this.#execute(trx, g.organizationId, g.key, g.fingerprint, (t) => kind.one(t, g.item));
  }

  /**
   * `#execute` for a group at once: the keys are read per organization in one statement, fresh
   * items run through `kind.many`, and their records are inserted in one statement. Keys are
   * distinct within a group (the in-flight guard). An expired record still present (a purge not
   * yet run) sends the group the one-by-one way, which deletes it first.
   */
  async #executeMany<I>(trx: Transaction<Database>, kind: BatchKind<I, Outcome>, items: Guarded<I>[]): Promise<Execution[]> {
    const now = this.deps.clock.now();
    const stored = new Map<string, { fingerprint: string; status_code: number; response_body: string; expires_at: number }>();
    for (const [organizationId, keys] of keysByOrganization(items)) {
      for (const row of await selectRecords.of(keys.length).all(trx, [organizationId, ...keys])) stored.set(`${organizationId}\n${row.key}`, row);
    }
    if ([...stored.values()].some((row) => row.expires_at <= now)) {
      const out: Execution[] = [];
      for (const g of items) out.push(await this.#executeOne(trx, kind, g));
      return out;
    }
    const results = new Array<Execution>(items.length);
    const fresh: number[] = [];
    items.forEach((g, i) => {
      const existing = stored.get(`${g.organizationId}\n${g.key}`);
      if (existing === undefined) fresh.push(i);
      else if (existing.fingerprint !== g.fingerprint) results[i] = { kind: 'reuse' };
      else results[i] = { kind: 'replay', status: existing.status_code, payload: existing.response_body };
    });
    if (fresh.length === 0) return results;
    const freshItems = fresh.map((i) => items[i]!);
    const outcomes = await runKind(trx, kind, freshItems.map((g) => g.item));
    const records = freshItems.map((g, k) => {
      const outcome = outcomes[k]!;
      const payload = JSON.stringify(outcome.body);
      results[fresh[k]!] = { kind: 'fresh', status: outcome.status, payload };
      return { g, values: this.#recordValues(g.organizationId, g.key, g.fingerprint, outcome, payload, now) };
    });
    // In key order, so two processes inserting overlapping keys wait on each other rather than deadlock.
    records.sort((a, b) => compareGuards(a.g, b.g));
    await insertRecords.allRows(trx, records.map((r) => r.values));
    return results;
  }
}

function compareGuards(a: Guarded<unknown>, b: Guarded<unknown>): number {
  return compareStrings(a.organizationId, b.organizationId) || compareStrings(a.key, b.key);
}

function keysByOrganization(items: Guarded<unknown>[]): Map<string, string[]> {
  const byOrganization = new Map<string, string[]>();
  for (const g of items) {
    const keys = byOrganization.get(g.organizationId);
    if (keys) keys.push(g.key);
    else byOrganization.set(g.organizationId, [g.key]);
  }
  return byOrganization;
}

function inProgress(): HttpError {
  return new HttpError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', undefined, {
    'retry-after': '1',
  });
}

function send(reply: FastifyReply, status: number, payload: string, replayed: boolean): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(status).type('application/json; charset=utf-8').send(payload);
}

/** Deletes records past their retention window (the periodic `idempotency.purge` job). */
export async function purgeExpiredIdempotencyRecords(trx: Transaction<Database> | import('kysely').Kysely<Database>, now: number): Promise<number> {
  const result = await trx.deleteFrom('idempotency_records').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
