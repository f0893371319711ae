/**
 * `npm run bench:journeys`: the journey targets of the issue, measured on this machine.
 *
 * (a) events.track throughput with 0 vs 10,000 Active journeys listening to other events
 *     (bench/journeys-track.ts: the events.track machinery, server child on SQLite, autocannon).
 *     Target: with journeys ≤ 10% slower.
 * (b) 100,000 runs whose delay ends at the same instant: wall time until every email was rendered
 *     and handed to the capture transport (target ≤ 30 s), and the lateness p99 of timers under a
 *     steady load with the real clock (target < 2 s) (bench/journeys-timers.ts, in process).
 *
 * Options (flags override environment variables):
 *   --quick              smoke run: 1 s warm-up + 3 s per events target, 5,000 burst runs, 500 timers over 10 s
 *   --parts a,b          BENCH_PARTS (default a,b)
 *   --runs N             BENCH_RUNS, burst runs (default 100000)
 *   --journeys N         BENCH_JOURNEYS, idle journeys of part (a) (default 10000)
 *   --seconds N          BENCH_SECONDS, events measurement per database (default 10)
 *   --warmup N           BENCH_WARMUP_SECONDS (default 3)
 *   --timers N           BENCH_TIMERS, timers of the lateness run (default 2000)
 *   --window N           BENCH_TIMER_WINDOW_SECONDS, over which they fall due (default 20)
 *   BENCH_BURST_LIMIT_SECONDS  stop the burst after this long and extrapolate (default 600)
 *   BENCH_CONNECTIONS (64) · BENCH_PROFILES (10000) · BENCH_PIN=0 · BENCH_TMPDIR (.tmp/) ·
 *   BENCH_SKIP_BUILD=1 · BENCH_LOG_LEVEL (warn) · BENCH_WORKER_CONCURRENCY (the config default) ·
 *   BENCH_STRICT=1 (exit 1 when a target is missed)
 *   BENCH_SQLITE_SYNCHRONOUS=NORMAL  part (b) only, diagnosis: not durable, so not what the targets are about
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultConfig, type LogLevel } from '../src/config.js';
import { pinningPlan, pinSelf } from './children.js';
import { runBurst, runLateness, type BurstResult, type LatenessResult } from './journeys-timers.js';
import { defaultServerEntry, measureTrack, type TrackResult } from './journeys-track.js';
import { positiveInt, sqliteSynchronous } from './options.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line = '') => process.stdout.write(line + '\n');

const TARGETS = { slowdownPercent: 10, burstSeconds: 30, latenessP99Ms: 2000 };

function readConfig() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      parts: { type: 'string' },
      runs: { type: 'string' },
      journeys: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      timers: { type: 'string' },
      window: { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const quick = values.quick === true || env.BENCH_QUICK === '1';
  const parts = (values.parts ?? env.BENCH_PARTS ?? 'a,b').split(',').map((p) => p.trim());
  const unknown = parts.filter((p) => p !== 'a' && p !== 'b');
  if (unknown.length > 0) throw new Error(`unknown part(s) ${unknown.join(', ')}; known: a, b`);
  return {
    quick,
    partA: parts.includes('a'),
    partB: parts.includes('b'),
    runs: positiveInt('--runs / BENCH_RUNS', values.runs ?? env.BENCH_RUNS, quick ? 5_000 : 100_000),
    journeys: positiveInt('--journeys / BENCH_JOURNEYS', values.journeys ?? env.BENCH_JOURNEYS, 10_000),
    seconds: positiveInt('--seconds / BENCH_SECONDS', values.seconds ?? env.BENCH_SECONDS, quick ? 3 : 10),
    warmupSeconds: positiveInt('--warmup / BENCH_WARMUP_SECONDS', values.warmup ?? env.BENCH_WARMUP_SECONDS, quick ? 1 : 3),
    timers: positiveInt('--timers / BENCH_TIMERS', values.timers ?? env.BENCH_TIMERS, quick ? 500 : 2_000),
    windowSeconds: positiveInt('--window / BENCH_TIMER_WINDOW_SECONDS', values.window ?? env.BENCH_TIMER_WINDOW_SECONDS, quick ? 10 : 20),
    burstLimitSeconds: positiveInt('BENCH_BURST_LIMIT_SECONDS', env.BENCH_BURST_LIMIT_SECONDS, 600),
    connections: positiveInt('BENCH_CONNECTIONS', env.BENCH_CONNECTIONS, 64),
    profiles: positiveInt('BENCH_PROFILES', env.BENCH_PROFILES, 10_000),
    concurrency: positiveInt('BENCH_WORKER_CONCURRENCY', env.BENCH_WORKER_CONCURRENCY, defaultConfig().workerConcurrency),
    pin: env.BENCH_PIN !== '0',
    tmpDir: resolve(env.BENCH_TMPDIR ?? join(ROOT, '.tmp')),
    build: env.BENCH_SKIP_BUILD !== '1',
    strict: env.BENCH_STRICT === '1',
    logLevel: (env.BENCH_LOG_LEVEL ?? 'warn') as LogLevel,
    synchronous: sqliteSynchronous(env.BENCH_SQLITE_SYNCHRONOUS),
  };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const [i, r] of rows.entries()) {
    log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
    if (i === 0) log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

async function main(): Promise<number> {
  const config = readConfig();
  const cores = availableParallelism();
  log(
    `journeys benchmark · node ${process.version} · ${cores} cores · parts ${[config.partA ? 'a' : '', config.partB ? 'b' : ''].filter(Boolean).join(',')}` +
      `${config.quick ? ' · quick' : ''} · worker concurrency ${config.concurrency}` +
      (config.synchronous === 'NORMAL' ? ' · part (b) on SQLite synchronous=NORMAL (diagnosis only, not durable)' : ''),
  );
  let correct = true;
  let track: { without: TrackResult; with: TrackResult } | null = null;
  let burst: BurstResult | null = null;
  let lateness: LatenessResult | null = null;

  if (config.partA) {
    if (config.build) {
      log('Building (npm run build)…');
      const built = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
      if (built.status !== 0) throw new Error(`npm run build failed (exit ${built.status}); BENCH_SKIP_BUILD=1 serves the existing dist/`);
    }
    const pinning = pinningPlan(config.pin);
    log(
      `\n▶ (a) events.track · SQLite · ${config.connections} connections · warm-up ${config.warmupSeconds} s + ${config.seconds} s per database · ` +
        (pinning ? `server on CPU ${pinning.serverCpu}, load generator on CPU ${pinning.loadCpu}` : 'no CPU pinning'),
    );
    // Pinning narrows this process to one core; part (b) runs in this process afterwards, which is
    // fine: the worker is one event loop, and SQLite work happens on it.
    if (pinning) pinSelf(pinning.loadCpu);
    const options = {
      root: ROOT,
      serverEntry: defaultServerEntry(ROOT),
      tmpDir: config.tmpDir,
      journeys: config.journeys,
      seconds: config.seconds,
      warmupSeconds: config.warmupSeconds,
      connections: config.connections,
      profiles: config.profiles,
      serverCpu: pinning?.serverCpu ?? null,
      logLevel: config.logLevel,
      log,
    };
    log('  0 journeys:');
    const without = await measureTrack(options, 0);
    log(`  ${fmt(config.journeys)} journeys:`);
    const withJourneys = await measureTrack(options, config.journeys);
    track = { without, with: withJourneys };
    correct &&= without.ok && withJourneys.ok;
  }

  if (config.partB) {
    log(`\n▶ (b) burst: ${fmt(config.runs)} runs, delay ending at the same instant (clock at that instant, then real time; runner started; limit ${config.burstLimitSeconds} s)`);
    burst = await runBurst({ runs: config.runs, synchronous: config.synchronous, tmpDir: config.tmpDir, logLevel: config.logLevel, concurrency: config.concurrency, timeLimitMs: config.burstLimitSeconds * 1000, log });
    log(
      `  ${fmt(burst.handedOff)} handed off in ${burst.elapsedSeconds.toFixed(1)} s · ${fmt(burst.rate)}/s overall, ${fmt(burst.steadyRate)}/s in the second half` +
        (burst.stepsDoneSeconds !== null ? ` · all delay steps completed after ${burst.stepsDoneSeconds.toFixed(1)} s` : ` · ${fmt(burst.stepsDone)} delay steps completed`),
    );
    log(`  email_sends: ${burst.emailSends} · journey_runs: ${burst.runStatuses}`);
    if (burst.seconds === null) log(`  time limit hit: extrapolated ${burst.extrapolatedSeconds.toFixed(0)} s for ${fmt(burst.runs)} (linear in jobs run: ${fmt(burst.stepsDone)} step + ${fmt(burst.handedOff)} delivery of ${fmt(2 * burst.runs)})`);
    else correct &&= burst.emailSends.includes(`Sent ${burst.runs}`) && burst.runStatuses.includes(`completed ${burst.runs}`);

    log(`\n▶ (b) timer lateness: ${fmt(config.timers)} timers over ${config.windowSeconds} s of real time, started runner, real clock`);
    lateness = await runLateness({ timers: config.timers, synchronous: config.synchronous, windowSeconds: config.windowSeconds, leadSeconds: 5, tmpDir: config.tmpDir, logLevel: config.logLevel, concurrency: config.concurrency, log });
    log(`  lateness p50 ${fmt(lateness.p50)} ms · p99 ${fmt(lateness.p99)} ms · max ${fmt(lateness.max)} ms over ${fmt(lateness.measured)} completed delays · handed off ${fmt(lateness.handedOff)}`);
    log(`  email_sends: ${lateness.emailSends}`);
    correct &&= lateness.measured === lateness.timers && lateness.handedOff === lateness.timers;
  }

  log('');
  const rows: string[][] = [['measure', 'result', 'target', 'met']];
  let evaluated = 0;
  let met = 0;
  const judge = (ok: boolean) => {
    evaluated++;
    if (ok) met++;
    return ok ? 'yes' : 'no';
  };
  if (track) {
    const a = track.without.measured.requestsPerSecond;
    const b = track.with.measured.requestsPerSecond;
    const slowdown = ((a - b) / a) * 100;
    rows.push([`events.track, 0 journeys`, `${fmt(a)} req/s (p99 ${track.without.measured.p99} ms)`, '—', '—']);
    rows.push([`events.track, ${fmt(track.with.journeys)} idle journeys`, `${fmt(b)} req/s (p99 ${track.with.measured.p99} ms)`, '—', '—']);
    rows.push(['slowdown with journeys', `${slowdown.toFixed(1)}%`, `≤ ${TARGETS.slowdownPercent}%`, judge(slowdown <= TARGETS.slowdownPercent)]);
  }
  if (burst) {
    const full = config.runs === 100_000;
    const result =
      burst.seconds !== null
        ? `${burst.seconds.toFixed(1)} s (${fmt(burst.rate)}/s)`
        : `not finished: ${fmt(burst.handedOff)} in ${burst.elapsedSeconds.toFixed(0)} s, extrapolated ${burst.extrapolatedSeconds.toFixed(0)} s`;
    const target = `≤ ${TARGETS.burstSeconds} s for 100,000`;
    // A smaller N is judged by linear extrapolation to 100,000: optimistic, since
    // on SQLite each claim costs more the larger the due backlog is.
    const projected = burst.extrapolatedSeconds * (100_000 / config.runs);
    rows.push([`burst: ${fmt(config.runs)} runs due at once → handed off`, result, target, '']);
    rows.push([full ? 'burst time for 100,000' : 'burst time for 100,000 (extrapolated from this N)', `${projected.toFixed(1)} s`, target, judge(projected <= TARGETS.burstSeconds)]);
  }
  if (lateness) {
    rows.push([`timer lateness p99 (${fmt(lateness.timers)} over ${config.windowSeconds} s)`, `${fmt(lateness.p99)} ms (p50 ${fmt(lateness.p50)} ms)`, `< ${TARGETS.latenessP99Ms / 1000} s`, judge(lateness.p99 < TARGETS.latenessP99Ms)]);
  }
  printTable(rows);
  log(`\ncorrectness (every answer 202; every run completed and its email Sent): ${correct ? 'ok' : 'FAILED'} · targets met: ${met} of ${evaluated}`);
  if (!correct) return 1;
  return config.strict && met < evaluated ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:journeys: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
