/**
 * Optional CPU profiles of bench/send.ts's stages (BENCH_CPU_PROFILE=<dir>): the V8 profiler of
 * this process, started and stopped around one stage through the inspector, so a profile holds
 * only creation or only delivery (what `node --cpu-prof` of the whole run would mix with the
 * baseline and set-up). Summarise a file with bench/cpu-profile-summary.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

const SAMPLING_INTERVAL_US = 500;

/** Runs `stage`, profiled into `<dir>/<name>.cpuprofile` when `dir` is set. */
export async function profiled<T>(dir: string | null, name: string, stage: () => Promise<T>): Promise<T> {
  if (dir === null) return stage();
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await session.post('Profiler.start');
    let result: T;
    try {
      result = await stage();
    } finally {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    }
    return result;
  } finally {
    session.disconnect();
  }
}
