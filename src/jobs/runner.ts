/**
 * The job runner: the entry point that turns queued rows into handler calls. One per process.
 *
 * - `start()` runs a poll loop: claim up to the free concurrency, run each claimed job, sleep
 *   `pollIntervalMs` (the poll cadence is the one real timer here; business timers are `run_at`
 *   rows). A full batch means a backlog, so it claims again as soon as a slot is free (after one
 *   turn of the event loop).
 * - `stop()` stops claiming, waits for in-flight handlers (up to a timeout, then aborts their
 *   `ctx.signal` and leaves them to lease expiry: work may repeat, it is not lost) and resolves.
 * - `runDueJobsOnce()` claims and runs what is due at `clock.now()` until nothing is, so tests
 *   move a FakeClock instead of sleeping. Expired leases are looked for at most once per second
 *   of that clock (and at least four times per lease), not at every claim of a backlog.
 * - Failures are caught here, once: a throwing handler is retried with backoff (`failJob`),
 *   `PermanentJobError` fails at once, a type without a handler is retried with backoff too
 *   (during a rolling deploy a newer process may know it) and ends `failed` if none ever does.
 *   Errors are logged without payloads; the loop never dies.
 * - While a handler runs, its lease is extended every `leaseMs / 3`; if the lease is lost
 *   (another worker reclaimed it) `ctx.signal` is aborted and the outcome is discarded.
 * - `schedule(type, intervalMs)` keeps one job of `type` queued for the next interval boundary.
 *   The unique key `recurring:<type>:<slot>` (slot = runAt / intervalMs) makes concurrent
 *   processes agree on a single row; the next occurrence is enqueued as soon as one starts
 *   running, so a crash mid-run cannot break the chain.
 */
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Db } from '../db/connect.js';
import type { GroupCommitter } from '../db/group-commit.js';
import type { Database } from '../db/tables.js';
import type { Clock } from '../lib/clock.js';
import type { IdGenerator } from '../lib/ids.js';
import {
  claimDueJobs,
  completeJob,
  completeJobInTransaction,
  enqueueJob,
  extendLease,
  failJob,
  JobLeaseLostError,
  type ClaimedJob,
} from './queue.js';

/** The slice of pino the runner uses; a pino Logger satisfies it. */
export interface JobLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface JobContext {
  workerId: string;
  clock: Clock;
  /** Aborted when the lease is lost or `stop()` timed out: stop work at the next safe point. */
  signal: AbortSignal;
  /**
   * Completes the job inside `trx` (the handler's own transaction), so the handler's state change
   * and the completion commit or roll back together. Call it early in the transaction (before
   * slow work where the handler can); it throws `JobLeaseLostError` when another worker holds the
   * job now, and the transaction then rolls back.
   */
  completeInTransaction(trx: Kysely<Database>): Promise<void>;
}

export type JobHandler = (job: ClaimedJob, ctx: JobContext) => Promise<void>;

/** Thrown by a handler when retrying cannot help (e.g. the referenced row is gone). */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

export interface JobRunnerOptions {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  logger: JobLogger;
  workerId?: string;
  /** Handlers running at once in this process. */
  concurrency?: number;
  /** Poll cadence when the queue is idle. */
  pollIntervalMs?: number;
  /** How long a claim is valid without a heartbeat; a crashed worker's jobs rerun after it. */
  leaseMs?: number;
  /**
   * When given, claims are units of this group committer: a claim then shares its commit (its
   * fsync on SQLite) with the handlers' transactions that go through the same committer, instead
   * of paying one of its own. A claim still resolves only after its commit.
   */
  committer?: GroupCommitter;
}

interface Recurring {
  intervalMs: number;
  maxAttempts: number;
}

const MAX_ERROR_DELAY_MS = 30_000;
/** Claims look for expired leases at most this often (and at least four times per lease). */
const LEASE_RECOVERY_MS = 1_000;

export class JobRunner {
  readonly workerId: string;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #ids: IdGenerator;
  readonly #logger: JobLogger;
  readonly #concurrency: number;
  readonly #pollIntervalMs: number;
  readonly #leaseMs: number;
  readonly #committer: GroupCommitter | null;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #recurring = new Map<string, Recurring>();
  /** In-flight executions by lease (job id + attempt), with the controller behind their `ctx.signal`. */
  readonly #inFlight = new Map<string, { jobId: string; done: Promise<void>; abort: AbortController }>();
  #loop: Promise<void> | null = null;
  #stopping = false;
  #wakeUp: (() => void) | null = null;
  #waitingForCapacity = false;
  #leasesRecoveredAt = Number.NEGATIVE_INFINITY;

  constructor(options: JobRunnerOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#ids = options.ids;
    this.#logger = options.logger;
    this.#concurrency = positiveInteger('concurrency', options.concurrency ?? 8);
    this.#pollIntervalMs = positiveInteger('pollIntervalMs', options.pollIntervalMs ?? 250);
    this.#leaseMs = positiveInteger('leaseMs', options.leaseMs ?? 60_000);
    this.#committer = options.committer ?? null;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${this.#ids().slice(-8)}`;
  }

  register(type: string, handler: JobHandler): void {
    if (this.#handlers.has(type)) throw new Error(`a handler for job type "${type}" is already registered`);
    this.#handlers.set(type, handler);
  }

  /**
   * Runs `type` every `intervalMs`, at interval boundaries (epoch-aligned). Resolves once the
   * next occurrence is queued; calling it from several processes still queues one.
   */
  async schedule(type: string, intervalMs: number, options: { maxAttempts?: number } = {}): Promise<void> {
    const recurring = { intervalMs: positiveInteger('intervalMs', intervalMs), maxAttempts: options.maxAttempts ?? 3 };
    this.#recurring.set(type, recurring);
    await this.#enqueueNextOccurrence(type, recurring);
  }

  get running(): boolean {
    return this.#loop !== null;
  }

  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    this.#logger.info(
      { workerId: this.workerId, concurrency: this.#concurrency, pollIntervalMs: this.#pollIntervalMs },
      'job runner started',
    );
    this.#loop = this.#pollLoop();
  }

  /** Stops claiming, waits for in-flight jobs up to `timeoutMs`, then resolves. */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.#stopping = true;
    this.#wakeUp?.();
    await this.#loop;
    this.#loop = null;
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<true>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      });
      const drained = Promise.all([...this.#inFlight.values()].map((e) => e.done)).then(() => false as const);
      const outcome = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      if (outcome) {
        this.#logger.warn(
          { workerId: this.workerId, jobIds: [...this.#inFlight.values()].map((e) => e.jobId), timeoutMs },
          'job runner stopped with jobs still running; their leases will expire and they will be retried',
        );
        for (const entry of this.#inFlight.values()) entry.abort.abort(new Error('job runner stopped'));
      }
    }
    this.#logger.info({ workerId: this.workerId }, 'job runner stopped');
  }

  /**
   * Claims and runs everything due at `clock.now()` (including jobs those jobs enqueue for now),
   * resolving when nothing due is left. Returns how many jobs ran. Claim errors reject.
   */
  async runDueJobsOnce(): Promise<number> {
    let ran = 0;
    for (;;) {
      const jobs = await this.#claim(this.#concurrency);
      if (jobs.length === 0) return ran;
      await Promise.all(jobs.map((job) => this.#launch(job)));
      ran += jobs.length;
    }
  }

  async #pollLoop(): Promise<void> {
    let consecutiveErrors = 0;
    while (!this.#stopping) {
      const capacity = this.#concurrency - this.#inFlight.size;
      let saturated = capacity <= 0;
      if (capacity > 0) {
        try {
          const jobs = await this.#claim(capacity);
          consecutiveErrors = 0;
          for (const job of jobs) void this.#launch(job);
          saturated = jobs.length === capacity;
        } catch (error) {
          consecutiveErrors++;
          this.#logger.error({ err: error, workerId: this.workerId }, 'claiming jobs failed');
        }
      }
      if (this.#stopping) break;
      if (saturated) {
        // A backlog: claim again as soon as a slot is free, but through the event loop first:
        // on SQLite a claim and its handlers can resolve on microtasks alone, and a backlog must
        // not starve HTTP requests or timers. The turn also lets handlers that finish together
        // free their slots together, so the next claim takes them in one statement.
        if (this.#inFlight.size < this.#concurrency) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        this.#waitingForCapacity = true;
        await this.#sleep(null);
        this.#waitingForCapacity = false;
      } else {
        const delay =
          consecutiveErrors === 0
            ? this.#pollIntervalMs
            : Math.min(this.#pollIntervalMs * 2 ** Math.min(consecutiveErrors, 16), MAX_ERROR_DELAY_MS);
        await this.#sleep(delay);
      }
    }
  }

  #claim(limit: number): Promise<ClaimedJob[]> {
    // `now` is read when the claim runs, not when it is queued behind other units. A lease takes
    // `leaseMs` to expire, so looking for expired ones more than a few times per lease buys
    // nothing; working off a backlog claims hundreds of times a second.
    const options = () => {
      const now = this.#clock.now();
      const recoverLeases = !(Math.abs(now - this.#leasesRecoveredAt) < Math.min(LEASE_RECOVERY_MS, this.#leaseMs / 4));
      if (recoverLeases) this.#leasesRecoveredAt = now;
      return { workerId: this.workerId, limit, leaseMs: this.#leaseMs, now, recoverLeases };
    };
    if (this.#committer === null) return claimDueJobs(this.#db, options());
    return this.#committer.run((trx) => claimDueJobs(this.#db, options(), trx));
  }

  /** Resolves after `ms` (or only when woken, for null), or as soon as `stop()` or a free slot wakes it. */
  #sleep(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === null ? undefined : setTimeout(() => wake(), ms);
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakeUp = null;
        resolve();
      };
      this.#wakeUp = wake;
    });
  }

  #launch(job: ClaimedJob): Promise<void> {
    // Keyed by lease, not job id: this runner may reclaim its own job after its lease expired
    // while the first execution still runs, and each must be awaited by stop().
    const lease = `${job.id}#${job.attempts}`;
    const abort = new AbortController();
    const done = this.#execute(job, abort).finally(() => {
      this.#inFlight.delete(lease);
      if (this.#waitingForCapacity) this.#wakeUp?.();
    });
    this.#inFlight.set(lease, { jobId: job.id, done, abort });
    return done;
  }

  /** Runs one claimed job to an outcome. Never rejects: this is where job errors end. */
  async #execute(job: ClaimedJob, abort: AbortController): Promise<void> {
    const log = { jobId: job.id, type: job.type, attempt: job.attempts, workerId: this.workerId };
    const recurring = this.#recurring.get(job.type);
    if (recurring) {
      try {
        await this.#enqueueNextOccurrence(job.type, recurring);
      } catch (error) {
        // The next run of this process or another will queue it; this run still goes ahead.
        this.#logger.error({ ...log, err: error }, 'queueing the next recurring job failed');
      }
    }

    let finished = false;
    let completedInTransaction = false;
    const heartbeat = setInterval(() => {
      extendLease(this.#db.kysely, job, this.#leaseMs, this.#clock.now()).then(
        (held) => {
          if (!held && !finished && !completedInTransaction) {
            this.#logger.warn(log, 'job lease lost while running; its outcome will be discarded');
            abort.abort(new JobLeaseLostError(job.id));
          }
        },
        (error: unknown) => this.#logger.warn({ ...log, err: error }, 'extending a job lease failed'),
      );
    }, Math.max(50, Math.floor(this.#leaseMs / 3)));
    heartbeat.unref();

    const ctx: JobContext = {
      workerId: this.workerId,
      clock: this.#clock,
      signal: abort.signal,
      completeInTransaction: async (trx) => {
        await completeJobInTransaction(trx, job, this.#clock.now());
        completedInTransaction = true;
      },
    };

    let failure: unknown = null;
    let threw = false;
    try {
      const handler = this.#handlers.get(job.type);
      if (!handler) throw new Error(`no handler registered for job type "${job.type}"`);
      await handler(job, ctx);
    } catch (error) {
      threw = true;
      failure = error;
    } finally {
      finished = true;
      clearInterval(heartbeat);
    }

    try {
      if (!threw) {
        // Completed in the handler's transaction: nothing left to record (and marking it
        // completed here could hide a rolled-back state change).
        if (completedInTransaction) return;
        if (!(await completeJob(this.#db.kysely, job, this.#clock.now()))) {
          this.#logger.warn(log, 'job finished after its lease was lost; another worker owns it now');
        }
        return;
      }
      if (failure instanceof JobLeaseLostError) {
        this.#logger.warn(log, 'job lease lost; another worker owns it now');
        return;
      }
      const result = await failJob(this.#db.kysely, job, failure, this.#clock.now(), {
        permanent: failure instanceof PermanentJobError,
      });
      if (result.outcome === 'retrying') {
        this.#logger.warn({ ...log, err: failure, retryAt: result.runAt }, 'job failed; will retry');
      } else if (result.outcome === 'failed') {
        this.#logger.error({ ...log, err: failure }, 'job failed permanently');
      } else {
        this.#logger.warn({ ...log, err: failure }, 'job failed after its lease was lost; another worker owns it now');
      }
    } catch (error) {
      // The job stays running until its lease expires, then runs again.
      this.#logger.error({ ...log, err: error }, 'recording a job outcome failed');
    }
  }

  async #enqueueNextOccurrence(type: string, recurring: Recurring): Promise<void> {
    const slot = Math.floor(this.#clock.now() / recurring.intervalMs) + 1;
    const runAt = slot * recurring.intervalMs;
    await enqueueJob(
      this.#db.kysely,
      { clock: this.#clock, ids: this.#ids },
      { type, payload: { scheduledFor: runAt }, runAt, uniqueKey: `recurring:${type}:${slot}`, maxAttempts: recurring.maxAttempts },
    );
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer`);
  return value;
}
