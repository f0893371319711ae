// `npm test`: type-checks sources and tests, makes sure a PostgreSQL server is available, then
// runs every test file with node's test runner on both databases. Node 20 does not expand globs,
// so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensurePostgres } from './ensure-postgres.mjs';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = findTests('test')
  .map((f) => relative('.', f))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

if (filter.length === 0 || process.env.SEGMENTFLOW_TYPECHECK === '1') {
  const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}

const dialects = process.env.SEGMENTFLOW_TEST_DIALECTS ?? 'sqlite,postgres';
const postgres = dialects.includes('postgres') ? await ensurePostgres() : null;
let status = 1;
try {
  const env = { ...process.env, SEGMENTFLOW_TEST_DIALECTS: dialects };
  if (postgres) env.SEGMENTFLOW_TEST_DATABASE_URL = postgres.url;
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
    { stdio: 'inherit', env },
  );
  status = run.status ?? 1;
} finally {
  postgres?.stop();
}
process.exit(status);
