/** HTTP routes of the suppression list (emails.md §8.4). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../../http/auth.js';
import { respondCreating } from '../../http/creating-post.js';
import { HttpError } from '../../http/errors.js';
import { ErrorResponses } from '../../http/openapi.js';
import { pageOf, pageStart } from '../../http/pagination.js';
import type { RouteContext } from '../../http/route-context.js';
import { CreateSuppressionBody, ListSuppressionsQuery, page, SuppressionParams, SuppressionSchema } from './subscriptions.schema.js';
import { addSuppression, getSuppression, listSuppressions, removeSuppression } from './suppressions.service.js';

export function registerSuppressionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['suppressions'];

  typed.get(
    '/api/v1/suppressions',
    {
      schema: { tags, summary: 'List suppressed addresses, newest first', querystring: ListSuppressionsQuery, response: { 200: page(SuppressionSchema), ...ErrorResponses } },
      config: { scopes: ['subscriptions:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const { reason, email, cursor } = request.query;
      const scope = `${organizationId}:suppressions`;
      const limit = request.query.limit ?? 50;
      const rows = await listSuppressions(
        db,
        deps.secret,
        organizationId,
        { ...(reason !== undefined ? { reason } : {}), ...(email !== undefined ? { email } : {}) },
        { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, cursor) },
      );
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (r) => r.id }, (r) => r.view);
    },
  );

  typed.post(
    '/api/v1/suppressions',
    {
      schema: {
        tags,
        summary: 'Suppress an address manually: 201, or 200 with the existing entry when already suppressed',
        body: CreateSuppressionBody,
        response: { 200: SuppressionSchema, 201: SuppressionSchema, ...ErrorResponses },
      },
      attachValidation: true,
      config: { scopes: ['subscriptions:write'] },
    },
    (request, reply) =>
      respondCreating(idempotency, request, reply, async (trx, organizationId) => {
        const { email } = request.body;
        const { created } = await addSuppression(trx, deps.secret, organizationId, { email, reason: 'manual', source: 'api', at: deps.clock.now() }, deps.ids);
        const entry = await getSuppression(trx, deps.secret, organizationId, email);
        if (!entry) throw new Error('suppression vanished inside its own transaction');
        return { ok: true, value: { status: created ? 201 : 200, body: entry } };
      }),
  );

  typed.delete(
    '/api/v1/suppressions/:email',
    {
      schema: { tags, summary: 'Remove an address (or its erasure marker) from the list', params: SuppressionParams, response: { 204: Type.Null(), ...ErrorResponses } },
      config: { scopes: ['subscriptions:write'] },
    },
    async (request, reply) => {
      const removed = await deps.committer.run((trx) => removeSuppression(trx, deps.secret, principalOf(request).organizationId, request.params.email));
      if (!removed) throw new HttpError('not_found', 'The address is not suppressed.');
      return reply.code(204).send(null);
    },
  );
}
