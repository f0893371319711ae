/**
 * The shape every creating POST shares (conventions.md §8.1): an optional Idempotency-Key read
 * before anything else, schema failures answered (and stored) like business outcomes, and the
 * service's work run in the group-committed transaction of the idempotency record. The route
 * declares `attachValidation: true` so a schema failure reaches this function.
 */
import type { Transaction } from 'kysely';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/tables.js';
import type { Result } from '../lib/result.js';
import { principalOf } from './auth.js';
import { domainHttpError, errorOutcome, type DomainError } from './domain-errors.js';
import { toHttpError } from './error-handler.js';
import { readIdempotencyKey, requestFingerprint, type IdempotencyGate } from './idempotency.js';

/** A service outcome and the status a success answers with. */
export type Created<T> = Result<{ status: number; body: T }, DomainError>;

export function withStatus<T>(status: number, result: Result<T, DomainError>): Created<T> {
  return result.ok ? { ok: true, value: { status, body: result.value } } : result;
}

export function respondCreating<T>(
  idempotency: IdempotencyGate,
  request: FastifyRequest,
  reply: FastifyReply,
  run: (trx: Transaction<Database>, organizationId: string) => Promise<Created<T>>,
): Promise<FastifyReply> {
  const { organizationId } = principalOf(request);
  const key = readIdempotencyKey(request, 'optional');
  const invalid = request.validationError ? toHttpError(request.validationError) : null;
  return idempotency.respond(reply, { organizationId, key, fingerprint: () => requestFingerprint(request.method, request.url, request.body) }, async (trx) => {
    if (invalid !== null) return errorOutcome(invalid);
    const result = await run(trx, organizationId);
    return result.ok ? result.value : errorOutcome(domainHttpError(result.error));
  });
}
