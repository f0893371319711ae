/**
 * Domain verification results (emails.md §8.1): when the TXT record was last looked up and why
 * the lookup failed. A Domain is `verified` when `verified_at` is set, `failed` when it was
 * checked without success, `pending` when never checked. Also: at most one default SenderProfile
 * per organization, enforced by a partial unique index so two concurrent first creations cannot
 * both become the default (the loser is retried alone and sees the winner).
 */
import { sql, type Kysely } from 'kysely';

// Migrations must not depend on the current Database type: the schema evolves.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('domains').addColumn('last_checked_at', 'bigint').execute();
  await db.schema.alterTable('domains').addColumn('last_error', 'text').execute();
  await db.schema.createIndex('sender_profiles_domain_idx').on('sender_profiles').columns(['organization_id', 'domain_id']).execute();
  await db.schema
    .createIndex('sender_profiles_one_default')
    .on('sender_profiles')
    .column('organization_id')
    .unique()
    .where(sql<boolean>`is_default = 1`)
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(_db: Kysely<any>): Promise<void> {
  throw new Error('down migrations are not supported: restore from a backup instead');
}
