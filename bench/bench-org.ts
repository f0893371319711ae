/**
 * What the in-process benchmarks start from: a migrated database, the product's deps on it, and
 * an organization with an all-scopes API key and the dev sender.
 */
import { randomBytes } from 'node:crypto';
import { defaultConfig, type DatabaseConfig, type LogLevel } from '../src/config.js';
import type { Db } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createDeps, type Deps } from '../src/deps.js';
import type { Clock } from '../src/lib/clock.js';
import { uuidV7 } from '../src/lib/ids.js';
import { createLogger } from '../src/logger.js';
import { createApiKey } from '../src/modules/api-keys/api-keys.service.js';
import { SCOPES } from '../src/modules/api-keys/scopes.js';
import { createOrganization } from '../src/modules/orgs/orgs.service.js';
import { createDevSender } from '../src/modules/senders/senders.service.js';

export interface BenchOrganization {
  deps: Deps;
  organizationId: string;
  apiKey: string;
}

export async function createBenchOrganization(
  db: Db,
  options: { database: DatabaseConfig; clock: Clock; logLevel: LogLevel; workerConcurrency?: number },
): Promise<BenchOrganization> {
  await migrateToLatest(db);
  const deps = createDeps({
    config: defaultConfig({ database: options.database, logLevel: options.logLevel, ...(options.workerConcurrency ? { workerConcurrency: options.workerConcurrency } : {}) }),
    db,
    clock: options.clock,
    ids: uuidV7,
    logger: createLogger(options.logLevel),
    secret: randomBytes(32).toString('hex'),
  });
  const org = await createOrganization(db.kysely, deps, `bench-${randomBytes(4).toString('hex')}`);
  if (!org.ok) throw new Error(`could not create the organization: ${org.error.type}`);
  const organizationId = org.value.id;
  const { key } = await createApiKey(db.kysely, deps, { organizationId, label: 'bench', scopes: [...SCOPES] });
  await createDevSender(db.kysely, deps, organizationId);
  return { deps, organizationId, apiKey: key };
}
