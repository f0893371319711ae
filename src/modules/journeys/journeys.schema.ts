/** Request and response schemas of the journey management routes (journeys.md §1, §7). */
import { Type } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.js';

const Free = Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true });
export const JOURNEY_KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,119}$';

const Definition = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description: 'entry, eligibility?, exitOn?, start, steps — see journeys.md §2; checked on save (structure → 400, semantics → 422).',
});

export const CreateJourneyBody = Type.Object(
  {
    key: Type.String({ pattern: JOURNEY_KEY_PATTERN, description: 'Stable, unique per organization, immutable; "runs" and "validate" are reserved.' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
    definition: Definition,
  },
  { additionalProperties: false },
);

export const UpdateJourneyBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
    definition: Type.Optional(Definition),
  },
  { additionalProperties: false },
);

export const ValidateJourneyBody = Type.Object({ definition: Type.Unknown() }, { additionalProperties: false });

const Nullable = Type.Union([Type.String(), Type.Null()]);
export const JourneySchema = Type.Object({
  id: Type.String(),
  key: Type.String(),
  name: Type.String(),
  description: Nullable,
  status: Type.Union(['Draft', 'Active', 'Paused', 'Archived'].map((s) => Type.Literal(s))),
  version: Type.Integer(),
  versionId: Type.String(),
  definition: Free,
  activatedAt: Nullable,
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const JourneyVersionSchema = Type.Object({ versionId: Type.String(), version: Type.Integer(), definition: Free, createdAt: Type.String() });

export const JourneyIdParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) });

export const ListJourneysQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(['Draft', 'Active', 'Paused', 'Archived'].map((s) => Type.Literal(s)))),
    key: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);
