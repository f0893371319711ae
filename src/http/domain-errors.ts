/**
 * Typed domain failures → the error envelope, in one place (STYLE.md habit 3). Each service's
 * error union is listed here and mapped exhaustively.
 */
import type { ResolveError } from '../modules/profiles/profiles.service.js';
import type { SendError } from '../modules/emails/emails.service.js';
import { publicationReasonOf } from '../modules/journeys/definition/definition.js';
import type { JourneyError } from '../modules/journeys/journeys.service.js';
import type { RunError } from '../modules/journeys/runs/runs.service.js';
import type { SenderError } from '../modules/senders/senders.service.js';
import type { SubscriptionError } from '../modules/subscriptions/subscriptions.service.js';
import type { PreviewError } from '../modules/templates/templates.preview.js';
import { HttpError, validationError } from './errors.js';
import type { Outcome } from './idempotency.js';

export type DomainError = ResolveError | PreviewError | SendError | SenderError | SubscriptionError | JourneyError | RunError;

function unprocessable(reason: string, message: string, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError('unprocessable', message, { reason, ...extra });
}

const NOT_FOUND_NAMES = {
  Domain: 'Domain',
  SenderProfile: 'Sender profile',
  SubscriptionGroup: 'Subscription group',
  Profile: 'Profile',
} as const;

export function domainHttpError(error: DomainError): HttpError {
  switch (error.type) {
    case 'identity_conflict':
      return new HttpError('identity_conflict', 'The email and externalId belong to two different Profiles.', {
        byExternalId: error.byExternalId,
        byEmail: error.byEmail,
      });
    case 'profile_not_found':
      return error.by === 'profileId'
        ? new HttpError('profile_not_found', 'No Profile with this profileId exists in this organization.')
        : new HttpError('profile_not_found', 'No Profile has this externalId; include an email to create one.');
    case 'invalid_definition':
      return validationError(error.errors.map((e) => ({ in: 'body', pointer: `/definition${e.pointer}`, message: e.message })));
    case 'reference_not_found':
      return unprocessable('reference_not_found', 'A referenced record does not exist in this organization.', {
        errors: error.pointers.map((pointer) => ({ in: 'body', pointer, message: 'does not exist in this organization' })),
      });
    case 'template_not_found':
      return new HttpError('not_found', 'Template not found.');
    case 'snapshot_not_found':
      return new HttpError('not_found', 'Template snapshot not found.');
    case 'template_archived':
      return unprocessable('template_archived', 'The template is archived.');
    case 'template_incomplete':
      return unprocessable('template_incomplete', `The template is incomplete: ${error.missing.join(', ')} missing.`, { missing: error.missing });
    case 'template_not_published':
      return unprocessable('template_not_published', 'The template has not been published yet.');
    case 'render_failed':
      return unprocessable('invalid_definition', `The template cannot be rendered: ${error.reason}.`, { errors: [{ message: error.reason }] });
    case 'template_purpose_mismatch':
      return unprocessable('template_purpose_mismatch', 'Only Transactional templates can be sent with emails.send.');
    case 'sender_not_verified':
      return unprocessable('sender_not_verified', 'The from-address is not a SenderProfile on a verified Domain of this organization.');
    case 'sender_mismatch':
      return unprocessable('sender_mismatch', 'from and senderProfileId name different SenderProfiles.');
    case 'reply_to_not_allowed':
      return unprocessable('reply_to_not_allowed', 'replyTo must be on a verified Domain of this organization.');
    case 'not_found':
      return new HttpError('not_found', `${NOT_FOUND_NAMES[error.resource]} not found.`);
    case 'invalid_field':
      return validationError([{ in: 'body', pointer: error.pointer, message: error.message }]);
    case 'already_exists':
      return new HttpError('already_exists', `This ${error.field} is already taken in this organization.`, { field: error.field });
    case 'resource_in_use':
      return new HttpError('resource_in_use', 'The record is still referenced; remove the references first.', { references: error.references });
    case 'immutable_field':
      return unprocessable('immutable_field', `${error.field} cannot be changed.`, { field: error.field });
    case 'journey_not_found':
      return new HttpError('not_found', 'Journey not found.');
    case 'invalid_state':
      return new HttpError('invalid_state', `Not allowed while the journey is ${error.status}.`, { status: error.status });
    case 'journey_definition_malformed':
      return validationError(error.errors.map((e) => ({ in: 'body', pointer: `/definition${e.pointer}`, message: e.message })));
    case 'journey_definition_invalid': {
      const errors = error.errors.map((e) => ({ pointer: `/definition${e.pointer}`, message: e.message }));
      // Only unpublished or archived templates in the way: say which, as activation does.
      const reasons = new Set(error.errors.map(publicationReasonOf));
      const only = reasons.size === 1 ? [...reasons][0] : null;
      return unprocessable(only ?? 'invalid_definition', 'The journey definition is not valid.', { errors });
    }
    case 'journey_not_api_entry':
      return unprocessable('journey_not_api_entry', "The journey's entry is not api; it cannot be triggered.");
    case 'not_eligible':
      return unprocessable('not_eligible', `The Profile is not eligible for this journey (${error.rule}).`, { rule: error.rule });
    case 'run_not_found':
      return new HttpError('not_found', 'Run not found.');
    case 'run_finished':
      return new HttpError('invalid_state', `The run is already ${error.status}.`, { status: error.status });
    case 'missing_paths':
      return unprocessable('missing_paths', 'Some state paths used by the template are missing.', { missingPaths: error.missingPaths });
  }
}

export function errorOutcome(error: HttpError): Outcome {
  return { status: error.status, body: error.envelope() };
}
