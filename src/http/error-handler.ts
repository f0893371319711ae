/**
 * The single place where failures become HTTP answers: our HttpErrors, Fastify's own errors
 * (body too large, wrong content type, schema failures), an unreachable or exhausted database
 * (503 `service_unavailable`, logged) and anything unexpected, which is logged and answered 500
 * `internal_error` without details.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import { isDatabaseUnavailable } from './database-unavailable.js';
import { HttpError, validationError } from './errors.js';
import { fieldErrorsFromAjv } from './validation.js';

export function toHttpError(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  const fe = error as Partial<FastifyError> & { validation?: ErrorObject[]; validationContext?: string };
  if (Array.isArray(fe.validation)) return validationError(fieldErrorsFromAjv(fe.validation, fe.validationContext ?? 'body'));
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError('payload_too_large', 'Request body is larger than the limit of this route.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? new HttpError('unsupported_media_type', 'Send the body as application/json.')
        : new HttpError('malformed_json', 'Request body length does not match Content-Length.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError('malformed_json', 'Request body is not valid JSON.');
  }
  if (fe.statusCode === 413) return new HttpError('payload_too_large', 'Request body is too large.');
  if (fe.statusCode === 415) return new HttpError('unsupported_media_type', 'Unsupported Content-Type.');
  if (fe.statusCode === 400) return new HttpError('malformed_json', 'Request could not be read.');
  return null;
}

/** Seconds a client should wait before retrying while the database is unavailable. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

function databaseUnavailable(): HttpError {
  return new HttpError('service_unavailable', 'The database is unavailable; retry later.', undefined, {
    'retry-after': String(DATABASE_RETRY_AFTER_SECONDS),
  });
}

function sendError(reply: FastifyReply, error: HttpError): FastifyReply {
  return reply.code(error.status).headers(error.headers).type('application/json; charset=utf-8').send(JSON.stringify(error.envelope()));
}

/**
 * Errors Fastify raises before routing (the `frameworkErrors` option): no hook has run, so the
 * request id header is set here. A path that cannot be percent-decoded is a malformed path
 * value; a parameter longer than the router accepts matches no route (414 is not in our list).
 */
export function onFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      void sendError(reply, validationError([{ in: 'path', pointer: '', message: 'is not a valid percent-encoded URL path' }]));
      return;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      void sendError(reply, new HttpError('not_found', 'No route matches a path parameter this long.'));
      return;
  }
  request.log.error({ err: error }, 'unhandled framework error');
  void sendError(reply, new HttpError('internal_error', 'An unexpected error occurred; it has been logged.'));
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    // Not in toHttpError: a route that turns errors into per-item results (emails batch) must
    // still fail as a whole, with 503, when the database is gone.
    const unavailable = !(error instanceof HttpError) && isDatabaseUnavailable(error);
    if (unavailable) request.log.error({ err: error }, 'database unavailable');
    const known = unavailable ? databaseUnavailable() : toHttpError(error);
    if (known) return sendError(reply, known);
    request.log.error({ err: error }, 'unhandled error');
    return reply
      .code(500)
      .type('application/json; charset=utf-8')
      .send(JSON.stringify({ error: 'internal_error', message: 'An unexpected error occurred; it has been logged.' }));
  });
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).type('application/json; charset=utf-8').send(JSON.stringify({ error: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}.` }));
  });
}
