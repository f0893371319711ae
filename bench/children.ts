/**
 * Child processes of the benchmark: the server under test runs in a process of its own (optionally
 * pinned to one core with taskset) so the load generator in the parent does not steal its CPU.
 * Every child is registered until it has exited; any exit of the parent kills what is left, so an
 * error or Ctrl-C never leaves a server running. On Ctrl-C / SIGTERM the registered disposers
 * (temporary databases) also run, bounded to a few seconds, before the parent exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';

export interface ServerChild {
  name: string;
  process: ChildProcess;
  pid: number;
  /** Everything the child wrote to stderr (bounded), for error reports. */
  stderr(): string;
}

const live = new Set<ChildProcess>();
const disposers = new Set<() => Promise<void>>();
let cleanupInstalled = false;
const DISPOSE_TIMEOUT_MS = 5000;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill('SIGKILL');
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, DISPOSE_TIMEOUT_MS).unref());
      const all = Promise.allSettled([...disposers].map((dispose) => dispose()));
      void Promise.race([all, timeout]).then(() => process.exit(130));
    });
  }
}

/** Runs `dispose` if the benchmark is interrupted; call the returned function once it ran normally. */
export function disposeOnInterrupt(dispose: () => Promise<void>): () => void {
  installCleanup();
  disposers.add(dispose);
  return () => disposers.delete(dispose);
}

const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * CPU pinning plan: with at least two cores and taskset available, the server gets the last core
 * and the load generator the first one. Returns null when pinning is off or impossible.
 */
export function pinningPlan(enabled: boolean): { serverCpu: number; loadCpu: number } | null {
  const cores = availableParallelism();
  if (!enabled || !hasTaskset || cores < 2) return null;
  return { serverCpu: cores - 1, loadCpu: 0 };
}

/** Pins every thread of this process (the load generator) to one CPU. */
export function pinSelf(cpu: number): void {
  spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/** A free TCP port on 127.0.0.1 (the OS picks it; the tiny race before the child binds is acceptable here). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export interface StartOptions {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The child is ready once a stdout line matches. */
  ready: RegExp;
  readyTimeoutMs: number;
  cpu: number | null;
}

export function startChild(options: StartOptions): Promise<ServerChild> {
  installCleanup();
  const [command, args] =
    options.cpu === null ? [process.execPath, options.args] : ['taskset', ['-c', String(options.cpu), process.execPath, ...options.args]];
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 64_000) stderr += chunk;
  });

  return new Promise((resolve, reject) => {
    let stdout = '';
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${options.name}: ${reason}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`no line matching ${options.ready} within ${options.readyTimeoutMs} ms`), options.readyTimeoutMs);
    const onExit = (code: number | null, signal: string | null) => fail(`exited before it was ready (code ${code}, signal ${signal})`);
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8');
    const onData = (chunk: string) => {
      if (stdout.length < 64_000) stdout += chunk;
      if (!options.ready.test(stdout)) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', onData);
      child.stdout!.resume(); // keep draining so the child never blocks on a full pipe
      resolve({ name: options.name, process: child, pid: child.pid!, stderr: () => stderr });
    };
    child.stdout!.on('data', onData);
  });
}

/** SIGTERM, then waits for a graceful exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
export function stopChild(child: ServerChild, timeoutMs = 35_000): Promise<number | null> {
  const proc = child.process;
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) used so far by a process and all its threads, from /proc (Linux).
 * Null where /proc is unavailable. With taskset the child is `taskset` exec'ing node: same pid.
 */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}
