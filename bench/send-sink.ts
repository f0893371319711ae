/**
 * The parent side of bench/send-sink-child.ts: starts the SMTP sink in a child process on
 * 127.0.0.1 (optionally pinned to one CPU), asks it what it received, and stops it. The child is
 * killed on any exit of the parent and on Ctrl-C, like the servers of bench/children.ts.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cpuSeconds, disposeOnInterrupt } from './children.js';
import type { SinkReportMessage } from './send-sink-child.js';

export type SinkReport = Omit<SinkReportMessage, 'type'>;

export interface SinkChild {
  pid: number;
  port: number;
  /** `smtp://127.0.0.1:PORT` */
  url: string;
  /**
   * What arrived since the previous report. Complete once every sender's `send` resolved: the sink
   * records a message before its 250 reply.
   */
  report(): Promise<SinkReport>;
  /** CPU seconds the sink used so far (null without /proc). */
  cpuSeconds(): number | null;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const REPORT_TIMEOUT_MS = 30_000;

export async function startSinkChild(benchDir: string, cpu: number | null): Promise<SinkChild> {
  const child: ChildProcess = fork(join(benchDir, 'send-sink-child.ts'), [], {
    // Explicit, so a parent run with --cpu-prof does not profile the sink too.
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', kill);
  const forget = disposeOnInterrupt(async () => kill());
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 64_000) stderr += chunk;
  });

  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const fail = (reason: string) => {
      clearTimeout(timer);
      kill();
      reject(new Error(`smtp sink: ${reason}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`not listening within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    const onExit = (code: number | null, signal: string | null) => fail(`exited before it was ready (code ${code}, signal ${signal})`);
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8');
    const onData = (chunk: string) => {
      stdout += chunk;
      const match = /listening on (\d+)/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(Number(match[1]));
    };
    child.stdout!.on('data', onData);
  });
  if (cpu !== null) spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(child.pid)], { stdio: 'ignore' });

  const ask = () =>
    new Promise<SinkReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        reject(new Error(`smtp sink: no report within ${REPORT_TIMEOUT_MS} ms\n${stderr}`));
      }, REPORT_TIMEOUT_MS);
      const onMessage = (message: SinkReportMessage) => {
        if (message.type !== 'report') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        const { type: _type, ...report } = message;
        resolve(report);
      };
      child.on('message', onMessage);
      child.send({ type: 'report' });
    });

  return {
    pid: child.pid!,
    port,
    url: `smtp://127.0.0.1:${port}`,
    report: ask,
    cpuSeconds: () => cpuSeconds(child.pid!),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(kill, 5000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        });
      }
      process.off('exit', kill);
      forget();
    },
  };
}
