// Finds a PostgreSQL server for the test suite (issue 2, "Storage"):
//   1. SEGMENTFLOW_TEST_DATABASE_URL when set;
//   2. else the machine's server on 127.0.0.1:5432 (trust auth, database `test`) if it answers;
//   3. else a throwaway cluster started from Debian's `postgresql` binaries, installing the
//      package first when it is missing. The cluster lives in a temp folder and is stopped by
//      the returned `stop()`.
// SEGMENTFLOW_TEST_THROWAWAY_PG=1 skips step 2 (to exercise step 3 on a machine that has a server).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

async function answers(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function findBinDir() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(base, versions[0], 'bin') : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function asPostgresUser(args) {
  // initdb refuses to run as root; Debian's package creates the `postgres` user.
  const isRoot = process.getuid?.() === 0;
  const [cmd, ...rest] = isRoot ? ['runuser', '-u', 'postgres', '--', ...args] : args;
  const result = spawnSync(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr || result.stdout}`);
}

async function startThrowawayCluster() {
  let bin = findBinDir();
  if (!bin) {
    console.error('[tests] PostgreSQL binaries not found: installing Debian package postgresql');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { stdio: 'inherit', env });
    bin = findBinDir();
    if (!bin) throw new Error('postgresql installed but initdb was not found under /usr/lib/postgresql');
  }
  const dir = mkdtempSync(join(tmpdir(), 'segmentflow-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  const port = await freePort();
  asPostgresUser([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  asPostgresUser([
    join(bin, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-w', '-t', '60',
    '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`, 'start',
  ]);
  console.error(`[tests] started a throwaway PostgreSQL on 127.0.0.1:${port}`);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        asPostgresUser([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export async function ensurePostgres() {
  const configured = process.env.SEGMENTFLOW_TEST_DATABASE_URL;
  if (configured) return { url: configured, stop() {} };
  if (process.env.SEGMENTFLOW_TEST_THROWAWAY_PG !== '1') {
    const local = 'postgres://postgres@127.0.0.1:5432/test';
    if (await answers(local)) return { url: local, stop() {} };
    console.error('[tests] no PostgreSQL answers on 127.0.0.1:5432');
  }
  return startThrowawayCluster();
}
