/** HTTP routes of SubscriptionGroups (emails.md §8.3) and Profile subscription statuses (profiles.md §6). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../../http/auth.js';
import { respondCreating, withStatus } from '../../http/creating-post.js';
import { domainHttpError } from '../../http/domain-errors.js';
import { HttpError } from '../../http/errors.js';
import { ErrorResponses } from '../../http/openapi.js';
import { pageOf, pageStart } from '../../http/pagination.js';
import type { RouteContext } from '../../http/route-context.js';
import type { Result } from '../../lib/result.js';
import {
  CreateSubscriptionGroupBody,
  IdParams,
  ListQuery,
  page,
  ProfileGroupParams,
  ProfileParams,
  ProfileSubscriptionSchema,
  ProfileSubscriptionsSchema,
  SetProfileSubscriptionBody,
  SubscriptionGroupSchema,
  UpdateSubscriptionGroupBody,
} from './subscriptions.schema.js';
import {
  createSubscriptionGroup,
  deleteSubscriptionGroup,
  getSubscriptionGroupView,
  listProfileSubscriptions,
  listSubscriptionGroups,
  updateProfileSubscription,
  updateSubscriptionGroup,
  type SubscriptionError,
} from './subscriptions.service.js';

function unwrap<T>(result: Result<T, SubscriptionError>): T {
  if (!result.ok) throw domainHttpError(result.error);
  return result.value;
}

export function registerSubscriptionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['subscription-groups'];
  const read = { scopes: ['subscriptions:read'] as const };
  const write = { scopes: ['subscriptions:write'] as const };

  typed.get(
    '/api/v1/subscription-groups',
    { schema: { tags, summary: 'List SubscriptionGroups, newest first', querystring: ListQuery, response: { 200: page(SubscriptionGroupSchema), ...ErrorResponses } }, config: read },
    async (request) => {
      const { organizationId } = principalOf(request);
      const scope = `${organizationId}:subscription-groups`;
      const limit = request.query.limit ?? 50;
      const rows = await listSubscriptionGroups(db, organizationId, { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, request.query.cursor) });
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (g) => g.id }, (g) => g);
    },
  );

  typed.post(
    '/api/v1/subscription-groups',
    {
      schema: { tags, summary: 'Create a SubscriptionGroup (topic)', body: CreateSubscriptionGroupBody, response: { 201: SubscriptionGroupSchema, ...ErrorResponses } },
      attachValidation: true,
      config: write,
    },
    (request, reply) =>
      respondCreating(idempotency, request, reply, async (trx, organizationId) => withStatus(201, await createSubscriptionGroup(trx, deps, organizationId, request.body))),
  );

  typed.get(
    '/api/v1/subscription-groups/:id',
    { schema: { tags, summary: 'Get a SubscriptionGroup', params: IdParams, response: { 200: SubscriptionGroupSchema, ...ErrorResponses } }, config: read },
    async (request) => {
      const group = await getSubscriptionGroupView(db, principalOf(request).organizationId, request.params.id);
      if (!group) throw new HttpError('not_found', 'Subscription group not found.');
      return group;
    },
  );

  typed.put(
    '/api/v1/subscription-groups/:id',
    {
      schema: { tags, summary: 'Update a SubscriptionGroup (partial; type is immutable)', params: IdParams, body: UpdateSubscriptionGroupBody, response: { 200: SubscriptionGroupSchema, ...ErrorResponses } },
      config: write,
    },
    async (request) => unwrap(await deps.committer.run((trx) => updateSubscriptionGroup(trx, deps, principalOf(request).organizationId, request.params.id, request.body))),
  );

  typed.delete(
    '/api/v1/subscription-groups/:id',
    { schema: { tags, summary: 'Delete a SubscriptionGroup and its statuses', params: IdParams, response: { 204: Type.Null(), ...ErrorResponses } }, config: write },
    async (request, reply) => {
      unwrap(await deps.committer.run((trx) => deleteSubscriptionGroup(trx, principalOf(request).organizationId, request.params.id)));
      return reply.code(204).send(null);
    },
  );

  typed.get(
    '/api/v1/profiles/:profileId/subscriptions',
    {
      schema: { tags: ['profiles'], summary: "A Profile's status in every SubscriptionGroup", params: ProfileParams, response: { 200: ProfileSubscriptionsSchema, ...ErrorResponses } },
      config: { scopes: ['profiles:read'] },
    },
    async (request) => unwrap(await listProfileSubscriptions(db, principalOf(request).organizationId, request.params.profileId)),
  );

  typed.put(
    '/api/v1/profiles/:profileId/subscriptions/:subscriptionGroupId',
    {
      schema: {
        tags: ['profiles'],
        summary: "Set a Profile's status in a SubscriptionGroup (source api); effective for every send not yet handed off",
        params: ProfileGroupParams,
        body: SetProfileSubscriptionBody,
        response: { 200: ProfileSubscriptionSchema, ...ErrorResponses },
      },
      config: write,
    },
    async (request) =>
      unwrap(
        await deps.committer.run((trx) =>
          updateProfileSubscription(trx, deps, principalOf(request).organizationId, request.params.profileId, request.params.subscriptionGroupId, request.body.status, 'api'),
        ),
      ),
  );
}
