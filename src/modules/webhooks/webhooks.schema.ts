/** Request and response schemas of the delivery webhooks (emails.md §8.5). Descriptions reach OpenAPI. */
import { Type, type Static } from 'typebox';

export const MAX_WEBHOOK_EVENTS = 100;

export const DeliveryEventSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 255, description: 'Provider event id; an id already received for this organization is counted as a duplicate and ignored.' }),
    type: Type.Union([Type.Literal('bounce'), Type.Literal('complaint'), Type.Literal('delivered')]),
    bounceType: Type.Optional(
      Type.Union([Type.Literal('hard'), Type.Literal('soft')], { description: 'For type bounce: hard bounces suppress the address, soft bounces are only recorded on the Message. When absent, the bounce is hard only when diagnosticCode starts with a permanent reply (an SMTP 5xx code or a 5.x.x status code, after an optional `smtp;`-style prefix and an optional # or quote); otherwise soft.' }),
    ),
    email: Type.String({ format: 'sf-email', maxLength: 254, description: 'The recipient address the event is about.' }),
    messageId: Type.Optional(Type.String({ minLength: 1, maxLength: 998, description: 'Message-ID header of the message (with or without angle brackets).' })),
    diagnosticCode: Type.Optional(Type.String({ maxLength: 1000 })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    occurredAt: Type.String({ format: 'sf-date-time' }),
  },
  { additionalProperties: false },
);
export type DeliveryEventInput = Static<typeof DeliveryEventSchema>;

export const GenericWebhookBody = Type.Object(
  { events: Type.Array(DeliveryEventSchema, { maxItems: MAX_WEBHOOK_EVENTS, description: `At most ${MAX_WEBHOOK_EVENTS} events.` }) },
  { additionalProperties: false },
);
export type GenericWebhookBody = Static<typeof GenericWebhookBody>;

const Text = (maxLength: number) => Type.Optional(Type.String({ maxLength }));

/**
 * The fields of Postmark's Bounce, SpamComplaint and Delivery webhooks that are used; Postmark's
 * other fields (and other record types, such as Open or Click) are accepted and ignored.
 */
export const PostmarkWebhookBody = Type.Object(
  {
    RecordType: Type.String({ minLength: 1, maxLength: 64, description: 'Bounce, SpamComplaint or Delivery; other record types are acknowledged and ignored.' }),
    ID: Type.Optional(Type.Union([Type.Integer(), Type.String({ minLength: 1, maxLength: 200 })])),
    Type: Text(64),
    Email: Text(320),
    Recipient: Text(320),
    MessageID: Text(998),
    Description: Text(10_000),
    Details: Text(10_000),
    BouncedAt: Text(64),
    DeliveredAt: Text(64),
  },
  { additionalProperties: true },
);
export type PostmarkWebhookBody = Static<typeof PostmarkWebhookBody>;

export const WebhookResult = Type.Object({
  received: Type.Integer({ minimum: 0, description: 'Events in the request.' }),
  duplicates: Type.Integer({ minimum: 0, description: 'Of those, events whose id had already been received (ignored).' }),
});

export const OrganizationParams = Type.Object({ organizationId: Type.String({ description: 'The organization the webhook delivers to.' }) });

export const WebhookSecretResponse = Type.Object({
  secret: Type.String({ description: 'The new delivery-webhook secret. Shown only in this response; the previous secret stops working immediately.' }),
});

export const SignatureHeaders = Type.Object({
  'segmentflow-signature': Type.Optional(
    Type.String({ description: 't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>; checked before the body is validated (401 when missing, wrong or older/newer than 300 s).' }),
  ),
});
