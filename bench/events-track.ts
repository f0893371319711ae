/**
 * `npm run bench:events`: durable events.track throughput and latency at 64 concurrent
 * connections on SQLite and on PostgreSQL, against a bare Fastify handler measured in the same run
 * (bench/bare-server.ts). Targets (from the issue): ≥ 0.40× the bare handler on SQLite with
 * p99 ≤ 25 ms; ≥ 0.25× on PostgreSQL.
 *
 * Each server runs in a child process (pinned to one core when taskset and ≥ 2 cores exist); the
 * load generator (autocannon) runs here, pinned to another core. Each target is warmed up, then
 * measured for the same duration with the same connections and the same kind of requests. After
 * each events target the server is stopped gracefully and the database is read directly: every
 * 202 must be a committed UserEvent, and there must be no non-2xx answer.
 *
 * Options (flags override environment variables):
 *   --quick                 smoke run: 1 s warm-up, 3 s measurement
 *   --seconds N             BENCH_SECONDS, measurement per target (default 10)
 *   --warmup N              BENCH_WARMUP_SECONDS (default 3)
 *   --connections N         BENCH_CONNECTIONS (default 64)
 *   --targets a,b           BENCH_TARGETS: bare,sqlite,postgres (default all three)
 *   BENCH_PROFILES          distinct profile emails (default 10000)
 *   BENCH_PG_URL            admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_PIN=0             no CPU pinning
 *   BENCH_SERVER_ROLE       serve --role for the server under test (default api)
 *   BENCH_LOG_LEVEL         SEGMENTFLOW_LOG_LEVEL of the server under test (default warn)
 *   BENCH_SERVER_NODE_ARGS  extra node flags for the server under test, e.g. "--cpu-prof --cpu-prof-dir=.tmp/prof"
 *   BENCH_TMPDIR            where the SQLite file is created (default .tmp/ in the repository)
 *   BENCH_SKIP_BUILD=1      do not run `npm run build` first
 *   BENCH_STRICT=1          exit 1 when a target is missed (correctness failures always exit 1)
 *   BENCH_SERVER_ENTRY      the segmentflow executable to serve (default bin/segmentflow.js), to compare builds
 *   BENCH_SQLITE_SYNCHRONOUS=NORMAL  diagnosis only: not durable, so not what the goal is about
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, disposeOnInterrupt, freePort, pinningPlan, pinSelf, startChild, stopChild, type ServerChild } from './children.js';
import { createPostgresDatabase, createSqliteDatabase, type BenchDatabase } from './databases.js';
import { countStatus, newTally, runPhase, type LoadOptions, type PhaseResult } from './load.js';
import { positiveInt, sqliteSynchronous } from './options.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = ['bare', 'sqlite', 'postgres'] as const;
type Target = (typeof TARGETS)[number];

interface BenchConfig {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  profiles: number;
  targets: Target[];
  pgUrl: string;
  pin: boolean;
  role: string;
  logLevel: string;
  serverNodeArgs: string[];
  tmpDir: string;
  build: boolean;
  strict: boolean;
  sqliteSynchronous: 'FULL' | 'NORMAL';
  serverEntry: string;
}

function readConfig(): BenchConfig {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      targets: { type: 'string' },
    },
    strict: true,
  });
  const env = process.env;
  const quick = values.quick === true || env.BENCH_QUICK === '1';
  const targets = (values.targets ?? env.BENCH_TARGETS ?? TARGETS.join(','))
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const unknown = targets.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) throw new Error(`unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.join(', ')}`);
  return {
    seconds: positiveInt('--seconds / BENCH_SECONDS', values.seconds ?? env.BENCH_SECONDS, quick ? 3 : 10),
    warmupSeconds: positiveInt('--warmup / BENCH_WARMUP_SECONDS', values.warmup ?? env.BENCH_WARMUP_SECONDS, quick ? 1 : 3),
    connections: positiveInt('--connections / BENCH_CONNECTIONS', values.connections ?? env.BENCH_CONNECTIONS, 64),
    profiles: positiveInt('BENCH_PROFILES', env.BENCH_PROFILES, 10_000),
    targets: TARGETS.filter((t) => targets.includes(t)),
    pgUrl: env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    pin: env.BENCH_PIN !== '0',
    role: env.BENCH_SERVER_ROLE ?? 'api',
    logLevel: env.BENCH_LOG_LEVEL ?? 'warn',
    serverNodeArgs: (env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== ''),
    tmpDir: resolve(env.BENCH_TMPDIR ?? join(ROOT, '.tmp')),
    build: env.BENCH_SKIP_BUILD !== '1',
    strict: env.BENCH_STRICT === '1',
    sqliteSynchronous: sqliteSynchronous(env.BENCH_SQLITE_SYNCHRONOUS),
    serverEntry: resolve(env.BENCH_SERVER_ENTRY ?? join(ROOT, 'bin', 'segmentflow.js')),
  };
}

interface Goal {
  minRatio: number;
  maxP99Ms?: number;
}

const GOALS: Record<Exclude<Target, 'bare'>, Goal> = {
  sqlite: { minRatio: 0.4, maxP99Ms: 25 },
  postgres: { minRatio: 0.25 },
};

interface Verification {
  ok: boolean;
  lines: string[];
}

interface Row {
  target: Target;
  label: string;
  measured: PhaseResult | null;
  /** CPU use during the measurement as a share of one core: the server, and this load generator. */
  serverCpu: number | null;
  loadCpu: number | null;
  verification: Verification | null;
  skipped: string | null;
  failed: string | null;
}

const log = (line = '') => process.stdout.write(line + '\n');

/** Starts the server of `target`, warms it up, measures it, stops it. */
async function loadTarget(
  config: BenchConfig,
  start: () => Promise<ServerChild>,
  load: Omit<LoadOptions, 'url' | 'seconds'>,
  port: number,
  tally = newTally(),
): Promise<{ measured: PhaseResult; serverCpu: number | null; loadCpu: number; tally: typeof tally; exitCode: number | null; stderr: string }> {
  const child = await start();
  const url = `http://127.0.0.1:${port}`;
  let measured: PhaseResult;
  let serverCpu: number | null = null;
  let loadCpu = 0;
  let exitCode: number | null = null;
  try {
    await runPhase({ ...load, url, seconds: config.warmupSeconds }, tally);
    const cpuBefore = cpuSeconds(child.pid);
    const loadBefore = process.cpuUsage();
    const wallBefore = performance.now();
    measured = await runPhase({ ...load, url, seconds: config.seconds }, tally);
    const wallSeconds = (performance.now() - wallBefore) / 1000;
    const cpuAfter = cpuSeconds(child.pid);
    const loadUsed = process.cpuUsage(loadBefore);
    loadCpu = (loadUsed.user + loadUsed.system) / 1e6 / wallSeconds;
    if (cpuBefore !== null && cpuAfter !== null) serverCpu = (cpuAfter - cpuBefore) / wallSeconds;
  } finally {
    exitCode = await stopChild(child);
  }
  return { measured, serverCpu, loadCpu, tally, exitCode, stderr: child.stderr() };
}

async function runBare(config: BenchConfig, cpu: number | null, apiKey: string): Promise<Row> {
  const port = await freePort();
  const start = () =>
    startChild({
      name: 'bare fastify',
      args: ['--import', 'tsx', join(ROOT, 'bench', 'bare-server.ts'), String(port)],
      env: process.env,
      cwd: ROOT,
      ready: /listening on/,
      readyTimeoutMs: 30_000,
      cpu,
    });
  const run = await loadTarget(config, start, { apiKey, connections: config.connections, profiles: config.profiles }, port);
  const non2xx = countStatus(run.tally, (s) => s < 200 || s > 299);
  const verification: Verification = {
    ok: non2xx === 0,
    lines: [`non-2xx ${non2xx}; errors ${run.tally.errors}; timeouts ${run.tally.timeouts} (warm-up + measurement)`],
  };
  return { target: 'bare', label: 'bare fastify', measured: run.measured, serverCpu: run.serverCpu, loadCpu: run.loadCpu, verification, skipped: null, failed: null };
}

async function runEvents(config: BenchConfig, target: 'sqlite' | 'postgres', db: BenchDatabase, cpu: number | null): Promise<Row> {
  const port = await freePort();
  const apiKey = `bench_${randomBytes(16).toString('hex')}`;
  const start = () =>
    startChild({
      name: `segmentflow serve (${target})`,
      args: [...config.serverNodeArgs, config.serverEntry, 'serve', '--role', config.role, '--port', String(port), '--host', '127.0.0.1'],
      env: {
        ...process.env,
        SEGMENTFLOW_DATABASE_URL: db.url,
        SEGMENTFLOW_BOOTSTRAP_API_KEY: apiKey,
        SEGMENTFLOW_LOG_LEVEL: config.logLevel,
        SEGMENTFLOW_SQLITE_SYNCHRONOUS: config.sqliteSynchronous,
      },
      cwd: ROOT,
      ready: /listening on/,
      readyTimeoutMs: 60_000,
      cpu,
    });
  const run = await loadTarget(config, start, { apiKey, connections: config.connections, profiles: config.profiles }, port);
  const { tally } = run;
  const accepted = countStatus(tally, (s) => s === 202);
  const non2xx = countStatus(tally, (s) => s < 200 || s > 299);
  const other2xx = countStatus(tally, (s) => s >= 200 && s <= 299 && s !== 202);
  const counts = await db.counts(tally.unanswered);
  const expected = accepted + counts.committedOf;
  const statusList = [...tally.statuses].map(([s, n]) => `${s}×${n}`).join(', ');
  const lines = [
    `responses: ${statusList || 'none'} (warm-up + measurement); non-2xx ${non2xx}; errors ${tally.errors}; timeouts ${tally.timeouts} (timed-out requests are abandoned and missing from the latency percentiles)`,
    `abandoned in flight when the load stopped: ${tally.unanswered.size} keys, of which the server committed ${counts.committedOf}`,
    `user_events rows ${counts.userEvents} = 202s ${accepted} + committed-but-unanswered ${counts.committedOf} = ${expected}: ${counts.userEvents === expected ? 'yes' : 'NO'}`,
    `idempotency records ${counts.idempotencyRecords} (one per committed request: ${counts.idempotencyRecords === counts.userEvents ? 'yes' : 'NO'}); profiles ${counts.profiles} (so ${counts.userEvents - counts.profiles} events hit an existing profile)`,
    ...counts.notes,
    `server exit code after SIGTERM: ${run.exitCode}`,
  ];
  const stderrLines = run.stderr.trim() === '' ? [] : run.stderr.trim().split('\n');
  if (stderrLines.length > 0) lines.push(`server stderr: ${stderrLines.length} line(s); first: ${stderrLines[0]!.slice(0, 400)}`);
  const ok =
    non2xx === 0 &&
    other2xx === 0 &&
    counts.userEvents === expected &&
    counts.idempotencyRecords === counts.userEvents &&
    run.exitCode === 0;
  return { target, label: `events.track · ${target}`, measured: run.measured, serverCpu: run.serverCpu, loadCpu: run.loadCpu, verification: { ok, lines }, skipped: null, failed: null };
}

function buildProject(): void {
  log('Building (npm run build)…');
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status}); BENCH_SKIP_BUILD=1 serves the existing dist/ as it is`);
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Prints the table; returns how many goals were evaluated and how many of them were met. */
function printTable(rows: Row[]): { evaluated: number; met: number } {
  const bare = rows.find((r) => r.target === 'bare' && r.measured !== null)?.measured ?? null;
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', 'timeouts', 'server CPU', 'load-gen CPU', 'ratio vs bare', 'goal', 'goal met'];
  const table: string[][] = [header];
  const goals = { evaluated: 0, met: 0 };
  for (const row of rows) {
    if (row.measured === null) {
      table.push([row.label, row.skipped !== null ? 'skipped' : 'FAILED', ...header.slice(2).map(() => '')]);
      continue;
    }
    const m = row.measured;
    const ratio = bare === null ? null : m.requestsPerSecond / bare.requestsPerSecond;
    let goalText = '—';
    let met = '—';
    if (row.target !== 'bare') {
      const goal = GOALS[row.target];
      goalText = `≥ ${goal.minRatio.toFixed(2)}×${goal.maxP99Ms !== undefined ? `, p99 ≤ ${goal.maxP99Ms} ms` : ''}`;
      // Timed-out requests are missing from the percentiles, so any timeout voids the latency claim.
      const ok = ratio !== null && ratio >= goal.minRatio && (goal.maxP99Ms === undefined || (m.p99 <= goal.maxP99Ms && m.timeouts === 0));
      met = ratio === null ? 'n/a (no bare run)' : ok ? 'yes' : 'no';
      if (ratio !== null) {
        goals.evaluated++;
        if (ok) goals.met++;
      }
    }
    table.push([
      row.label,
      fmtInt(m.requestsPerSecond),
      String(m.p50),
      String(m.p99),
      String(m.timeouts),
      row.serverCpu === null ? 'n/a' : `${Math.round(row.serverCpu * 100)}%`,
      row.loadCpu === null ? 'n/a' : `${Math.round(row.loadCpu * 100)}%`,
      ratio === null ? 'n/a' : `${ratio.toFixed(2)}×`,
      goalText,
      met,
    ]);
  }
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const [i, r] of table.entries()) {
    log(r.map((cell, c) => (c === 0 || c >= 8 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0) log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  return goals;
}

async function main(): Promise<number> {
  const config = readConfig();
  if (config.build) buildProject();
  const cores = availableParallelism(); // before pinning narrows this process's affinity
  const pinning = pinningPlan(config.pin);
  if (pinning !== null) pinSelf(pinning.loadCpu);
  const serverCpu = pinning?.serverCpu ?? null;
  log(
    `events.track benchmark · node ${process.version} · ${cores} cores · ` +
      (pinning ? `server on CPU ${pinning.serverCpu}, load generator on CPU ${pinning.loadCpu}` : 'no CPU pinning') +
      ` · ${config.connections} connections · warm-up ${config.warmupSeconds} s + ${config.seconds} s per target · ${fmtInt(config.profiles)} profiles · role ${config.role}`,
  );
  log(`server under test: ${config.serverEntry}${config.serverNodeArgs.length > 0 ? ` (node ${config.serverNodeArgs.join(' ')})` : ''}`);

  const rows: Row[] = [];
  const benchKey = `bench_${randomBytes(16).toString('hex')}`;
  for (const target of config.targets) {
    log(`\n▶ ${target}`);
    try {
      if (target === 'bare') {
        rows.push(await runBare(config, serverCpu, benchKey));
      } else {
        const db = target === 'sqlite' ? createSqliteDatabase(config.tmpDir, config.sqliteSynchronous) : await createPostgresDatabase(config.pgUrl);
        if (typeof db === 'string') {
          log(`  skipped: ${db}`);
          rows.push({ target, label: `events.track · ${target}`, measured: null, serverCpu: null, loadCpu: null, verification: null, skipped: db, failed: null });
          continue;
        }
        log(`  database: ${db.label}`);
        const forget = disposeOnInterrupt(() => db.dispose());
        try {
          rows.push(await runEvents(config, target, db, serverCpu));
        } finally {
          forget();
          await db.dispose();
        }
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`  FAILED: ${message}`);
      rows.push({ target, label: target === 'bare' ? 'bare fastify' : `events.track · ${target}`, measured: null, serverCpu: null, loadCpu: null, verification: null, skipped: null, failed: message });
      continue;
    }
    const row = rows.at(-1)!;
    const m = row.measured!;
    log(`  ${fmtInt(m.requestsPerSecond)} req/s · p50 ${m.p50} ms · p99 ${m.p99} ms · mean ${m.mean.toFixed(1)} ms · ${fmtInt(m.completed)} responses in ${m.seconds} s`);
    for (const line of row.verification?.lines ?? []) log(`  ${line}`);
    log(`  correctness: ${row.verification?.ok ? 'ok' : 'FAILED'}`);
  }

  log('');
  const goals = printTable(rows);
  const bareRow = rows.find((r) => r.target === 'bare');
  if (bareRow?.loadCpu != null && bareRow.loadCpu >= 0.9) {
    log(`\nnote: the load generator used ${Math.round(bareRow.loadCpu * 100)}% of its core during the bare run, so the bare figure is partly`);
    log('      limited by the generator, not the handler: the ratios above are on the optimistic side.');
  }
  const correct = rows.every((r) => r.failed === null && (r.verification === null || r.verification.ok));
  const notRun = rows.filter((r) => r.measured === null).map((r) => r.target);
  log(
    `\ncorrectness (every 202 committed, no non-2xx): ${correct ? 'ok' : 'FAILED'} · goals met: ${goals.met} of ${goals.evaluated} evaluated` +
      (notRun.length > 0 ? ` · not measured: ${notRun.join(', ')}` : ''),
  );
  if (!correct) return 1;
  return config.strict && goals.met < goals.evaluated ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:events: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
