/**
 * HTTP routes of events (events.md): POST /api/v1/events (events.track) and the read routes.
 * Thin: parse → check limits the schema cannot express → call the service → map the result.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/auth.js';
import { domainHttpError, errorOutcome } from '../../http/domain-errors.js';
import { toHttpError } from '../../http/error-handler.js';
import { HttpError, validationError, type FieldError } from '../../http/errors.js';
import { readIdempotencyKey, requestFingerprint, type Outcome } from '../../http/idempotency.js';
import type { BatchKind } from '../../db/group-commit.js';
import type { Result } from '../../lib/result.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { pageOf, pageStart } from '../../http/pagination.js';
import { canonicalEmail, parseDateTime } from '../../http/validation.js';
import { escapeToken } from '../../lib/json-pointer.js';
import { EventIdParams, ListEventsQuery, TrackEventBody, TrackEventResponse, UserEventSchema } from './events.schema.js';
import { toUserEventView, trackEvent, type TrackDeps, type TrackError, type TrackInput, type TrackResult } from './events.service.js';
import { trackEvents } from './track-many.js';
import { selectUserEvent, selectUserEventsPage } from './events.store.js';
import { redactTrackBody } from './redaction.js';

const MAX_FUTURE_MS = 24 * 3600 * 1000;
const MAX_PROPERTY_VALUE_BYTES = 32 * 1024;
const MAX_DATA_BYTES = 256 * 1024;

/** Limits of events.md §1 that JSON Schema cannot state. */
function checkTrackLimits(body: TrackEventBody, data: Record<string, unknown>, now: number): FieldError[] {
  const errors: FieldError[] = [];
  if (body.occurredAt !== undefined && parseDateTime(body.occurredAt)! > now + MAX_FUTURE_MS) {
    errors.push({ in: 'body', pointer: '/occurredAt', message: 'must not be more than 24 hours in the future' });
  }
  for (const [key, value] of Object.entries(body.profile.properties ?? {})) {
    if (Buffer.byteLength(JSON.stringify(value ?? null)) > MAX_PROPERTY_VALUE_BYTES) {
      errors.push({ in: 'body', pointer: `/profile/properties/${escapeToken(key)}`, message: 'value is larger than 32 KiB of JSON' });
    }
  }
  if (Buffer.byteLength(JSON.stringify(data)) > MAX_DATA_BYTES) {
    errors.push({ in: 'body', pointer: '/data', message: 'is larger than 256 KiB serialised' });
  }
  return errors;
}

function trackInput(organizationId: string, body: TrackEventBody, data: Record<string, unknown>, redactedPaths: string[], receivedAt: number): TrackInput {
  return {
    organizationId,
    event: body.event,
    ...(body.profile.email !== undefined ? { email: canonicalEmail(body.profile.email) } : {}),
    ...(body.profile.externalId !== undefined ? { externalId: body.profile.externalId } : {}),
    ...(body.profile.properties !== undefined ? { properties: body.profile.properties } : {}),
    data,
    redactedPaths,
    referenceId: body.referenceId ?? null,
    occurredAt: body.occurredAt !== undefined ? parseDateTime(body.occurredAt)! : receivedAt,
    receivedAt,
  };
}

/** A POST /api/v1/events request: its validation failure, or what to track. */
type TrackRequest = { invalid: HttpError } | { input: TrackInput };

function trackOutcome(result: Result<TrackResult, TrackError>): Outcome {
  if (!result.ok) return errorOutcome(domainHttpError(result.error));
  return { status: 202, body: result.value, profileId: result.value.profileId };
}

/** Concurrent track requests share their statements (`trackEvents`); each still gets its own outcome. */
function trackBatchKind(deps: TrackDeps): BatchKind<TrackRequest, Outcome> {
  return {
    one: async (trx, request) => ('invalid' in request ? errorOutcome(request.invalid) : trackOutcome(await trackEvent(trx, deps, request.input))),
    many: async (trx, requests) => {
      const results = await trackEvents(trx, deps, requests.flatMap((r) => ('input' in r ? [r.input] : [])));
      let next = 0;
      return requests.map((r) => ('invalid' in r ? errorOutcome(r.invalid) : trackOutcome(results[next++]!)));
    },
  };
}

export function registerEventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const trackRequests = trackBatchKind(deps);

  typed.post(
    '/api/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Track an event (events.track)',
        description: 'Resolves or creates the Profile, applies its properties, stores the redacted event and evaluates journeys; answers after one committed transaction. Requires Idempotency-Key.',
        body: TrackEventBody,
        response: { 202: TrackEventResponse, ...ErrorResponses },
      },
      attachValidation: true,
      config: { scopes: ['events:write'] },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      const key = readIdempotencyKey(request, 'required');
      const raw: unknown = request.body;
      // Before anything else touches the body: the secret must not even be fingerprinted.
      const redactedPaths = redactTrackBody(raw);
      const receivedAt = deps.clock.now();
      let invalid: HttpError | null = request.validationError ? toHttpError(request.validationError) : null;
      const body = request.body;
      const data = (body?.data ?? {}) as Record<string, unknown>;
      if (invalid === null) {
        const limits = checkTrackLimits(body, data, receivedAt);
        if (limits.length > 0) invalid = validationError(limits);
      }
      const track: TrackRequest = invalid !== null ? { invalid } : { input: trackInput(organizationId, body, data, redactedPaths, receivedAt) };
      return idempotency.respondBatched(
        reply,
        { organizationId, key, fingerprint: () => requestFingerprint('POST', request.url, raw) },
        trackRequests,
        track,
      );
    },
  );

  typed.get(
    '/api/v1/events/:eventId',
    {
      schema: { tags: ['events'], summary: 'Get a stored UserEvent', params: EventIdParams, response: { 200: UserEventSchema, ...ErrorResponses } },
      config: { scopes: ['events:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const row = await selectUserEvent(deps.db.kysely, organizationId, request.params.eventId.toLowerCase());
      if (!row) throw new HttpError('not_found', 'Event not found.');
      return toUserEventView(row);
    },
  );

  typed.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'List stored UserEvents, newest first',
        querystring: ListEventsQuery,
        response: { 200: { type: 'object', properties: { data: { type: 'array', items: UserEventSchema }, nextCursor: { type: ['string', 'null'] } } }, ...ErrorResponses },
      },
      config: { scopes: ['events:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const q = request.query;
      const scope = `${organizationId}:events`;
      // The position is `<receivedAt>:<id>`: events are ordered by receipt, then id.
      const position = pageStart(ctx.cursorSecret, scope, q.cursor);
      const m = position === null ? null : /^(\d+):(.+)$/.exec(position);
      if (position !== null && !m) throw validationError([{ in: 'query', pointer: '/cursor', message: 'is not a cursor of this route' }]);
      const after = m ? { receivedAt: Number(m[1]), id: m[2]! } : null;
      const limit = q.limit ?? 50;
      const rows = await selectUserEventsPage(
        deps.db.kysely,
        organizationId,
        {
          ...(q.profileId !== undefined ? { profileId: q.profileId.toLowerCase() } : {}),
          ...(q.event !== undefined ? { event: q.event } : {}),
          ...(q.referenceId !== undefined ? { referenceId: q.referenceId } : {}),
          ...(q.source !== undefined ? { source: q.source } : {}),
          ...(q.since !== undefined ? { since: parseDateTime(q.since)! } : {}),
          ...(q.until !== undefined ? { until: parseDateTime(q.until)! } : {}),
        },
        { limit: limit + 1, after },
      );
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (row) => `${row.received_at}:${row.id}` }, toUserEventView);
    },
  );
}
