/**
 * Part (b) of bench/journeys.ts, in process on fresh SQLite files with the real worker
 * (`createWorker`: its JobRunner, step handler, delivery handler and the capture transport).
 *
 * Burst: N runs whose delay ends at the same instant T. The clock stands at T, then moves with real
 * time from there (BurstClock), and the runner is started as `serve` starts it; the figure is the
 * wall time until the transport has accepted N messages — each timer completing its
 * delay, creating the EmailSend in the same transaction, and the delivery job rendering and
 * handing it to the capture transport. Bounded by a time limit; if it hits it, the measured rate
 * and the extrapolated time are reported instead.
 *
 * Lateness: timers spread evenly over a window of real time, the real clock, a started runner.
 * Lateness of a timer = when its delay step completed (`journey_run_steps.completed_at`, written
 * with the clock in the step's transaction) − its due instant.
 */
import { createCaptureTransport } from '../src/mail/capture-transport.js';
import type { MailTransport } from '../src/mail/transport.js';
import { countingTransport } from './send-pipeline.js';
import { FakeClock, systemClock, type Clock } from '../src/lib/clock.js';
import type { LogLevel } from '../src/config.js';
import { createWorker } from '../src/worker.js';
import { disposeOnInterrupt } from './children.js';
import { createBenchDb, createDelayedSendJourney, DELAY_STEP, insertWaitingRuns, type BenchDb } from './journeys-setup.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const HOUR_MS = 3600_000;

async function withBenchDb<T>(tmpDir: string, options: Parameters<typeof createBenchDb>[1], fn: (bench: BenchDb) => Promise<T>): Promise<T> {
  const bench = await createBenchDb(tmpDir, options);
  const forget = disposeOnInterrupt(() => bench.dispose());
  try {
    return await fn(bench);
  } finally {
    forget();
    await bench.dispose();
  }
}

async function statusCounts(bench: BenchDb, table: 'email_sends' | 'journey_runs'): Promise<string> {
  const rows = await bench.db.kysely
    .selectFrom(table)
    .select((eb) => ['status', eb.fn.countAll<number | string>().as('n')])
    .where('organization_id', '=', bench.organizationId)
    .groupBy('status')
    .execute();
  return rows.map((r) => `${r.status} ${Number(r.n)}`).join(', ') || 'none';
}

export interface BurstOptions {
  runs: number;
  /** Diagnosis only: NORMAL is not durable, so not what the target is about. */
  synchronous: 'FULL' | 'NORMAL';
  tmpDir: string;
  logLevel: LogLevel;
  concurrency: number;
  timeLimitMs: number;
  log: (line: string) => void;
}

export interface BurstResult {
  runs: number;
  setupSeconds: number;
  /** Wall time until every run's email was handed to the transport (null: time limit hit). */
  seconds: number | null;
  handedOff: number;
  elapsedSeconds: number;
  /** Hand-offs per second over the whole measurement, and over its second half (steady rate). */
  rate: number;
  steadyRate: number;
  /** Delay steps completed, and when the last one did (null unless all did). */
  stepsDone: number;
  stepsDoneSeconds: number | null;
  extrapolatedSeconds: number;
  emailSends: string;
  runStatuses: string;
  progress: { seconds: number; handoffs: number }[];
}

/**
 * The burst's clock: stands at the due instant T until the runner starts, then moves with real
 * time from T (every timer is due at once; timestamps written by the product read as "seconds
 * since the burst began"). Why not a frozen FakeClock plus a watching timer: on SQLite every query
 * runs synchronously inside promise callbacks, and while a backlog of jobs is worked off the
 * runner yields to the event loop only between claims, so a watching timer fires late and
 * irregularly. The clock, which the runner asks at every claim, is where progress is sampled and
 * where the time limit acts: past it, `now()` returns T − 1 ms, nothing is due any more, the runner
 * sleeps and the benchmark gets the event loop back.
 */
class BurstClock implements Clock {
  readonly due: number;
  #startedAt: number | null = null;
  #deadline = Number.POSITIVE_INFINITY;
  #lastSample = 0;
  constructor(
    due: number,
    private readonly onSample: (elapsedMs: number) => void,
  ) {
    this.due = due;
  }
  start(limitMs: number): void {
    this.#startedAt = performance.now();
    this.#deadline = this.#startedAt + limitMs;
  }
  get expired(): boolean {
    return performance.now() > this.#deadline;
  }
  now(): number {
    if (this.#startedAt === null) return this.due;
    const wall = performance.now();
    if (wall > this.#deadline) return this.due - 1;
    if (wall - this.#lastSample >= 1000) {
      this.#lastSample = wall;
      this.onSample(wall - this.#startedAt);
    }
    return this.due + Math.floor(wall - this.#startedAt);
  }
}

export async function runBurst(options: BurstOptions): Promise<BurstResult> {
  const setupClock = new FakeClock('2026-06-01T09:00:00.000Z');
  const progress: { seconds: number; handoffs: number }[] = [];
  let transport: (MailTransport & { handoffs(): number }) | null = null;
  let lastReport = 0;
  const clock = new BurstClock(setupClock.now() + HOUR_MS, (elapsedMs) => {
    const handoffs = transport?.handoffs() ?? 0;
    progress.push({ seconds: elapsedMs / 1000, handoffs });
    if (elapsedMs - lastReport >= 10_000) {
      lastReport = elapsedMs;
      options.log(`  … ${(elapsedMs / 1000).toFixed(0)} s: ${handoffs.toLocaleString('en-US')} handed off`);
    }
  });
  return withBenchDb(options.tmpDir, { clock: setupClock, logLevel: options.logLevel, workerConcurrency: options.concurrency, synchronous: options.synchronous }, async (bench) => {
    const setupStart = performance.now();
    const journey = await createDelayedSendJourney(bench);
    await insertWaitingRuns(bench, journey, options.runs, () => clock.due, setupClock.now());
    const setupSeconds = (performance.now() - setupStart) / 1000;
    options.log(`  ${options.runs.toLocaleString('en-US')} waiting runs inserted in ${setupSeconds.toFixed(1)} s; clock moved to their due instant`);

    // The worker gets the burst clock; the deps object is shared, so swap the clock it reads.
    const deps = { ...bench.deps, clock };
    const counting = countingTransport(createCaptureTransport(bench.db, clock, bench.deps.committer));
    transport = counting;
    const worker = createWorker(deps, { transport: counting });
    const started = performance.now();
    clock.start(options.timeLimitMs);
    worker.runner.start();
    try {
      while (counting.handoffs() < options.runs && !clock.expired) await sleep(100);
    } finally {
      await worker.stop({ timeoutMs: 10_000 });
    }
    const elapsedSeconds = (performance.now() - started) / 1000;
    const handedOff = counting.handoffs();
    const done = handedOff >= options.runs;
    progress.push({ seconds: elapsedSeconds, handoffs: handedOff });
    const half = progress.find((p) => p.seconds >= elapsedSeconds / 2) ?? { seconds: 0, handoffs: 0 };
    const rate = handedOff / elapsedSeconds;
    const steadyRate = elapsedSeconds - half.seconds > 0 ? (handedOff - half.handoffs) / (elapsedSeconds - half.seconds) : rate;
    // Step rows are written with the burst clock: completed_at − T is the wall time of completion.
    const steps = await bench.db.kysely
      .selectFrom('journey_run_steps')
      .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('completed_at').as('last')])
      .where('step_id', '=', DELAY_STEP)
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    const stepsDone = Number(steps.n);
    return {
      runs: options.runs,
      setupSeconds,
      seconds: done ? elapsedSeconds : null,
      handedOff,
      elapsedSeconds,
      rate,
      steadyRate,
      stepsDone,
      stepsDoneSeconds: stepsDone === options.runs && steps.last !== null ? (Number(steps.last) - clock.due) / 1000 : null,
      // Not done: linear in job executions (one step job and one delivery job per run). Step jobs
      // all come first (run_at T precedes every delivery job's run_at), so hand-offs alone say little.
      extrapolatedSeconds: done ? elapsedSeconds : (elapsedSeconds * 2 * options.runs) / Math.max(stepsDone + handedOff, 1),
      emailSends: await statusCounts(bench, 'email_sends'),
      runStatuses: await statusCounts(bench, 'journey_runs'),
      progress,
    };
  });
}

export interface LatenessOptions {
  timers: number;
  synchronous: 'FULL' | 'NORMAL';
  windowSeconds: number;
  /** Gap between setup and the first due instant. */
  leadSeconds: number;
  tmpDir: string;
  logLevel: LogLevel;
  concurrency: number;
  log: (line: string) => void;
}

export interface LatenessResult {
  timers: number;
  measured: number;
  p50: number;
  p99: number;
  max: number;
  handedOff: number;
  emailSends: string;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLateness(options: LatenessOptions): Promise<LatenessResult> {
  return withBenchDb(options.tmpDir, { clock: systemClock, logLevel: options.logLevel, workerConcurrency: options.concurrency, synchronous: options.synchronous }, async (bench) => {
    const journey = await createDelayedSendJourney(bench);
    const setupStart = Date.now();
    // Due instants are decided before inserting; the lead time covers the insert.
    const firstDue = setupStart + options.leadSeconds * 1000;
    const spacing = (options.windowSeconds * 1000) / options.timers;
    await insertWaitingRuns(bench, journey, options.timers, (i) => Math.round(firstDue + i * spacing), setupStart - HOUR_MS);
    const lead = firstDue - Date.now();
    if (lead < 0) throw new Error(`inserting ${options.timers} timers took longer than the ${options.leadSeconds} s lead; raise it`);
    options.log(`  ${options.timers.toLocaleString('en-US')} timers due every ${spacing.toFixed(1)} ms over ${options.windowSeconds} s, first in ${(lead / 1000).toFixed(1)} s`);

    const transport = countingTransport(createCaptureTransport(bench.db, systemClock, bench.deps.committer));
    const worker = createWorker(bench.deps, { transport });
    worker.start();
    const deadline = firstDue + options.windowSeconds * 1000 + 60_000;
    try {
      while (transport.handoffs() < options.timers && Date.now() < deadline) await sleep(200);
    } finally {
      await worker.stop({ timeoutMs: 10_000 });
    }
    const rows = await bench.db.kysely
      .selectFrom('journey_run_steps')
      .select(['due_at', 'completed_at'])
      .where('organization_id', '=', bench.organizationId)
      .where('step_id', '=', DELAY_STEP)
      .where('status', '=', 'completed')
      .execute();
    const lateness = rows.map((r) => Number(r.completed_at) - Number(r.due_at)).sort((a, b) => a - b);
    return {
      timers: options.timers,
      measured: lateness.length,
      p50: percentile(lateness, 50),
      p99: percentile(lateness, 99),
      max: lateness.at(-1) ?? Number.NaN,
      handedOff: transport.handoffs(),
      emailSends: await statusCounts(bench, 'email_sends'),
    };
  });
}
