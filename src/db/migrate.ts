/**
 * Runs the schema migrations with Kysely's Migrator. The migrations are imported statically
 * (not read from a folder) so the same list works from TypeScript sources and the built dist/.
 * Kysely takes a lock around the run (an advisory lock on PostgreSQL), so several processes may
 * start together.
 */
import { Migrator, type Migration, type MigrationResult } from 'kysely';
import type { Db } from './connect.js';
import * as foundation from './migrations/0001-foundation.js';
import * as templates from './migrations/0002-templates.js';
import * as emails from './migrations/0003-emails.js';
import * as domainChecks from './migrations/0004-domain-checks.js';
import * as journeys from './migrations/0005-journeys.js';
import * as jobsClaimOrder from './migrations/0006-jobs-claim-order.js';

const migrations: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-templates': templates,
  '0003-emails': emails,
  '0004-domain-checks': domainChecks,
  '0005-journeys': journeys,
  '0006-jobs-claim-order': jobsClaimOrder,
};

export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1)!;

export async function migrateToLatest(db: Db): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return results ?? [];
}

/** True when every known migration has been applied (used by /readyz). */
export async function migrationsAreCurrent(db: Db): Promise<boolean> {
  const migrator = new Migrator({ db: db.kysely, provider: { getMigrations: async () => migrations } });
  const all = await migrator.getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
