/**
 * HTTP routes of runs (journeys.md §7, §7.1, §8): the API trigger, run inspection and lists,
 * manual exit, entry decisions and stats. `/api/v1/journeys/runs…` are static segments, which
 * Fastify's router prefers over the `/api/v1/journeys/:id…` parameters of the management routes.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principalOf } from '../../../http/auth.js';
import { domainHttpError, errorOutcome } from '../../../http/domain-errors.js';
import { toHttpError } from '../../../http/error-handler.js';
import { HttpError, validationError, type FieldError } from '../../../http/errors.js';
import { readIdempotencyKey, requestFingerprint } from '../../../http/idempotency.js';
import { ErrorResponses } from '../../../http/openapi.js';
import { pageOf, pageStart } from '../../../http/pagination.js';
import type { RouteContext } from '../../../http/route-context.js';
import { canonicalEmail } from '../../../http/validation.js';
import { escapeToken } from '../../../lib/json-pointer.js';
import {
  EntryDecisionSchema,
  JourneyIdParams,
  JourneyKeyParams,
  ListEntryDecisionsQuery,
  ListJourneyRunsQuery,
  ListRunsQuery,
  page,
  RunIdParams,
  RunListItemSchema,
  RunSchema,
  StatsQuery,
  StatsSchema,
  TriggerBody,
  TriggerResponse,
} from './runs.schema.js';
import { exitRunManually, getRun, journeyExists, journeyStats, listEntryDecisions, listRuns, triggerJourney } from './runs.service.js';

const MAX_VARIABLES_BYTES = 64 * 1024;
const MAX_PROPERTY_VALUE_BYTES = 32 * 1024;

/** Limits of §7.1 that JSON Schema cannot state. */
function checkTriggerLimits(body: TriggerBody): FieldError[] {
  const errors: FieldError[] = [];
  const { externalId, userId } = body.profile;
  if (externalId !== undefined && userId !== undefined && externalId !== userId) {
    errors.push({ in: 'body', pointer: '/profile/userId', message: 'must equal externalId when both are given' });
  }
  for (const [key, value] of Object.entries(body.profile.properties ?? {})) {
    if (Buffer.byteLength(JSON.stringify(value ?? null)) > MAX_PROPERTY_VALUE_BYTES) {
      errors.push({ in: 'body', pointer: `/profile/properties/${escapeToken(key)}`, message: 'value is larger than 32 KiB of JSON' });
    }
  }
  if (body.variables !== undefined && Buffer.byteLength(JSON.stringify(body.variables)) > MAX_VARIABLES_BYTES) {
    errors.push({ in: 'body', pointer: '/variables', message: 'is larger than 64 KiB serialised' });
  }
  return errors;
}

export function registerRunRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const read = { scopes: ['journeys:read'] as const };

  typed.post(
    '/api/v1/journeys/:journeyKey/trigger',
    {
      schema: {
        tags: ['journeys'],
        summary: 'Start a run of an API-entry journey for a Profile',
        description:
          'Resolves or creates the Profile as events.track does, applies its properties, checks eligibility and queues the run. Requires Idempotency-Key. On any refusal nothing is written.',
        params: JourneyKeyParams,
        body: TriggerBody,
        response: { 202: TriggerResponse, ...ErrorResponses },
      },
      attachValidation: true,
      config: { scopes: ['journeys:trigger'] },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      const key = readIdempotencyKey(request, 'required');
      const receivedAt = deps.clock.now();
      let invalid: HttpError | null = request.validationError ? toHttpError(request.validationError) : null;
      const body = request.body;
      if (invalid === null) {
        const limits = checkTriggerLimits(body);
        if (limits.length > 0) invalid = validationError(limits);
      }
      const relinked: { run: { runId: string; profileId: string; previousProfileId: string } | null } = { run: null };
      const answer = await idempotency.respond(reply, { organizationId, key, fingerprint: () => requestFingerprint('POST', request.url, request.body) }, async (trx) => {
        if (invalid !== null) return errorOutcome(invalid);
        const { email, externalId, userId, anonymousId, properties } = body.profile;
        const external = externalId ?? userId;
        const result = await triggerJourney(trx, deps, organizationId, request.params.journeyKey, {
          identity: { ...(email !== undefined ? { email: canonicalEmail(email) } : {}), ...(external !== undefined ? { externalId: external } : {}) },
          ...(anonymousId !== undefined ? { anonymousId } : {}),
          ...(properties !== undefined ? { properties } : {}),
          variables: body.variables ?? {},
          receivedAt,
        });
        if (!result.ok) return errorOutcome(domainHttpError(result.error));
        const { runId, status, profileId, anonymousIdLink } = result.value;
        relinked.run = anonymousIdLink?.outcome === 'relinked' ? { runId, profileId, previousProfileId: anonymousIdLink.previousProfileId } : null;
        return { status: 202, body: { runId, status }, profileId };
      });
      // Moving an anonymousId between Profiles is legitimate (ingest.md §2.2) but never silent.
      // Ids only: the anonymousId itself is an identifier of a person and stays out of logs.
      if (relinked.run !== null) deps.logger.info({ organizationId, ...relinked.run }, 'journeys.trigger re-linked an anonymousId to another Profile');
      return answer;
    },
  );

  typed.get(
    '/api/v1/journeys/runs',
    {
      schema: { tags: ['journeys'], summary: 'List runs, newest first', querystring: ListRunsQuery, response: { 200: page(RunListItemSchema), ...ErrorResponses } },
      config: read,
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const { journeyId, profileId, status, cursor } = request.query;
      const scope = `${organizationId}:journey-runs`;
      const limit = request.query.limit ?? 50;
      const rows = await listRuns(
        db,
        organizationId,
        { ...(journeyId !== undefined ? { journeyId } : {}), ...(profileId !== undefined ? { profileId } : {}), ...(status !== undefined ? { status } : {}) },
        { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, cursor) },
      );
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (r) => r.runId }, (r) => r);
    },
  );

  typed.get(
    '/api/v1/journeys/runs/:runId',
    { schema: { tags: ['journeys'], summary: 'Get a run with its steps', params: RunIdParams, response: { 200: RunSchema, ...ErrorResponses } }, config: read },
    async (request) => {
      const run = await getRun(db, principalOf(request).organizationId, request.params.runId);
      if (!run) throw new HttpError('not_found', 'Run not found.');
      return run;
    },
  );

  typed.post(
    '/api/v1/journeys/runs/:runId/exit',
    {
      schema: { tags: ['journeys'], summary: 'Exit a queued or running run (reason manual)', params: RunIdParams, response: { 200: RunSchema, ...ErrorResponses } },
      config: { scopes: ['journeys:write'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const result = await deps.committer.run((trx) => exitRunManually(trx, deps, organizationId, request.params.runId));
      if (!result.ok) throw domainHttpError(result.error);
      return result.value;
    },
  );

  const requireJourney = async (organizationId: string, id: string): Promise<string> => {
    const journeyId = await journeyExists(db, organizationId, id);
    if (journeyId === null) throw new HttpError('not_found', 'Journey not found.');
    return journeyId;
  };

  typed.get(
    '/api/v1/journeys/:id/runs',
    {
      schema: {
        tags: ['journeys'],
        summary: "List a journey's runs, newest first",
        params: JourneyIdParams,
        querystring: ListJourneyRunsQuery,
        response: { 200: page(RunListItemSchema), ...ErrorResponses },
      },
      config: read,
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const journeyId = await requireJourney(organizationId, request.params.id);
      const { profileId, status, cursor } = request.query;
      const scope = `${organizationId}:journey-runs:${journeyId}`;
      const limit = request.query.limit ?? 50;
      const rows = await listRuns(
        db,
        organizationId,
        { journeyId, ...(profileId !== undefined ? { profileId } : {}), ...(status !== undefined ? { status } : {}) },
        { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, cursor) },
      );
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (r) => r.runId }, (r) => r);
    },
  );

  typed.get(
    '/api/v1/journeys/:id/entry-decisions',
    {
      schema: {
        tags: ['journeys'],
        summary: "List a journey's entry decisions, newest first",
        description: 'One per matched event (enrolled or skipped with its reason) and per API trigger that enrolled; kept SEGMENTFLOW_ENTRY_DECISION_RETENTION_DAYS days.',
        params: JourneyIdParams,
        querystring: ListEntryDecisionsQuery,
        response: { 200: page(EntryDecisionSchema), ...ErrorResponses },
      },
      config: read,
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const journeyId = await requireJourney(organizationId, request.params.id);
      const { profileId, outcome, cursor } = request.query;
      const scope = `${organizationId}:journey-entry-decisions:${journeyId}`;
      const limit = request.query.limit ?? 50;
      const rows = await listEntryDecisions(
        db,
        organizationId,
        journeyId,
        { ...(profileId !== undefined ? { profileId } : {}), ...(outcome !== undefined ? { outcome } : {}) },
        { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, cursor) },
      );
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (r) => r.id }, (r) => r);
    },
  );

  typed.get(
    '/api/v1/journeys/:id/stats',
    {
      schema: {
        tags: ['journeys'],
        summary: 'Run, entry and step counts of a journey (all versions unless versionId)',
        params: JourneyIdParams,
        querystring: StatsQuery,
        response: { 200: StatsSchema, ...ErrorResponses },
      },
      config: read,
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const journeyId = await requireJourney(organizationId, request.params.id);
      return journeyStats(db, organizationId, journeyId, request.query.versionId ?? null);
    },
  );
}
