/**
 * SQL of the delivery webhooks: the per-organization secret (`organizations.delivery_webhook_secret`),
 * the de-duplication table, and the `last_event` of Messages. The organizations and messages
 * tables belong to other modules; only these two columns are touched here.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';

export async function selectDeliveryWebhookSecret(db: Kysely<Database>, organizationId: string): Promise<string | null> {
  const row = await db.selectFrom('organizations').select('delivery_webhook_secret').where('id', '=', organizationId).executeTakeFirst();
  return row?.delivery_webhook_secret ?? null;
}

/** False when the organization does not exist. */
export async function updateDeliveryWebhookSecret(db: Kysely<Database>, organizationId: string, secret: string): Promise<boolean> {
  const result = await db.updateTable('organizations').set({ delivery_webhook_secret: secret }).where('id', '=', organizationId).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** True when the event id is new for the organization (and is now recorded). */
export async function insertWebhookEventIfNew(db: Kysely<Database>, organizationId: string, eventId: string, at: number): Promise<boolean> {
  const inserted = await db
    .insertInto('delivery_webhook_events')
    .values({ organization_id: organizationId, event_id: eventId, received_at: at })
    .onConflict((oc) => oc.columns(['organization_id', 'event_id']).doNothing())
    .returning('event_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export interface MessageEventTarget {
  id: string;
  last_event: string | null;
}

export function selectMessageByHeader(db: Kysely<Database>, organizationId: string, messageIdHeader: string): Promise<MessageEventTarget | undefined> {
  return db
    .selectFrom('messages')
    .select(['id', 'last_event'])
    .where('organization_id', '=', organizationId)
    .where('message_id_header', '=', messageIdHeader)
    .executeTakeFirst();
}

/** By the id the transport returned at hand-off (providers' own message ids). Not indexed: adapters only. */
export function selectMessageByTransportId(db: Kysely<Database>, organizationId: string, transportMessageId: string): Promise<MessageEventTarget | undefined> {
  return db
    .selectFrom('messages')
    .select(['id', 'last_event'])
    .where('organization_id', '=', organizationId)
    .where('transport_message_id', '=', transportMessageId)
    .executeTakeFirst();
}

export async function updateMessageLastEvent(db: Kysely<Database>, id: string, lastEvent: string, at: number): Promise<void> {
  await db.updateTable('messages').set({ last_event: lastEvent, updated_at: at }).where('id', '=', id).execute();
}
