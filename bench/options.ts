/** Option parsing shared by the benchmark commands (flags and BENCH_* environment variables). */

/** `raw` as a positive integer, `fallback` when absent or empty; anything else stops the run. */
export function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/** BENCH_SQLITE_SYNCHRONOUS: FULL (the default, what the targets are about) or NORMAL (diagnosis only). */
export function sqliteSynchronous(raw: string | undefined): 'FULL' | 'NORMAL' {
  const value = (raw ?? 'FULL').toUpperCase();
  if (value !== 'FULL' && value !== 'NORMAL') throw new Error(`BENCH_SQLITE_SYNCHRONOUS must be FULL or NORMAL (got ${JSON.stringify(raw)})`);
  return value;
}
