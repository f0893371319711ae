/** HTTP routes of Profiles (profiles.md). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../../http/auth.js';
import { HttpError } from '../../http/errors.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { isUuid } from '../../lib/ids.js';
import { getProfile } from './profiles.service.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ProfileSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  externalId: Nullable(Type.String()),
  phone: Nullable(Type.String()),
  sources: Type.Array(Type.String()),
  properties: Type.Record(
    Type.String(),
    Type.Object({ value: Type.Unknown(), source: Type.String(), updatedAt: Type.String(), eventId: Type.Optional(Type.String()) }),
    { description: 'Lineage envelope per property key.' },
  ),
  segments: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), type: Type.Literal('dynamic') })),
  deliverySuppression: Type.Object({
    suppressed: Type.Boolean(),
    email: Type.String(),
    reason: Nullable(Type.Union([Type.Literal('hard_bounce'), Type.Literal('complaint'), Type.Literal('manual')])),
    suppressedAt: Nullable(Type.String()),
    latestBounceReason: Nullable(Type.String()),
    latestBounceDiagnosticCode: Nullable(Type.String()),
  }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export function registerProfileRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  typed.get(
    '/api/v1/profiles/:profileId',
    {
      schema: {
        tags: ['profiles'],
        summary: 'Get a Profile',
        params: Type.Object({ profileId: Type.String({ minLength: 1, description: 'Any non-empty string; a value that is not a Profile id is simply not found (404).' }) }),
        response: { 200: ProfileSchema, ...ErrorResponses },
      },
      // Any non-empty string; a non-UUID (NUL included) is simply not found (conventions.md §6).
      config: { scopes: ['profiles:read'], opaqueParams: true },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      if (!isUuid(request.params.profileId)) throw new HttpError('not_found', 'Profile not found.');
      const profile = await getProfile(ctx.deps.db.kysely, organizationId, request.params.profileId, ctx.deps.secret);
      if (!profile) throw new HttpError('not_found', 'Profile not found.');
      return profile;
    },
  );
}
