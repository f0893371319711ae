/**
 * An in-process app on a real test database: buildApp(deps) driven with app.inject, a fake
 * clock, and helpers to create organizations and API keys the way the CLI does.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { defaultConfig, type Config } from '../../src/config.js';
import type { Dialect } from '../../src/db/connect.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createApiKey } from '../../src/modules/api-keys/api-keys.service.js';
import { SCOPES, type Scope } from '../../src/modules/api-keys/scopes.js';
import type { JourneyEvaluator } from '../../src/modules/events/journey-hook.js';
import { createOrganization } from '../../src/modules/orgs/orgs.service.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestOrg {
  id: string;
  /** A key with every scope. */
  key: string;
  /** Creates another key of this organization with exactly these scopes. */
  keyWith(scopes: Scope[]): Promise<string>;
}

export interface TestApp {
  app: FastifyInstance;
  deps: Deps;
  clock: FakeClock;
  database: TestDatabase;
  newOrg(): Promise<TestOrg>;
  close(): Promise<void>;
}

export async function createTestApp(
  dialect: Dialect,
  options: { config?: Partial<Config>; journeys?: JourneyEvaluator; clock?: FakeClock; logger?: Logger } = {},
): Promise<TestApp> {
  const database = await createTestDatabase(dialect);
  const clock = options.clock ?? new FakeClock();
  const deps = createDeps({
    config: defaultConfig(options.config),
    db: database.db,
    clock,
    ids: uuidV7,
    logger: options.logger ?? createLogger((process.env.SEGMENTFLOW_TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent'),
    secret: randomBytes(32).toString('hex'),
    ...(options.journeys ? { journeys: options.journeys } : {}),
  });
  const app = await buildApp(deps);
  await app.ready();
  return {
    app,
    deps,
    clock,
    database,
    async newOrg() {
      const created = await createOrganization(database.db.kysely, deps, `org-${randomBytes(6).toString('hex')}`);
      if (!created.ok) throw new Error('could not create organization');
      const id = created.value.id;
      const keyWith = async (scopes: Scope[]) => (await createApiKey(database.db.kysely, deps, { organizationId: id, label: 'test', scopes })).key;
      return { id, key: await keyWith([...SCOPES]), keyWith };
    },
    async close() {
      await app.close();
      await database.destroy();
    },
  };
}

let keyCounter = 0;
/** A fresh Idempotency-Key. */
export function idemKey(): string {
  return `test-${process.pid}-${Date.now()}-${keyCounter++}`;
}

export function json(response: LightMyRequestResponse): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

/** POST /api/v1/events with a key and a fresh (or given) Idempotency-Key. */
export function track(app: FastifyInstance, apiKey: string, body: unknown, idempotencyKey: string = idemKey()) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/events',
    headers: { 'x-api-key': apiKey, 'idempotency-key': idempotencyKey, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
}
