/** HTTP routes of journey management (journeys.md §7). Runs and triggers live in ./runs. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../../http/auth.js';
import { domainHttpError, errorOutcome } from '../../http/domain-errors.js';
import { toHttpError } from '../../http/error-handler.js';
import { HttpError, validationError } from '../../http/errors.js';
import { readIdempotencyKey, requestFingerprint } from '../../http/idempotency.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { PageQuery, pageOf, pageStart } from '../../http/pagination.js';
import type { Result } from '../../lib/result.js';
import { CreateJourneyBody, JourneyIdParams, JourneySchema, JourneyVersionSchema, ListJourneysQuery, UpdateJourneyBody, ValidateJourneyBody } from './journeys.schema.js';
import {
  checkDefinition,
  createJourney,
  getJourney,
  listJourneyVersions,
  RESERVED_KEYS,
  toJourneyView,
  transitionJourney,
  updateJourney,
  type JourneyError,
  type JourneyRunControl,
} from './journeys.service.js';
import { selectJourneysPage, selectJourneyVersion } from './journeys.store.js';
import { SimulateJourneyBody, SimulationSchema } from './simulate/simulate.schema.js';
import { simulateJourney } from './simulate/simulate.service.js';

const TAGS = ['journeys'];

function unwrap<T>(result: Result<T, JourneyError>): T {
  if (!result.ok) throw domainHttpError(result.error);
  return result.value;
}

export function registerJourneyRoutes(app: FastifyInstance, ctx: RouteContext, runs: JourneyRunControl): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.post(
    '/api/v1/journeys',
    {
      schema: { tags: TAGS, summary: 'Create a journey (Draft, version 1)', body: CreateJourneyBody, response: { 201: JourneySchema, ...ErrorResponses } },
      attachValidation: true,
      config: { scopes: ['journeys:write'] },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      const key = readIdempotencyKey(request, 'optional');
      let invalid = request.validationError ? toHttpError(request.validationError) : null;
      if (invalid === null && RESERVED_KEYS.includes(request.body.key)) invalid = validationError([{ in: 'body', pointer: '/key', message: `"${request.body.key}" is reserved` }]);
      return idempotency.respond(reply, { organizationId, key, fingerprint: () => requestFingerprint('POST', request.url, request.body) }, async (trx) => {
        if (invalid !== null) return errorOutcome(invalid);
        const created = await createJourney(trx, deps, organizationId, request.body);
        return created.ok ? { status: 201, body: created.value } : errorOutcome(domainHttpError(created.error));
      });
    },
  );

  typed.get(
    '/api/v1/journeys',
    {
      schema: {
        tags: TAGS,
        summary: 'List journeys, newest first',
        querystring: ListJourneysQuery,
        response: { 200: Type.Object({ data: Type.Array(JourneySchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...ErrorResponses },
      },
      config: { scopes: ['journeys:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const scope = `${organizationId}:journeys`;
      const beforeId = pageStart(ctx.cursorSecret, scope, request.query.cursor);
      const limit = request.query.limit ?? 50;
      const filter = {
        ...(request.query.status !== undefined ? { status: request.query.status } : {}),
        ...(request.query.key !== undefined ? { key: request.query.key } : {}),
      };
      const rows = await selectJourneysPage(db, organizationId, filter, { limit: limit + 1, beforeId });
      const page = pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (row) => row.id }, (row) => row);
      const data = [];
      for (const row of page.data) data.push(toJourneyView(row, (await selectJourneyVersion(db, row.version_id))!));
      return { data, nextCursor: page.nextCursor };
    },
  );

  typed.post(
    '/api/v1/journeys/validate',
    {
      schema: {
        tags: TAGS,
        summary: 'Validate a definition without saving (never 4xx for definition problems)',
        body: ValidateJourneyBody,
        response: { 200: Type.Object({ valid: Type.Boolean(), errors: Type.Array(Type.Object({ pointer: Type.String(), message: Type.String() })) }), ...ErrorResponses },
      },
      config: { scopes: ['journeys:read'] },
    },
    async (request) => {
      const checked = await checkDefinition(db, principalOf(request).organizationId, request.body.definition, false);
      if (checked.ok) return { valid: true, errors: [] };
      const errors = 'errors' in checked.error ? checked.error.errors : [];
      return { valid: false, errors: errors.map((e) => ({ pointer: `/definition${e.pointer}`, message: e.message })) };
    },
  );

  typed.get(
    '/api/v1/journeys/:id',
    { schema: { tags: TAGS, summary: 'Get a journey', params: JourneyIdParams, response: { 200: JourneySchema, ...ErrorResponses } }, config: { scopes: ['journeys:read'] } },
    async (request) => {
      const journey = await getJourney(db, principalOf(request).organizationId, request.params.id);
      if (!journey) throw new HttpError('not_found', 'Journey not found.');
      return journey;
    },
  );

  typed.put(
    '/api/v1/journeys/:id',
    {
      schema: { tags: TAGS, summary: 'Update a journey; a changed definition becomes a new version', params: JourneyIdParams, body: UpdateJourneyBody, response: { 200: JourneySchema, ...ErrorResponses } },
      config: { scopes: ['journeys:write'] },
    },
    async (request) => unwrap(await deps.committer.run((trx) => updateJourney(trx, deps, principalOf(request).organizationId, request.params.id, request.body))),
  );

  for (const action of ['activate', 'pause', 'archive'] as const) {
    typed.post(
      `/api/v1/journeys/:id/${action}`,
      { schema: { tags: TAGS, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a journey`, params: JourneyIdParams, response: { 200: JourneySchema, ...ErrorResponses } }, config: { scopes: ['journeys:write'] } },
      async (request) => unwrap(await deps.committer.run((trx) => transitionJourney(trx, deps, runs, principalOf(request).organizationId, request.params.id, action))),
    );
  }

  typed.get(
    '/api/v1/journeys/:id/versions',
    {
      schema: {
        tags: TAGS,
        summary: 'Versions, newest first',
        params: JourneyIdParams,
        querystring: PageQuery,
        response: { 200: Type.Object({ data: Type.Array(JourneyVersionSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...ErrorResponses },
      },
      config: { scopes: ['journeys:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      // The cursor holds the last version number shown (versions, not ids, order this list).
      const scope = `${organizationId}:journey-versions:${request.params.id.toLowerCase()}`;
      const before = pageStart(ctx.cursorSecret, scope, request.query.cursor);
      const limit = request.query.limit ?? 50;
      const rows = unwrap(await listJourneyVersions(db, organizationId, request.params.id, { limit: limit + 1, beforeVersion: before === null ? null : Number(before) }));
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (v) => String(v.version) }, (v) => v);
    },
  );

  // Read-only (writes nothing), so no Idempotency-Key: the same body always gives the same answer.
  typed.post(
    '/api/v1/journeys/:id/simulate',
    {
      schema: {
        tags: TAGS,
        summary: 'Dry-run the journey for one Profile on a virtual clock; writes nothing',
        params: JourneyIdParams,
        body: SimulateJourneyBody,
        response: { 200: SimulationSchema, ...ErrorResponses },
      },
      config: { scopes: ['journeys:read'] },
    },
    async (request) => {
      const simulated = await simulateJourney(db, { secret: deps.secret, publicUrl: deps.config.publicUrl }, principalOf(request).organizationId, request.params.id, request.body);
      if (simulated.ok) return simulated.value;
      const error = simulated.error;
      if (error.type === 'simulation_input_invalid') throw validationError(error.errors.map((e) => ({ in: 'body', ...e })));
      if (error.type === 'profile_missing') throw domainHttpError({ type: 'profile_not_found', by: 'profileId' });
      throw domainHttpError(error);
    },
  );
}
