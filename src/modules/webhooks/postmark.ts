/**
 * The Postmark adapter: Postmark's Bounce, SpamComplaint and Delivery webhook payloads (one
 * record per request) as DeliveryEvents. Bounce types HardBounce and BadEmailAddress are hard,
 * SpamComplaint is a complaint, every other bounce type (SoftBounce, Transient, DnsError, …) is
 * soft. Other record types (Open, Click, SubscriptionChange, …) carry nothing for us and yield no
 * event. Postmark's MessageID is its own id, so the Message is found by the transport's message id.
 */
import { canonicalEmail, isValidEmail } from '../../lib/email.js';
import { parseDateTime } from '../../lib/date-time.js';
import { err, ok, type Result } from '../../lib/result.js';
import type { DeliveryEvent } from './webhooks.service.js';
import { messageIdHeaderOf } from './webhooks.service.js';
import type { PostmarkWebhookBody } from './webhooks.schema.js';

export interface PayloadProblem {
  pointer: string;
  message: string;
}

const HARD_BOUNCE_TYPES = new Set(['HardBounce', 'BadEmailAddress']);
const MAX_TEXT = 1000;

const clip = (value: string | undefined) => (value === undefined || value === '' ? null : value.slice(0, MAX_TEXT));

export function postmarkEvents(body: PostmarkWebhookBody): Result<DeliveryEvent[], PayloadProblem[]> {
  const kind = body.RecordType;
  if (kind !== 'Bounce' && kind !== 'SpamComplaint' && kind !== 'Delivery') return ok([]);
  const problems: PayloadProblem[] = [];
  const emailField = kind === 'Delivery' ? 'Recipient' : 'Email';
  const timeField = kind === 'Delivery' ? 'DeliveredAt' : 'BouncedAt';
  const email = body[emailField];
  const time = body[timeField];
  if (email === undefined) problems.push({ pointer: `/${emailField}`, message: 'is required' });
  else if (!isValidEmail(email)) problems.push({ pointer: `/${emailField}`, message: 'must be a valid email address' });
  const occurredAt = time === undefined ? null : parseDateTime(time);
  if (time === undefined) problems.push({ pointer: `/${timeField}`, message: 'is required' });
  else if (occurredAt === null) problems.push({ pointer: `/${timeField}`, message: 'must be an ISO-8601 date-time with a zone' });
  if (kind === 'Delivery' ? body.MessageID === undefined || body.MessageID === '' : body.ID === undefined) {
    problems.push({ pointer: kind === 'Delivery' ? '/MessageID' : '/ID', message: 'is required' });
  }
  if (problems.length > 0) return err(problems);

  const address = canonicalEmail(email!);
  const messageId = body.MessageID === undefined || body.MessageID === '' ? null : body.MessageID;
  const type: DeliveryEvent['type'] = kind === 'Delivery' ? 'delivered' : kind === 'SpamComplaint' || body.Type === 'SpamComplaint' ? 'complaint' : 'bounce';
  return ok([
    {
      // Deliveries have no record id; one delivery per message and recipient.
      id: kind === 'Delivery' ? `postmark:Delivery:${messageId!}:${address}` : `postmark:${kind}:${String(body.ID)}`,
      type,
      bounceType: type === 'bounce' ? (HARD_BOUNCE_TYPES.has(body.Type ?? '') ? 'hard' : 'soft') : null,
      email: address,
      messageIdHeader: messageId === null ? null : messageIdHeaderOf(messageId),
      transportMessageId: messageId,
      diagnosticCode: clip(body.Details),
      reason: kind === 'Delivery' ? null : clip(body.Description),
      occurredAt: occurredAt!,
    },
  ]);
}
