/**
 * Email delivery: consent (subscription groups and statuses), the suppression list, EmailSends
 * and their Messages (the outbox), captured messages of the capture transport, and delivery
 * webhook de-duplication.
 */
import type { Kysely } from 'kysely';

// Migrations must not depend on the current Database type: the schema evolves.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('organizations').addColumn('delivery_webhook_secret', 'text').execute();

  await db.schema
    .createTable('subscription_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('subscription_groups_org_name_unique', ['organization_id', 'name'])
    .execute();

  await db.schema
    .createTable('subscription_statuses')
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('profile_id', 'text', (c) => c.notNull())
    .addColumn('subscription_group_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('subscription_statuses_pk', ['profile_id', 'subscription_group_id'])
    .execute();
  await db.schema.createIndex('subscription_statuses_group_idx').on('subscription_statuses').columns(['subscription_group_id', 'status']).execute();

  // One row per address and organization; `email` is null for the hashed marker left by erasure.
  await db.schema
    .createTable('suppressions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('email_hash', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('suppressed_at', 'bigint', (c) => c.notNull())
    .addColumn('latest_bounce_reason', 'text')
    .addColumn('latest_bounce_diagnostic_code', 'text')
    .addUniqueConstraint('suppressions_org_hash_unique', ['organization_id', 'email_hash'])
    .execute();

  await db.schema
    .createTable('email_sends')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('template_id', 'text', (c) => c.notNull())
    .addColumn('template_snapshot_id', 'text', (c) => c.notNull())
    .addColumn('sender_profile_id', 'text', (c) => c.notNull())
    .addColumn('from_email', 'text', (c) => c.notNull())
    .addColumn('from_name', 'text')
    .addColumn('reply_to_email', 'text')
    .addColumn('reply_to_name', 'text')
    .addColumn('subject', 'text')
    .addColumn('subscription_group_id', 'text')
    .addColumn('profile_id', 'text')
    .addColumn('to_email', 'text')
    .addColumn('cc', 'text', (c) => c.notNull())
    .addColumn('bcc', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('tracking_clicks', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('journey_id', 'text')
    .addColumn('journey_run_id', 'text')
    .addColumn('broadcast_id', 'text')
    .addColumn('send_key', 'text')
    .addColumn('sent_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('email_sends_org_send_key_unique', ['organization_id', 'send_key'])
    .execute();
  await db.schema.createIndex('email_sends_org_id_idx').on('email_sends').columns(['organization_id', 'id']).execute();
  await db.schema.createIndex('email_sends_profile_idx').on('email_sends').columns(['organization_id', 'profile_id']).execute();

  // The delivery record of an EmailSend: Message-ID, rendered MIME until hand-off, attempts.
  await db.schema
    .createTable('messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('email_send_id', 'text', (c) => c.notNull().unique())
    .addColumn('message_id_header', 'text', (c) => c.notNull())
    .addColumn('mime', 'text')
    .addColumn('envelope', 'text')
    .addColumn('transport_message_id', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('last_event', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('messages_header_idx').on('messages').columns(['organization_id', 'message_id_header']).execute();

  // The capture transport's store: one row per Message-ID, however often it is handed off.
  await db.schema
    .createTable('captured_messages')
    .addColumn('message_id_header', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('email_send_id', 'text', (c) => c.notNull())
    .addColumn('raw', 'text', (c) => c.notNull())
    .addColumn('handoff_count', 'integer', (c) => c.notNull())
    .addColumn('captured_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('captured_messages_send_idx').on('captured_messages').column('email_send_id').execute();

  await db.schema
    .createTable('delivery_webhook_events')
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('delivery_webhook_events_pk', ['organization_id', 'event_id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(_db: Kysely<any>): Promise<void> {
  throw new Error('down migrations are not supported: restore from a backup instead');
}
