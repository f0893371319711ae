/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. the server under test run with
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=.tmp/prof"): self time by function and by
 * origin (our dist/ code, each package, Node internals, native/GC), and inclusive time of our
 * own functions, as shares of all samples (idle included, and reported separately).
 *
 * Usage: node --import tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: cpu-profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;

const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const node of profile.nodes) {
  byId.set(node.id, node);
  for (const child of node.children ?? []) parent.set(child, node.id);
}

/** Where a frame's code comes from: our code, a package, node internals or the VM itself. */
function origin(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') {
    if (frame.functionName === '(idle)') return '(idle)';
    if (frame.functionName === '(garbage collector)') return '(gc)';
    if (frame.functionName === '(program)') return '(program: native, not attributed)';
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/(dist|src|bench)\/(.+)$/.exec(url);
  if (ours) return `ours: ${ours[2]!.split('/')[0]}`;
  return url;
}

function label(frame: CallFrame): string {
  const where = frame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/');
  return `${frame.functionName || '(anonymous)'}  ${where}${where ? `:${frame.lineNumber + 1}` : ''}`;
}

const selfByFunction = new Map<string, number>();
const selfByOrigin = new Map<string, number>();
const inclusiveOurs = new Map<string, number>();
let total = 0;
let idle = 0;
const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value);

profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id)!;
  total += dt;
  if (node.callFrame.functionName === '(idle)') {
    idle += dt;
    return;
  }
  add(selfByFunction, label(node.callFrame), dt);
  add(selfByOrigin, origin(node.callFrame), dt);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const frame = byId.get(cur)!.callFrame;
    if (!/\/(dist|src)\//.test(frame.url) || frame.url.includes('node_modules')) continue;
    const key = label(frame);
    if (seen.has(key)) continue;
    seen.add(key);
    add(inclusiveOurs, key, dt);
  }
});

const busy = total - idle;
const pct = (v: number, of: number) => `${((100 * v) / of).toFixed(1).padStart(5)}%`;
const print = (title: string, map: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, v] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    process.stdout.write(`  ${pct(v, busy)} of busy  ${key}\n`);
  }
};

process.stdout.write(`${file}\nsampled ${(total / 1e6).toFixed(1)} s · idle ${pct(idle, total)} · busy ${(busy / 1e6).toFixed(1)} s (percentages below are of busy time)\n`);
print('Self time by origin', selfByOrigin, 30);
print(`Self time by function (top ${top})`, selfByFunction, top);
print(`Inclusive time of our functions (top ${top})`, inclusiveOurs, top);
