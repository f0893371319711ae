/**
 * Part (a) of bench/journeys.ts: events.track throughput with 0 and with many Active journeys
 * whose entry events are never sent, with the machinery of bench/events-track.ts — the built
 * server (`segmentflow serve --role api`) in a child process on a fresh SQLite file, autocannon
 * here, the same warm-up, duration and connections for both databases. Every answer must be 202.
 */
import { join } from 'node:path';
import type { LogLevel } from '../src/config.js';
import { connectDatabase } from '../src/db/connect.js';
import { systemClock } from '../src/lib/clock.js';
import { cpuSeconds, disposeOnInterrupt, freePort, startChild, stopChild } from './children.js';
import { createBenchDb, insertIdleJourneys } from './journeys-setup.js';
import { countStatus, newTally, runPhase, type PhaseResult } from './load.js';

export interface TrackOptions {
  root: string;
  serverEntry: string;
  tmpDir: string;
  journeys: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  profiles: number;
  serverCpu: number | null;
  logLevel: LogLevel;
  log: (line: string) => void;
}

export interface TrackResult {
  journeys: number;
  measured: PhaseResult;
  serverCpu: number | null;
  non2xx: number;
  userEvents: number;
  exitCode: number | null;
  ok: boolean;
}

/** One database: `journeys` idle journeys inserted first, then warm-up and measurement. */
export async function measureTrack(options: TrackOptions, journeys: number): Promise<TrackResult> {
  const bench = await createBenchDb(options.tmpDir, { clock: systemClock, logLevel: 'silent' });
  const forget = disposeOnInterrupt(() => bench.dispose());
  try {
    if (journeys > 0) {
      const started = performance.now();
      await insertIdleJourneys(bench, journeys);
      options.log(`  ${journeys.toLocaleString('en-US')} Active journeys inserted in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    const { apiKey, organizationId } = bench;
    await bench.close();
    const port = await freePort();
    const child = await startChild({
      name: `segmentflow serve (${journeys} journeys)`,
      args: [options.serverEntry, 'serve', '--role', 'api', '--port', String(port), '--host', '127.0.0.1'],
      env: { ...process.env, SEGMENTFLOW_DATABASE_URL: bench.url, SEGMENTFLOW_LOG_LEVEL: options.logLevel },
      cwd: options.root,
      ready: /listening on/,
      readyTimeoutMs: 60_000,
      cpu: options.serverCpu,
    });
    const url = `http://127.0.0.1:${port}`;
    const tally = newTally();
    const load = { url, apiKey, connections: options.connections, profiles: options.profiles };
    let measured: PhaseResult;
    let serverCpu: number | null = null;
    let exitCode: number | null;
    try {
      await runPhase({ ...load, seconds: options.warmupSeconds }, tally);
      const cpuBefore = cpuSeconds(child.pid);
      const wallBefore = performance.now();
      measured = await runPhase({ ...load, seconds: options.seconds }, tally);
      const cpuAfter = cpuSeconds(child.pid);
      if (cpuBefore !== null && cpuAfter !== null) serverCpu = (cpuAfter - cpuBefore) / ((performance.now() - wallBefore) / 1000);
    } finally {
      exitCode = await stopChild(child);
    }
    const stderr = child.stderr().trim();
    if (stderr !== '') options.log(`  server stderr (first line): ${stderr.split('\n')[0]!.slice(0, 300)}`);
    // Read the result with a fresh connection, after the server exited.
    const db = connectDatabase({ dialect: 'sqlite', path: bench.path, synchronous: 'FULL' });
    let userEvents: number;
    let activeJourneys: number;
    try {
      const count = async (table: 'user_events' | 'journeys', status?: string) => {
        let query = db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n')).where('organization_id', '=', organizationId);
        if (status !== undefined) query = query.where('status', '=', status as never);
        return Number((await query.executeTakeFirstOrThrow()).n);
      };
      userEvents = await count('user_events');
      activeJourneys = await count('journeys', 'Active');
    } finally {
      await db.close();
    }
    const accepted = countStatus(tally, (s) => s === 202);
    const non2xx = countStatus(tally, (s) => s < 200 || s > 299);
    const ok = non2xx === 0 && tally.errors === 0 && exitCode === 0 && activeJourneys === journeys && userEvents >= accepted;
    options.log(
      `  ${Math.round(measured.requestsPerSecond).toLocaleString('en-US')} req/s · p50 ${measured.p50} ms · p99 ${measured.p99} ms · ` +
        `server CPU ${serverCpu === null ? 'n/a' : `${Math.round(serverCpu * 100)}%`} · 202s ${accepted} · non-2xx ${non2xx} · errors ${tally.errors} · ` +
        `user_events ${userEvents} · Active journeys ${activeJourneys} · exit ${exitCode}`,
    );
    return { journeys, measured, serverCpu, non2xx, userEvents, exitCode, ok };
  } finally {
    forget();
    await bench.dispose();
  }
}

export const defaultServerEntry = (root: string) => join(root, 'bin', 'segmentflow.js');
