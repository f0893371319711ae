/**
 * `segmentflow serve`: migrate, bootstrap, then run the HTTP API and/or the job worker in this
 * process until SIGTERM/SIGINT, which stops accepting, finishes in-flight requests and claimed
 * jobs (≤ 30 s) and exits 0.
 */
import type { Config, ConfigProblem } from '../config.js';
import { buildApp } from '../app.js';
import { connectDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import { createDeps } from '../deps.js';
import { systemClock } from '../lib/clock.js';
import { uuidV7 } from '../lib/ids.js';
import { err, ok, type Result } from '../lib/result.js';
import { API_KEY_PREFIX } from '../modules/api-keys/secrets.js';
import { createLogger } from '../logger.js';
import { bootstrapInstance } from '../modules/orgs/bootstrap.js';
import { createWorker } from '../worker.js';

export type Role = 'api' | 'worker' | 'all';

/** Starts and keeps running; resolves with a configuration problem only found against the database. */
export async function serve(config: Config, role: Role): Promise<Result<void, ConfigProblem>> {
  const logger = createLogger(config.logLevel);
  const db = connectDatabase(config.database);
  await migrateToLatest(db);
  const bootstrapped = await bootstrapInstance(db, { clock: systemClock, ids: uuidV7 }, {
    bootstrapApiKey: config.bootstrapApiKey,
    configuredSecret: config.secret,
    mailTransport: config.mailTransport,
  });
  if (!bootstrapped.ok) {
    await db.close();
    return err({
      variable: 'SEGMENTFLOW_BOOTSTRAP_API_KEY',
      message: `starts with ${API_KEY_PREFIX} but is not a generated key (its checksum does not match), so it could never authenticate; use another prefix`,
    });
  }
  const boot = bootstrapped.value;
  let deps: ReturnType<typeof createDeps>;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let worker: ReturnType<typeof createWorker> | null;
  try {
    deps = createDeps({ config, db, clock: systemClock, ids: uuidV7, logger, secret: boot.secret });
    app = await buildApp(deps, { operationalOnly: role === 'worker' });
    worker = role === 'api' ? null : createWorker(deps);
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    // The key exists now and later starts will not print it: a first start that fails after
    // bootstrapping (port in use, a bad SMTP URL option…) still shows it once.
    if (boot.bootstrapApiKey !== null) process.stderr.write(`Bootstrap API key (shown once, all scopes): ${boot.bootstrapApiKey}\n`);
    throw error;
  }
  worker?.start();

  if (config.mailTransport === 'smtp' && !config.publicUrl.startsWith('https://')) {
    // Mailbox providers only honour one-click unsubscribe (RFC 8058) over https.
    logger.warn({ publicUrl: config.publicUrl }, 'SEGMENTFLOW_PUBLIC_URL is not https: List-Unsubscribe links in real mail should be https');
  }
  // The port actually bound (PORT=0 picks a free one).
  const address = app.server.address();
  const base = `http://localhost:${typeof address === 'object' && address !== null ? address.port : config.port}`;
  const out = [`Segmentflow listening on ${base}  (role ${role} · ${db.describe} · mail ${config.mailTransport})`];
  if (boot.bootstrapApiKey !== null) out.push(`Bootstrap API key (shown once, all scopes): ${boot.bootstrapApiKey}`);
  if (role !== 'worker') out.push(`API reference: ${base}/docs   OpenAPI: ${base}/api/v1/openapi.json`);
  process.stdout.write(out.join('\n') + '\n');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('graceful shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    deadline.unref();
    try {
      await Promise.all([app.close(), worker?.stop({ timeoutMs: 28_000 })]);
      // Units of requests whose clients already left may still be queued: commit them first.
      await deps.committer.drain();
      await db.close();
      logger.flush();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  return ok(undefined);
}
