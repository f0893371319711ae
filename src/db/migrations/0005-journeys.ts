/**
 * Journeys: journeys and their immutable versions, runs and the step log, entry decisions,
 * registered waits, and the rows that make re-entry policies hold under concurrency.
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current Database type: the schema evolves.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('journeys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('version_id', 'text', (c) => c.notNull())
    // The latest version's entry event name (null for API entry): the index events.track uses.
    .addColumn('entry_event', 'text')
    .addColumn('activated_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('journeys_org_key_unique', ['organization_id', 'key'])
    .execute();
  await db.schema.createIndex('journeys_entry_idx').on('journeys').columns(['organization_id', 'entry_event', 'status']).execute();

  await db.schema
    .createTable('journey_versions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('journey_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('definition', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('journey_versions_unique', ['journey_id', 'version'])
    .execute();

  await db.schema
    .createTable('journey_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('journey_id', 'text', (c) => c.notNull())
    .addColumn('version_id', 'text', (c) => c.notNull())
    .addColumn('profile_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // JSON {type: "event", event, eventId} or {type: "api"}
    .addColumn('entry', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text')
    .addColumn('variables', 'text', (c) => c.notNull())
    .addColumn('entry_key', 'text')
    .addColumn('current_step_id', 'text')
    .addColumn('exit_reason', 'text')
    .addColumn('exit_event_id', 'text')
    .addColumn('error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('journey_runs_journey_idx').on('journey_runs').columns(['organization_id', 'journey_id', 'id']).execute();
  await db.schema.createIndex('journey_runs_profile_idx').on('journey_runs').columns(['organization_id', 'profile_id', 'status']).execute();

  // One row per step visit: the run log, and what makes a step execute at most once per run.
  await db.schema
    .createTable('journey_run_steps')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('step_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('outcome', 'text')
    .addColumn('due_at', 'bigint')
    .addColumn('entered_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .addUniqueConstraint('journey_run_steps_unique', ['run_id', 'step_id'])
    .execute();

  // Registered wait_for_event steps, found by the events.track transaction of the same Profile.
  await db.schema
    .createTable('journey_waits')
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('step_id', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('profile_id', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('entered_at', 'bigint', (c) => c.notNull())
    .addColumn('deadline', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('journey_waits_pk', ['run_id', 'step_id'])
    .execute();
  await db.schema.createIndex('journey_waits_profile_idx').on('journey_waits').columns(['organization_id', 'profile_id', 'event', 'status']).execute();

  await db.schema
    .createTable('journey_entry_decisions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('journey_id', 'text', (c) => c.notNull())
    .addColumn('version_id', 'text', (c) => c.notNull())
    .addColumn('profile_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('run_id', 'text')
    .addColumn('decided_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('journey_entry_decisions_idx').on('journey_entry_decisions').columns(['organization_id', 'journey_id', 'decided_at']).execute();

  // Re-entry policies under concurrency: the per-(journey, profile) row serialises decisions for
  // one Profile (it is locked by an update), and entry keys are unique.
  await db.schema
    .createTable('journey_profile_state')
    .addColumn('journey_id', 'text', (c) => c.notNull())
    .addColumn('profile_id', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('runs_started', 'integer', (c) => c.notNull())
    .addColumn('active_runs', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('journey_profile_state_pk', ['journey_id', 'profile_id'])
    .execute();
  await db.schema
    .createTable('journey_entry_keys')
    .addColumn('journey_id', 'text', (c) => c.notNull())
    .addColumn('profile_id', 'text', (c) => c.notNull())
    .addColumn('entry_key', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('journey_entry_keys_pk', ['journey_id', 'profile_id', 'entry_key'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(_db: Kysely<any>): Promise<void> {
  throw new Error('down migrations are not supported: restore from a backup instead');
}
