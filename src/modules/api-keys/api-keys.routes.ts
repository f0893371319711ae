/** HTTP routes for the organization and its API keys (conventions.md §2.4). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../../http/auth.js';
import { errorOutcome } from '../../http/domain-errors.js';
import { toHttpError } from '../../http/error-handler.js';
import { HttpError } from '../../http/errors.js';
import { readIdempotencyKey, requestFingerprint } from '../../http/idempotency.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { pageOf, pageStart } from '../../http/pagination.js';
import { parseDateTime } from '../../http/validation.js';
import { UUID_PATTERN } from '../../lib/ids.js';
import { getOrganization } from '../orgs/orgs.service.js';
import { createApiKey, listApiKeys, revokeApiKey } from './api-keys.service.js';
import { SCOPES, type Scope } from './scopes.js';

const Nullable = (t: ReturnType<typeof Type.String>) => Type.Union([t, Type.Null()]);

const ApiKeySchema = Type.Object({
  id: Type.String(),
  label: Type.String(),
  prefix: Type.String(),
  last4: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String(),
  lastUsedAt: Nullable(Type.String()),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
});

const CreateApiKeyBody = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
    expiresAt: Type.Optional(Type.String({ format: 'sf-date-time' })),
  },
  { additionalProperties: false },
);

export function registerApiKeyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency, authenticator } = ctx;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.get(
    '/api/v1/organization',
    {
      schema: {
        tags: ['organization'],
        summary: 'The organization of the calling key',
        response: { 200: Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String() }), ...ErrorResponses },
      },
      config: { scopes: [] },
    },
    async (request) => {
      const org = await getOrganization(deps.db.kysely, principalOf(request).organizationId);
      if (!org) throw new HttpError('not_found', 'Organization not found.');
      return org;
    },
  );

  typed.get(
    '/api/v1/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'List API keys (secrets are never shown)',
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })), cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ data: Type.Array(ApiKeySchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...ErrorResponses },
      },
      config: { scopes: ['api-keys:admin'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const scope = `${organizationId}:api-keys`;
      const beforeId = pageStart(ctx.cursorSecret, scope, request.query.cursor);
      const limit = request.query.limit ?? 50;
      const rows = await listApiKeys(deps.db.kysely, organizationId, { limit: limit + 1, beforeId });
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (row) => row.id }, (row) => row);
    },
  );

  typed.post(
    '/api/v1/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; the secret is in this response only',
        body: CreateApiKeyBody,
        response: { 201: Type.Intersect([ApiKeySchema, Type.Object({ key: Type.Optional(Type.String()) })]), ...ErrorResponses },
      },
      attachValidation: true,
      config: { scopes: ['api-keys:admin'] },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const key = readIdempotencyKey(request, 'optional');
      const invalid = request.validationError ? toHttpError(request.validationError) : null;
      const body = request.body;
      if (invalid === null) {
        // A key can only grant what it holds itself.
        const lacking = body.scopes.filter((s) => !principal.scopes.has(s));
        if (lacking.length > 0) throw new HttpError('insufficient_scope', 'An API key can only grant scopes it holds itself.', { required: lacking });
      }
      return idempotency.respond(
        reply,
        { organizationId: principal.organizationId, key, fingerprint: () => requestFingerprint('POST', request.url, request.body) },
        async (trx) => {
          if (invalid !== null) return errorOutcome(invalid);
          const created = await createApiKey(trx, deps, {
            organizationId: principal.organizationId,
            label: body.label,
            scopes: body.scopes as Scope[],
            expiresAt: body.expiresAt === undefined ? null : parseDateTime(body.expiresAt),
          });
          // The secret is shown once: a replay answers the key object without it.
          return { status: 201, body: { ...created.apiKey, key: created.key }, replayBody: created.apiKey };
        },
      );
    },
  );

  typed.delete(
    '/api/v1/api-keys/:id',
    {
      schema: { tags: ['api-keys'], summary: 'Revoke an API key', params: Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) }), response: { 204: Type.Null(), ...ErrorResponses } },
      config: { scopes: ['api-keys:admin'] },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      const revoked = await revokeApiKey(deps.db.kysely, deps, organizationId, request.params.id);
      if (!revoked) throw new HttpError('not_found', 'API key not found.');
      authenticator.invalidate(request.params.id.toLowerCase());
      return reply.code(204).send(null);
    },
  );
}
