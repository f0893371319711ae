/** Request and response schemas of the emails routes (emails.md §1–3). */
import { Type, type Static } from 'typebox';
import { NO_CONTROL_CHARS, NO_CR_LF_NUL, PRINTABLE_ASCII } from '../../http/patterns.js';
import { UUID_PATTERN } from '../../lib/ids.js';

const Uuid = Type.String({ pattern: UUID_PATTERN });
const Friendly = Type.String({ minLength: 1, maxLength: 320, pattern: NO_CR_LF_NUL, description: 'email, "Name email", "Name <email>" or "\\"Name, Inc.\\" <email>".' });
const FriendlyList = Type.Union([Friendly, Type.Array(Friendly, { maxItems: 10 })], { description: 'One string (comma-separated addresses allowed) or an array; at most 10 addresses.' });
const Free = Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true });

export const sendFields = {
  templateId: Uuid,
  profileId: Type.Optional(Uuid),
  senderProfileId: Type.Optional(Uuid),
  from: Type.Optional(Friendly),
  replyTo: Type.Optional(Friendly),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998, pattern: NO_CR_LF_NUL })),
  subscriptionGroupId: Type.Optional(Uuid),
  to: Type.Optional(
    Type.Object(
      {
        email: Type.Optional(Type.String({ format: 'sf-email', maxLength: 320, pattern: NO_CR_LF_NUL })),
        externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: NO_CONTROL_CHARS })),
      },
      { additionalProperties: false },
    ),
  ),
  cc: Type.Optional(FriendlyList),
  bcc: Type.Optional(FriendlyList),
  data: Type.Optional(Free),
  tracking: Type.Optional(Type.Object({ clicks: Type.Boolean() }, { additionalProperties: false })),
};

export const SendEmailBody = Type.Object(sendFields, { additionalProperties: false });
export type SendEmailBody = Static<typeof SendEmailBody>;

export const BatchItem = Type.Object(
  { ...sendFields, idempotencyKey: Type.String({ minLength: 1, maxLength: 255, pattern: PRINTABLE_ASCII }) },
  { additionalProperties: false },
);

export const BatchDefaults = Type.Object(
  {
    templateId: Type.Optional(Uuid),
    senderProfileId: Type.Optional(Uuid),
    from: Type.Optional(Friendly),
    replyTo: Type.Optional(Friendly),
    subject: sendFields.subject,
    subscriptionGroupId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    tracking: sendFields.tracking,
  },
  { additionalProperties: false },
);

export const BatchBody = Type.Object(
  {
    items: Type.Array(Type.Unsafe<Record<string, unknown>>({ type: 'object' }), { minItems: 1, maxItems: 100, description: 'Each item: the single-send fields plus idempotencyKey.' }),
    defaults: Type.Optional(BatchDefaults),
  },
  { additionalProperties: false },
);

const Address = Type.Object({ email: Type.String(), name: Type.Union([Type.String(), Type.Null()]) });
const Nullable = Type.Union([Type.String(), Type.Null()]);

export const EmailSendSchema = Type.Object({
  id: Type.String(),
  status: Type.Union(['Queued', 'Processing', 'Sent', 'Failed', 'Skipped'].map((s) => Type.Literal(s))),
  templateId: Type.String(),
  templateSnapshotId: Type.String(),
  senderProfileId: Type.String(),
  from: Address,
  replyTo: Type.Union([Address, Type.Null()]),
  subject: Nullable,
  subscriptionGroupId: Nullable,
  profileId: Nullable,
  to: Type.Union([Type.Object({ email: Type.String() }), Type.Null()]),
  cc: Type.Array(Address),
  messageId: Nullable,
  failureMessage: Nullable,
  failureReason: Nullable,
  source: Type.String(),
  journeyId: Nullable,
  journeyRunId: Nullable,
  broadcastId: Nullable,
  sentAt: Nullable,
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const EmailIdParams = Type.Object({ id: Uuid });

/** The 200 answer of `POST /api/v1/emails/batch` (emails.md §2). */
export const BatchResultSchema = Type.Object({
  total: Type.Integer({ minimum: 0 }),
  accepted: Type.Integer({ minimum: 0, description: 'Items that created or replayed an EmailSend (Skipped sends included).' }),
  rejected: Type.Integer({ minimum: 0, description: 'Items refused before creating an EmailSend.' }),
  items: Type.Array(
    Type.Object(
      {
        index: Type.Integer({ minimum: 0, description: 'Position of the item in the request.' }),
        idempotencyKey: Nullable,
        send: Type.Optional(EmailSendSchema),
        error: Type.Optional(Type.Ref('ErrorEnvelope')),
      },
      { description: 'An accepted item has `send`; a rejected one `error`, the envelope the single route would have answered (pointers relative to the batch body).' },
    ),
    { description: 'One entry per item, in request order.' },
  ),
}, { description: 'The outcome of every item; 200 even when every item is rejected.' });

/** The JSON form of `GET /api/v1/emails/{id}/message` (emails.md §3). */
export const CapturedMessageSchema = Type.Object({
  emailSendId: Type.String(),
  messageIdHeader: Type.String(),
  capturedAt: Type.String(),
  handoffCount: Type.Integer({ minimum: 1 }),
  headers: Type.Array(Type.Array(Type.String(), { minItems: 2, maxItems: 2 }), { description: '[name, value] pairs in message order; names as written, values unfolded.' }),
  subject: Type.String(),
  from: Type.String(),
  to: Type.String(),
  cc: Type.String(),
  html: Type.String(),
  text: Type.String(),
  raw: Type.String({ description: 'The whole MIME message.' }),
});

export const ListEmailsQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(['Queued', 'Processing', 'Sent', 'Failed', 'Skipped'].map((s) => Type.Literal(s)))),
    profileId: Type.Optional(Uuid),
    templateId: Type.Optional(Uuid),
    journeyRunId: Type.Optional(Uuid),
    broadcastId: Type.Optional(Uuid),
    since: Type.Optional(Type.String({ format: 'sf-date-time' })),
    until: Type.Optional(Type.String({ format: 'sf-date-time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);
