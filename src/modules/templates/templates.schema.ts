/** Request and response schemas of the templates routes (templates.md §1–2, §7). */
import { Type } from 'typebox';
import { UUID_PATTERN } from '../../lib/ids.js';
import { PURPOSES } from './templates.service.js';

const Uuid = Type.String({ pattern: UUID_PATTERN });
const NullableUuid = Type.Union([Uuid, Type.Null()]);
const Purpose = Type.Union(PURPOSES.map((p) => Type.Literal(p)));
const Language = Type.String({ minLength: 1, maxLength: 35, pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$', description: 'BCP-47 language tag.' });
const Free = Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true });
const Any = Type.Unsafe<unknown>({});

/** Known definition fields; their content is validated against the catalog by the service. */
export const DefinitionInput = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  additionalProperties: false,
  description: 'from, subject, preheader, replyTo, text: string or {"$template"}; body: json-render flat spec {root, elements}; renderVariables; sensitiveTransactionalVariablePaths.',
  properties: {
    from: Any,
    subject: Any,
    body: Any,
    replyTo: Any,
    preheader: Any,
    text: Any,
    renderVariables: Any,
    sensitiveTransactionalVariablePaths: Any,
  },
});

const fields = {
  purpose: Type.Optional(Purpose),
  definition: Type.Optional(DefinitionInput),
  senderProfileId: Type.Optional(NullableUuid),
  brandKitId: Type.Optional(NullableUuid),
  subType: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
  defaultSegmentId: Type.Optional(NullableUuid),
  language: Type.Optional(Language),
};

export const CreateTemplateBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), ...fields }, { additionalProperties: false });
export const UpdateTemplateBody = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), ...fields }, { additionalProperties: false });
export const DuplicateTemplateBody = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false });

const Nullable = Type.Union([Type.String(), Type.Null()]);
const summaryFields = {
  id: Type.String(),
  organizationId: Type.String(),
  name: Type.String(),
  type: Type.Literal('email'),
  status: Type.Union([Type.Literal('Active'), Type.Literal('Archived')]),
  purpose: Type.String(),
  isComplete: Type.Boolean(),
  lastGeneratedAt: Type.Null(),
  lastGenerationError: Type.Null(),
  language: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  defaultSegmentId: Nullable,
  source: Type.String(),
  websiteId: Type.Null(),
  website: Type.Null(),
};
export const TemplateSummarySchema = Type.Object(summaryFields);
export const TemplateSchema = Type.Object({
  ...summaryFields,
  senderProfileId: Nullable,
  brandKitId: Nullable,
  subType: Nullable,
  definition: Free,
  currentSnapshotId: Nullable,
});
export const SnapshotSchema = Type.Object({
  id: Type.String(),
  templateId: Type.String(),
  version: Type.Integer(),
  definition: Free,
  senderProfileId: Nullable,
  brandKitId: Nullable,
  purpose: Type.String(),
  language: Type.String(),
  createdAt: Type.String(),
});

export const TemplateIdParams = Type.Object({ id: Uuid });
export const SnapshotParams = Type.Object({ id: Uuid, snapshotId: Uuid });
export const ListTemplatesQuery = Type.Object(
  {
    status: Type.Optional(Type.Array(Type.Union([Type.Literal('Active'), Type.Literal('Archived')]), { maxItems: 2 })),
    purpose: Type.Optional(Purpose),
  },
  { additionalProperties: false },
);

const SampleState = Type.Object(
  { event: Type.Optional(Free), data: Type.Optional(Free), profile: Type.Optional(Free), variables: Type.Optional(Free), brand: Type.Optional(Free), waited: Type.Optional(Free) },
  { additionalProperties: false, description: 'Sample render state; /variables is renderVariables overlaid with state.variables.' },
);

export const RenderBody = Type.Object(
  {
    source: Type.Optional(Type.Union([Type.Literal('draft'), Type.Literal('current'), Uuid], { description: '"draft" (default), "current" or a snapshot id.' })),
    profileId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    strict: Type.Optional(Type.Boolean()),
    state: Type.Optional(SampleState),
  },
  { additionalProperties: false },
);

export const PreviewBody = Type.Object(
  {
    definition: DefinitionInput,
    purpose: Type.Optional(Purpose),
    brandKitId: Type.Optional(NullableUuid),
    strict: Type.Optional(Type.Boolean()),
    state: Type.Optional(SampleState),
  },
  { additionalProperties: false },
);

export const RenderResultSchema = Type.Object({
  subject: Type.String(),
  preheader: Type.String(),
  html: Type.String(),
  text: Type.String(),
  missingPaths: Type.Array(Type.String()),
});
