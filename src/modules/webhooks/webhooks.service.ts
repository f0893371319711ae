/**
 * Delivery webhooks (emails.md §8.5): events about messages after hand-off, reported by the
 * provider. Each event is applied once per organization and id: hard bounces and complaints add
 * (or update) a suppression through the suppressions service, and every event whose message is
 * known is recorded as that Message's `last_event` (soft bounces and deliveries have no other
 * effect). Provider adapters translate their payloads into `DeliveryEvent`s.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { addSuppression } from '../subscriptions/suppressions.service.js';
import { generateWebhookSecret } from './webhook-auth.js';
import {
  insertWebhookEventIfNew,
  selectDeliveryWebhookSecret,
  selectMessageByHeader,
  selectMessageByTransportId,
  updateDeliveryWebhookSecret,
  updateMessageLastEvent,
  type MessageEventTarget,
} from './webhooks.store.js';

/**
 * A bounce reported without `bounceType` (emails.md §8.5 makes it optional): hard only when the
 * diagnostic's leading reply says the failure is permanent — an SMTP 5xx reply code or a 5.x.x
 * enhanced status code (RFC 3463) first, after an optional `smtp;`-style type prefix and an
 * optional `#` or quote (Exchange writes `#550 5.1.1 …`) — so an address is never suppressed on a
 * guess: numbers later in the text ("quota 500 MB") count for nothing, and prose before the code
 * ("host mx said: 550 …") makes the bounce soft.
 */
export function bounceTypeOf(diagnosticCode: string | undefined): 'hard' | 'soft' {
  const reply = (diagnosticCode ?? '').replace(/^\s*[a-z][\w-]*\s*;/i, '').replace(/^\s*[#'"]?/, '');
  return /^5(\d\d|\.\d{1,3}\.\d{1,3})(?![\w.])/.test(reply) ? 'hard' : 'soft';
}

export type DeliveryWebhookSource = 'generic' | 'postmark';

export interface DeliveryEvent {
  /** De-duplication key, unique per organization. */
  id: string;
  type: 'bounce' | 'complaint' | 'delivered';
  /** Set for bounces. */
  bounceType: 'hard' | 'soft' | null;
  email: string;
  /** `<…>` form of the Message-ID header, when the provider reports it. */
  messageIdHeader: string | null;
  /** The provider's own message id (what the transport returned at hand-off). */
  transportMessageId: string | null;
  diagnosticCode: string | null;
  reason: string | null;
  occurredAt: number;
}

/** What is stored in `messages.last_event` (JSON). The address is not repeated there. */
export interface MessageLastEvent {
  eventId: string;
  source: DeliveryWebhookSource;
  type: DeliveryEvent['type'];
  bounceType: DeliveryEvent['bounceType'];
  diagnosticCode: string | null;
  reason: string | null;
  occurredAt: string;
  receivedAt: string;
}

/** The secret that authenticates an organization's webhooks; null for an unknown organization or before the first rotation. */
export function deliveryWebhookSecret(db: Kysely<Database>, organizationId: string): Promise<string | null> {
  return selectDeliveryWebhookSecret(db, organizationId);
}

/** Replaces the secret (the old one stops working at once) and returns the new one, or null for an unknown organization. */
export async function rotateDeliveryWebhookSecret(db: Kysely<Database>, organizationId: string): Promise<string | null> {
  const secret = generateWebhookSecret();
  return (await updateDeliveryWebhookSecret(db, organizationId, secret)) ? secret : null;
}

/** `<id@host>` whether or not the brackets were given. */
export function messageIdHeaderOf(value: string): string {
  const trimmed = value.trim();
  return trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed : `<${trimmed}>`;
}

async function findMessage(db: Kysely<Database>, organizationId: string, event: DeliveryEvent): Promise<MessageEventTarget | undefined> {
  if (event.messageIdHeader !== null) {
    const byHeader = await selectMessageByHeader(db, organizationId, event.messageIdHeader);
    if (byHeader) return byHeader;
  }
  return event.transportMessageId === null ? undefined : selectMessageByTransportId(db, organizationId, event.transportMessageId);
}

/** Events arrive out of order: a Message keeps the one that happened last. */
function isNewer(event: DeliveryEvent, stored: string | null): boolean {
  if (stored === null) return true;
  try {
    const previous = Date.parse((JSON.parse(stored) as { occurredAt?: string }).occurredAt ?? '');
    return Number.isNaN(previous) || event.occurredAt >= previous;
  } catch {
    return true;
  }
}

/**
 * Applies new events in order, inside the caller's transaction; an id already received for the
 * organization (in an earlier request or earlier in this one) is a duplicate and changes nothing.
 */
export async function processDeliveryEvents(
  db: Kysely<Database>,
  deps: { clock: Clock; ids: IdGenerator; secret: string },
  organizationId: string,
  source: DeliveryWebhookSource,
  events: DeliveryEvent[],
): Promise<{ received: number; duplicates: number }> {
  const now = deps.clock.now();
  let duplicates = 0;
  for (const event of events) {
    if (!(await insertWebhookEventIfNew(db, organizationId, event.id, now))) {
      duplicates++;
      continue;
    }
    const suppress = event.type === 'complaint' ? 'complaint' : event.type === 'bounce' && event.bounceType === 'hard' ? 'hard_bounce' : null;
    if (suppress !== null) {
      await addSuppression(
        db,
        deps.secret,
        organizationId,
        { email: event.email, reason: suppress, source: 'webhook', bounceReason: event.reason, diagnosticCode: event.diagnosticCode, at: now },
        deps.ids,
      );
    }
    const message = await findMessage(db, organizationId, event);
    if (message && isNewer(event, message.last_event)) {
      const lastEvent: MessageLastEvent = {
        eventId: event.id,
        source,
        type: event.type,
        bounceType: event.bounceType,
        diagnosticCode: event.diagnosticCode,
        reason: event.reason,
        occurredAt: toIso(event.occurredAt),
        receivedAt: toIso(now),
      };
      await updateMessageLastEvent(db, message.id, JSON.stringify(lastEvent), now);
    }
  }
  return { received: events.length, duplicates };
}
