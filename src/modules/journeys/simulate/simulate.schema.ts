/** Request and response schemas of `POST /api/v1/journeys/{id}/simulate` (journeys.md §9). */
import { Type } from 'typebox';
import { UUID_PATTERN } from '../../../lib/ids.js';
import { RedactedDataPaths } from '../../events/events.schema.js';
import { MAX_SIMULATED_EVENTS } from './simulate.service.js';

const Json = Type.Record(Type.String(), Type.Unknown());
const NullableJson = Type.Union([Json, Type.Null()]);
const DateTime = Type.String({ format: 'sf-date-time' });
const Nullable = Type.Union([Type.String(), Type.Null()]);

export const SimulateJourneyBody = Type.Object(
  {
    definition: Type.Optional(Type.Unknown({ description: 'An unsaved definition, validated as on save (structure → 400, semantics → 422); default: the latest version.' })),
    profileId: Type.Optional(Type.Union([Type.String({ pattern: UUID_PATTERN }), Type.Null()], { description: 'A real Profile as the base; its subscriptions and suppression apply unless `assume` says otherwise.' })),
    profile: Type.Optional(
      Type.Union([
        Type.Object({ email: Type.Optional(Type.Union([Type.String({ minLength: 3, maxLength: 320 }), Type.Null()])), properties: Type.Optional(NullableJson) }, { additionalProperties: false }),
        Type.Null(),
      ]),
    ),
    trigger: Type.Object(
      {
        at: DateTime,
        event: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()], { description: 'Event entry: defaults to and must equal entry.event.' })),
        data: Type.Optional(NullableJson),
        redactedDataPaths: Type.Optional(RedactedDataPaths('Removed from `data` as events.track removes them before storing (event entry): conditions see them absent, templates render them empty.')),
        variables: Type.Optional(Type.Union([Json, Type.Null()], { description: 'API entry: the trigger variables.' })),
      },
      { additionalProperties: false },
    ),
    events: Type.Optional(
      Type.Union([
        Type.Array(
          Type.Object(
            {
              at: DateTime,
              event: Type.String({ minLength: 1, maxLength: 255 }),
              data: Type.Optional(NullableJson),
              redactedDataPaths: Type.Optional(RedactedDataPaths('Removed from `data` as events.track removes them before storing: /candidate and /waited never see them.')),
            },
            { additionalProperties: false },
          ),
          {
            maxItems: MAX_SIMULATED_EVENTS,
            description: 'Later events of the Profile (each at ≥ trigger.at), applied in time order to waits and exitOn.',
          },
        ),
        Type.Null(),
      ]),
    ),
    until: Type.Optional(Type.Union([DateTime, Type.Null()], { description: 'End of the simulation; default and maximum trigger.at + 400 days.' })),
    assume: Type.Optional(
      Type.Union([Type.Object({ subscribed: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])), suppressed: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])) }, { additionalProperties: false }), Type.Null()]),
    ),
  },
  { additionalProperties: false },
);

export const SimulationSchema = Type.Object({
  enrolled: Type.Boolean(),
  skipReason: Nullable,
  status: Type.Union([Type.Literal('running'), Type.Literal('completed'), Type.Literal('exited'), Type.Null()]),
  endedAt: Nullable,
  path: Type.Array(
    Type.Object({
      stepId: Type.String(),
      type: Type.String(),
      status: Type.Union([Type.Literal('completed'), Type.Literal('skipped'), Type.Literal('waiting')]),
      reason: Nullable,
      enteredAt: Type.String(),
      completedAt: Nullable,
      outcome: Type.Unknown(),
    }),
  ),
  emails: Type.Array(
    Type.Object({ stepId: Type.String(), at: Type.String(), templateId: Type.String(), templateSnapshotId: Nullable, subject: Nullable, to: Nullable, skipReason: Nullable }),
  ),
  profileUpdates: Type.Array(Type.Object({ stepId: Type.String(), at: Type.String(), properties: Json })),
});
