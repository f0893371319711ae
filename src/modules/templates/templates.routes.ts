/** HTTP routes of Templates (templates.md §2, §7). Thin: schema → service → envelope. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../../http/auth.js';
import { domainHttpError, errorOutcome } from '../../http/domain-errors.js';
import { toHttpError } from '../../http/error-handler.js';
import { HttpError, validationError } from '../../http/errors.js';
import { readIdempotencyKey, requestFingerprint, type Outcome } from '../../http/idempotency.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { pageOf, pageStart } from '../../http/pagination.js';
import type { Result } from '../../lib/result.js';
import {
  CreateTemplateBody,
  DuplicateTemplateBody,
  ListTemplatesQuery,
  PreviewBody,
  RenderBody,
  RenderResultSchema,
  SnapshotParams,
  SnapshotSchema,
  TemplateIdParams,
  TemplateSchema,
  TemplateSummarySchema,
  UpdateTemplateBody,
} from './templates.schema.js';
import { previewDefinition, renderSavedTemplate } from './templates.preview.js';
import {
  createTemplate,
  deleteTemplate,
  duplicateTemplate,
  getSnapshot,
  getTemplate,
  listSnapshots,
  listTemplates,
  publishTemplate,
  setTemplateStatus,
  updateTemplate,
  type TemplateError,
  type TemplateView,
} from './templates.service.js';

const TAGS = ['templates'];

function unwrap<T>(result: Result<T, Parameters<typeof domainHttpError>[0]>): T {
  if (!result.ok) throw domainHttpError(result.error);
  return result.value;
}

export function registerTemplateRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  /** A creating POST: optional Idempotency-Key, validation failures stored like other outcomes. */
  const creating = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    run: (trx: Parameters<Parameters<typeof deps.committer.run>[0]>[0]) => Promise<Result<TemplateView, TemplateError>>,
  ) => {
    const { organizationId } = principalOf(request);
    const key = readIdempotencyKey(request, 'optional');
    const invalid = request.validationError ? toHttpError(request.validationError) : null;
    return idempotency.respond(
      reply,
      { organizationId, key, fingerprint: () => requestFingerprint(request.method, request.url, request.body) },
      async (trx): Promise<Outcome> => {
        if (invalid !== null) return errorOutcome(invalid);
        const result = await run(trx);
        return result.ok ? { status, body: result.value } : errorOutcome(domainHttpError(result.error));
      },
    );
  };

  typed.get(
    '/api/v1/templates',
    {
      schema: { tags: TAGS, summary: 'List templates (newest updatedAt first)', querystring: ListTemplatesQuery, response: { 200: Type.Array(TemplateSummarySchema), ...ErrorResponses } },
      config: { scopes: ['templates:read'] },
    },
    async (request) =>
      listTemplates(db, principalOf(request).organizationId, {
        ...(request.query.status ? { statuses: request.query.status } : {}),
        ...(request.query.purpose ? { purpose: request.query.purpose } : {}),
      }),
  );

  typed.post(
    '/api/v1/templates',
    {
      schema: { tags: TAGS, summary: 'Create a template', body: CreateTemplateBody, response: { 201: TemplateSchema, ...ErrorResponses } },
      attachValidation: true,
      config: { scopes: ['templates:write'] },
    },
    (request, reply) => creating(request, reply, 201, (trx) => createTemplate(trx, deps, principalOf(request).organizationId, request.body)),
  );

  typed.get(
    '/api/v1/templates/:id',
    { schema: { tags: TAGS, summary: 'Get a template', params: TemplateIdParams, response: { 200: TemplateSchema, ...ErrorResponses } }, config: { scopes: ['templates:read'] } },
    async (request) => {
      const template = await getTemplate(db, principalOf(request).organizationId, request.params.id);
      if (!template) throw new HttpError('not_found', 'Template not found.');
      return template;
    },
  );

  typed.put(
    '/api/v1/templates/:id',
    {
      schema: { tags: TAGS, summary: 'Update a template (partial)', params: TemplateIdParams, body: UpdateTemplateBody, response: { 200: TemplateSchema, ...ErrorResponses } },
      config: { scopes: ['templates:write'] },
    },
    async (request) => unwrap(await deps.committer.run((trx) => updateTemplate(trx, deps, principalOf(request).organizationId, request.params.id, request.body))),
  );

  typed.delete(
    '/api/v1/templates/:id',
    { schema: { tags: TAGS, summary: 'Delete a template (snapshots stay for existing sends)', params: TemplateIdParams, response: { 204: Type.Null(), ...ErrorResponses } }, config: { scopes: ['templates:write'] } },
    async (request, reply) => {
      unwrap(await deps.committer.run((trx) => deleteTemplate(trx, principalOf(request).organizationId, request.params.id)));
      return reply.code(204).send(null);
    },
  );

  typed.post(
    '/api/v1/templates/:id/duplicate',
    {
      schema: { tags: TAGS, summary: 'Duplicate a template (unpublished copy)', params: TemplateIdParams, body: Type.Optional(DuplicateTemplateBody), response: { 201: TemplateSchema, ...ErrorResponses } },
      attachValidation: true,
      config: { scopes: ['templates:write'] },
    },
    (request, reply) =>
      creating(request, reply, 201, (trx) => duplicateTemplate(trx, deps, principalOf(request).organizationId, request.params.id, request.body?.name)),
  );

  for (const [action, status] of [['archive', 'Archived'], ['unarchive', 'Active']] as const) {
    typed.post(
      `/api/v1/templates/:id/${action}`,
      { schema: { tags: TAGS, summary: `${action === 'archive' ? 'Archive' : 'Unarchive'} a template (idempotent)`, params: TemplateIdParams, response: { 200: TemplateSchema, ...ErrorResponses } }, config: { scopes: ['templates:write'] } },
      async (request) => unwrap(await deps.committer.run((trx) => setTemplateStatus(trx, deps, principalOf(request).organizationId, request.params.id, status))),
    );
  }

  typed.post(
    '/api/v1/templates/:id/publish',
    {
      schema: { tags: TAGS, summary: 'Publish the draft as an immutable snapshot', params: TemplateIdParams, response: { 200: TemplateSchema, ...ErrorResponses } },
      attachValidation: true,
      config: { scopes: ['templates:write'] },
    },
    (request, reply) => creating(request, reply, 200, (trx) => publishTemplate(trx, deps, principalOf(request).organizationId, request.params.id)),
  );

  typed.get(
    '/api/v1/templates/:id/snapshots',
    {
      schema: {
        tags: TAGS,
        summary: 'List snapshots, newest first',
        params: TemplateIdParams,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })), cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ data: Type.Array(SnapshotSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...ErrorResponses },
      },
      config: { scopes: ['templates:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const scope = `${organizationId}:snapshots:${request.params.id.toLowerCase()}`;
      const position = pageStart(ctx.cursorSecret, scope, request.query.cursor);
      if (position !== null && !/^\d+$/.test(position)) throw validationError([{ in: 'query', pointer: '/cursor', message: 'is not a cursor of this route' }]);
      const beforeVersion = position === null ? null : Number(position);
      const limit = request.query.limit ?? 50;
      const rows = unwrap(await listSnapshots(db, organizationId, request.params.id, { limit: limit + 1, beforeVersion }));
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (row) => String(row.version) }, (row) => row);
    },
  );

  typed.get(
    '/api/v1/templates/:id/snapshots/:snapshotId',
    { schema: { tags: TAGS, summary: 'Get a snapshot', params: SnapshotParams, response: { 200: SnapshotSchema, ...ErrorResponses } }, config: { scopes: ['templates:read'] } },
    async (request) => {
      const snapshot = await getSnapshot(db, principalOf(request).organizationId, request.params.id, request.params.snapshotId);
      if (!snapshot) throw new HttpError('not_found', 'Template snapshot not found.');
      return snapshot;
    },
  );

  typed.post(
    '/api/v1/templates/:id/render',
    {
      schema: { tags: TAGS, summary: 'Render the draft, the current snapshot or a given snapshot with sample state', params: TemplateIdParams, body: Type.Optional(RenderBody), response: { 200: RenderResultSchema, ...ErrorResponses } },
      config: { scopes: ['templates:read'] },
    },
    async (request) => {
      const body = request.body ?? {};
      return unwrap(
        await renderSavedTemplate(db, principalOf(request).organizationId, request.params.id, body.source ?? 'draft', {
          publicUrl: deps.config.publicUrl,
          secret: deps.secret,
          strict: body.strict ?? false,
          state: body.state ?? {},
          ...(body.profileId !== undefined ? { profileId: body.profileId } : {}),
        }),
      );
    },
  );

  typed.post(
    '/api/v1/templates/preview',
    { schema: { tags: TAGS, summary: 'Render an unsaved definition with sample state', body: PreviewBody, response: { 200: RenderResultSchema, ...ErrorResponses } }, config: { scopes: ['templates:read'] } },
    async (request) => {
      const body = request.body;
      if (body.brandKitId != null) throw domainHttpError({ type: 'reference_not_found', pointers: ['/brandKitId'] });
      return unwrap(
        await previewDefinition(db, principalOf(request).organizationId, { definition: body.definition, purpose: body.purpose ?? 'General' }, {
          publicUrl: deps.config.publicUrl,
          secret: deps.secret,
          strict: body.strict ?? false,
          state: body.state ?? {},
        }),
      );
    },
  );
}
