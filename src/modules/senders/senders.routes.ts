/** HTTP routes of Domains and SenderProfiles (emails.md §8.1–8.2). Thin: schema → service → envelope. */
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
  CreateDomainBody,
  CreateSenderProfileBody,
  DomainSchema,
  IdParams,
  ListQuery,
  page,
  SenderProfileSchema,
  UpdateSenderProfileBody,
} from './senders.schema.js';
import {
  createDomain,
  createSenderProfile,
  deleteDomain,
  deleteSenderProfile,
  getDomain,
  getSenderProfile,
  listDomains,
  listSenderProfiles,
  updateSenderProfile,
  verifyDomain,
  type SenderError,
} from './senders.service.js';

function unwrap<T>(result: Result<T, SenderError>): T {
  if (!result.ok) throw domainHttpError(result.error);
  return result.value;
}

export function registerSenderRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const read = { scopes: ['senders:read'] as const };
  const write = { scopes: ['senders:write'] as const };

  // ---- Domains ----

  typed.get(
    '/api/v1/domains',
    { schema: { tags: ['domains'], summary: 'List Domains, newest first', querystring: ListQuery, response: { 200: page(DomainSchema), ...ErrorResponses } }, config: read },
    async (request) => {
      const { organizationId } = principalOf(request);
      const scope = `${organizationId}:domains`;
      const limit = request.query.limit ?? 50;
      const rows = await listDomains(db, organizationId, { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, request.query.cursor) });
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (d) => d.id }, (d) => d);
    },
  );

  typed.post(
    '/api/v1/domains',
    {
      schema: { tags: ['domains'], summary: 'Add a Domain; the answer holds the TXT record to create', body: CreateDomainBody, response: { 201: DomainSchema, ...ErrorResponses } },
      attachValidation: true,
      config: write,
    },
    (request, reply) => respondCreating(idempotency, request, reply, async (trx, organizationId) => withStatus(201, await createDomain(trx, deps, organizationId, request.body.name))),
  );

  typed.get(
    '/api/v1/domains/:id',
    { schema: { tags: ['domains'], summary: 'Get a Domain', params: IdParams, response: { 200: DomainSchema, ...ErrorResponses } }, config: read },
    async (request) => {
      const domain = await getDomain(db, principalOf(request).organizationId, request.params.id);
      if (!domain) throw new HttpError('not_found', 'Domain not found.');
      return domain;
    },
  );

  typed.post(
    '/api/v1/domains/:id/verify',
    {
      schema: {
        tags: ['domains'],
        summary: 'Look up the TXT record: found → verified, otherwise failed with lastError',
        params: IdParams,
        response: { 200: DomainSchema, ...ErrorResponses },
      },
      config: write,
    },
    // The DNS lookup runs outside any transaction; the result is one UPDATE.
    async (request) => unwrap(await verifyDomain(db, deps, principalOf(request).organizationId, request.params.id)),
  );

  typed.delete(
    '/api/v1/domains/:id',
    {
      schema: { tags: ['domains'], summary: 'Delete a Domain no SenderProfile uses', params: IdParams, response: { 204: Type.Null(), ...ErrorResponses } },
      config: write,
    },
    async (request, reply) => {
      unwrap(await deps.committer.run((trx) => deleteDomain(trx, principalOf(request).organizationId, request.params.id)));
      return reply.code(204).send(null);
    },
  );

  // ---- SenderProfiles ----

  typed.get(
    '/api/v1/sender-profiles',
    {
      schema: { tags: ['sender-profiles'], summary: 'List SenderProfiles, newest first', querystring: ListQuery, response: { 200: page(SenderProfileSchema), ...ErrorResponses } },
      config: read,
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const scope = `${organizationId}:sender-profiles`;
      const limit = request.query.limit ?? 50;
      const rows = await listSenderProfiles(db, organizationId, { limit: limit + 1, beforeId: pageStart(ctx.cursorSecret, scope, request.query.cursor) });
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (s) => s.id }, (s) => s);
    },
  );

  typed.post(
    '/api/v1/sender-profiles',
    {
      schema: { tags: ['sender-profiles'], summary: 'Create a SenderProfile on a Domain of the organization', body: CreateSenderProfileBody, response: { 201: SenderProfileSchema, ...ErrorResponses } },
      attachValidation: true,
      config: write,
    },
    (request, reply) =>
      respondCreating(idempotency, request, reply, async (trx, organizationId) => withStatus(201, await createSenderProfile(trx, deps, organizationId, request.body))),
  );

  typed.get(
    '/api/v1/sender-profiles/:id',
    { schema: { tags: ['sender-profiles'], summary: 'Get a SenderProfile', params: IdParams, response: { 200: SenderProfileSchema, ...ErrorResponses } }, config: read },
    async (request) => {
      const sender = await getSenderProfile(db, principalOf(request).organizationId, request.params.id);
      if (!sender) throw new HttpError('not_found', 'Sender profile not found.');
      return sender;
    },
  );

  typed.put(
    '/api/v1/sender-profiles/:id',
    {
      schema: { tags: ['sender-profiles'], summary: 'Update a SenderProfile (partial; email is immutable)', params: IdParams, body: UpdateSenderProfileBody, response: { 200: SenderProfileSchema, ...ErrorResponses } },
      config: write,
    },
    async (request) => unwrap(await deps.committer.run((trx) => updateSenderProfile(trx, deps, principalOf(request).organizationId, request.params.id, request.body))),
  );

  typed.delete(
    '/api/v1/sender-profiles/:id',
    {
      schema: { tags: ['sender-profiles'], summary: 'Delete a SenderProfile no Template references', params: IdParams, response: { 204: Type.Null(), ...ErrorResponses } },
      config: write,
    },
    async (request, reply) => {
      unwrap(await deps.committer.run((trx) => deleteSenderProfile(trx, deps, principalOf(request).organizationId, request.params.id)));
      return reply.code(204).send(null);
    },
  );
}
