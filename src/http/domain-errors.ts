/**
 * Typed domain failures → the error envelope, in one place (STYLE.md habit 3). Each service's
 * error union is listed here and mapped exhaustively.
 */
import type { ResolveError } from '../modules/profiles/profiles.service.js';
import { HttpError } from './errors.js';
import type { Outcome } from './idempotency.js';

export type DomainError = ResolveError;

export function domainHttpError(error: DomainError): HttpError {
  switch (error.type) {
    case 'identity_conflict':
      return new HttpError('identity_conflict', 'The email and externalId belong to two different Profiles.', {
        byExternalId: error.byExternalId,
        byEmail: error.byEmail,
      });
    case 'profile_not_found':
      return new HttpError('profile_not_found', 'No Profile has this externalId; include an email to create one.');
  }
}

export function errorOutcome(error: HttpError): Outcome {
  return { status: error.status, body: error.envelope() };
}
