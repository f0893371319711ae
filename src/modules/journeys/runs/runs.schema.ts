/** Request and response schemas of the run routes (journeys.md §7, §7.1, §8). */
import { Type, type Static } from 'typebox';
import { PageQueryFields } from '../../../http/pagination.js';
import { NO_CONTROL_CHARS } from '../../../http/patterns.js';
import { UUID_PATTERN } from '../../../lib/ids.js';

const Uuid = Type.String({ pattern: UUID_PATTERN });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Free = (description?: string) => Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true, ...(description ? { description } : {}) });

export const RUN_STATUSES = ['queued', 'running', 'completed', 'failed', 'exited'] as const;
const RunStatus = Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)));

export const JourneyKeyParams = Type.Object({ journeyKey: Type.String({ minLength: 1, maxLength: 120, description: "The journey's key (not its id)." }) });
export const RunIdParams = Type.Object({ runId: Uuid });
export const JourneyIdParams = Type.Object({ id: Uuid });

export const TriggerBody = Type.Object(
  {
    profile: Type.Object(
      {
        email: Type.Optional(Type.String({ format: 'sf-email', maxLength: 320, description: 'Trimmed and lower-cased before use.' })),
        externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: NO_CONTROL_CHARS })),
        userId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: NO_CONTROL_CHARS, description: 'Synonym of externalId (both given and different → 400).' })),
        anonymousId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: NO_CONTROL_CHARS, description: 'Linked to the resolved Profile (moved from another Profile it was linked to, as ingest does); never finds or creates one.' })),
        properties: Type.Optional(
          Type.Unsafe<Record<string, unknown>>({
            type: 'object',
            additionalProperties: true,
            maxProperties: 256,
            propertyNames: { minLength: 1, maxLength: 255 },
            description: 'Durable Profile Properties (lineage source journeys.trigger). Each value ≤ 32 KiB of JSON.',
          }),
        ),
      },
      {
        additionalProperties: false,
        anyOf: [{ required: ['email'] }, { required: ['externalId'] }, { required: ['userId'] }],
        description: 'Identity (one of email / externalId / userId) plus optional properties; resolved as in events.track.',
      },
    ),
    variables: Type.Optional(Free('Trigger variables (≤ 64 KiB serialised), exposed as /variables/*.')),
  },
  { additionalProperties: false },
);
export type TriggerBody = Static<typeof TriggerBody>;

export const TriggerResponse = Type.Object({ runId: Type.String(), status: Type.Literal('queued') });

export const RunStepSchema = Type.Object({
  stepId: Type.String(),
  type: Type.String(),
  status: Type.String({ description: 'entered | waiting | completed | skipped | failed' }),
  reason: Nullable(Type.String()),
  enteredAt: Type.String(),
  dueAt: Nullable(Type.String()),
  completedAt: Nullable(Type.String()),
  next: Nullable(Type.String({ description: 'The step the run continued to after this one.' })),
  outcome: Type.Unsafe<unknown>({ description: 'send_email {emailSendId}, branch {branch}, wait_for_event {matchedEventId}, delay {until}, update_profile {properties, skippedKeys}; null otherwise.' }),
});

const runFields = {
  runId: Type.String(),
  journeyId: Type.String(),
  journeyKey: Type.String(),
  version: Type.Integer(),
  versionId: Type.String(),
  profileId: Type.String(),
  workflowId: Type.Null(),
  status: RunStatus,
  entry: Free('{type: "event", event, eventId} or {type: "api", variables}.'),
  triggeredAt: Type.String(),
  completedAt: Nullable(Type.String()),
  error: Nullable(Type.String()),
  exitReason: Nullable(Type.String({ description: 'exit_event | journey_archived | manual' })),
  exitEventId: Nullable(Type.String({ description: 'The event that ended the run through exitOn (exitReason exit_event).' })),
  currentStepId: Nullable(Type.String()),
};

export const RunSchema = Type.Object({ ...runFields, steps: Type.Optional(Type.Array(RunStepSchema)) });
export const RunListItemSchema = Type.Object(runFields);

export const ListRunsQuery = Type.Object(
  { journeyId: Type.Optional(Uuid), profileId: Type.Optional(Uuid), status: Type.Optional(RunStatus), ...PageQueryFields },
  { additionalProperties: false },
);
export const ListJourneyRunsQuery = Type.Object({ profileId: Type.Optional(Uuid), status: Type.Optional(RunStatus), ...PageQueryFields }, { additionalProperties: false });

export const EntryDecisionSchema = Type.Object({
  id: Type.String(),
  journeyId: Type.String(),
  versionId: Type.String(),
  profileId: Type.String(),
  eventId: Nullable(Type.String()),
  outcome: Type.Union([Type.Literal('enrolled'), Type.Literal('skipped')]),
  reason: Nullable(Type.String()),
  runId: Nullable(Type.String()),
  decidedAt: Type.String(),
});
export const ListEntryDecisionsQuery = Type.Object(
  { profileId: Type.Optional(Uuid), outcome: Type.Optional(Type.Union([Type.Literal('enrolled'), Type.Literal('skipped')])), ...PageQueryFields },
  { additionalProperties: false },
);

const Counts = (keys: readonly string[]) => Type.Object(Object.fromEntries(keys.map((k) => [k, Type.Integer()])));
export const StatsQuery = Type.Object({ versionId: Type.Optional(Uuid) }, { additionalProperties: false });
export const StatsSchema = Type.Object({
  runs: Counts(RUN_STATUSES),
  entries: Counts(['enrolled', 'skipped']),
  steps: Type.Record(Type.String(), Counts(['entered', 'waiting', 'completed', 'skipped', 'failed'])),
});

export const page = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });
