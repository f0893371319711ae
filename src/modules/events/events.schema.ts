/**
 * Request and response schemas of the events routes (events.md §1, §2, §7). The descriptions
 * reach the OpenAPI document.
 */
import { Type, type Static } from 'typebox';
import { NO_CONTROL_CHARS } from '../../http/patterns.js';
import { UUID_PATTERN } from '../../lib/ids.js';

const FreeObject = <T = Record<string, unknown>>(options: Record<string, unknown> = {}) =>
  Type.Unsafe<T>({ type: 'object', additionalProperties: true, ...options });

/** `redactedDataPaths` (events.md §5): also accepted by the journey simulator for its event data. */
export const RedactedDataPaths = (description: string) =>
  Type.Array(Type.String({ pattern: '^/event/', format: 'sf-json-pointer', maxLength: 1024 }), { maxItems: 100, description });

export const TrackEventBody = Type.Object(
  {
    event: Type.String({ minLength: 1, maxLength: 255, pattern: NO_CONTROL_CHARS, description: 'Business event name, case-sensitive.' }),
    profile: Type.Object(
      {
        email: Type.Optional(Type.String({ format: 'sf-email', maxLength: 320, description: 'Trimmed and lower-cased before use.' })),
        externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: NO_CONTROL_CHARS, description: 'Caller-owned stable id; opaque and case-sensitive.' })),
        properties: Type.Optional(
          FreeObject({ maxProperties: 256, propertyNames: { minLength: 1, maxLength: 255 }, description: 'Durable Profile Properties (last-write-wins by occurredAt). Each value ≤ 32 KiB of JSON.' }),
        ),
      },
      {
        additionalProperties: false,
        anyOf: [{ required: ['email'] }, { required: ['externalId'] }],
        description: 'Identity (at least one of email / externalId) plus optional properties.',
      },
    ),
    data: Type.Optional(FreeObject({ description: 'One-event payload (≤ 256 KiB serialised), exposed to templates and conditions as /event/*.' })),
    referenceId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Caller correlation id; not used for idempotency.' })),
    redactedDataPaths: Type.Optional(RedactedDataPaths('JSON Pointers under /event/ removed from data before anything is stored or logged.')),
    occurredAt: Type.Optional(Type.String({ format: 'sf-date-time', description: 'When the event happened (default: receipt time); at most 24 h in the future.' })),
  },
  { additionalProperties: false },
);
export type TrackEventBody = Static<typeof TrackEventBody>;

export const TrackEventResponse = Type.Object({
  eventId: Type.String(),
  profileId: Type.String(),
  matchedJourneys: Type.Integer({ minimum: 0 }),
  enrolledJourneys: Type.Integer({ minimum: 0 }),
  skippedJourneys: Type.Integer({ minimum: 0 }),
});
export type TrackEventResponse = Static<typeof TrackEventResponse>;

export const UserEventSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  event: Type.Union([Type.String(), Type.Null()]),
  profileId: Type.Union([Type.String(), Type.Null()]),
  data: FreeObject(),
  redactedPaths: Type.Array(Type.String()),
  referenceId: Type.Union([Type.String(), Type.Null()]),
  occurredAt: Type.String(),
  receivedAt: Type.String(),
  source: Type.String(),
  messageId: Type.Union([Type.String(), Type.Null()]),
  userId: Type.Union([Type.String(), Type.Null()]),
  anonymousId: Type.Union([Type.String(), Type.Null()]),
  context: Type.Union([FreeObject(), Type.Null()]),
});

export const EventIdParams = Type.Object({ eventId: Type.String({ pattern: UUID_PATTERN }) });

export const ListEventsQuery = Type.Object(
  {
    profileId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    referenceId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    source: Type.Optional(Type.Union([Type.Literal('events.track'), Type.Literal('ingest'), Type.Literal('segment'), Type.Literal('system')])),
    since: Type.Optional(Type.String({ format: 'sf-date-time' })),
    until: Type.Optional(Type.String({ format: 'sf-date-time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type ListEventsQuery = Static<typeof ListEventsQuery>;
