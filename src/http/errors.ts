/**
 * The one closed list of error codes (conventions.md §4.2, docs/errors.md) and the envelope
 * `{error, message, details?}`. Routes and services never choose an HTTP status themselves: they
 * name a code, and this table decides the status.
 */
export const ERROR_STATUS = {
  validation_failed: 400,
  malformed_json: 400,
  idempotency_key_required: 400,
  idempotency_key_invalid: 400,
  invalid_token: 400,
  unauthorized: 401,
  insufficient_scope: 403,
  csrf_failed: 403,
  not_found: 404,
  identity_conflict: 409,
  idempotency_key_reuse: 409,
  idempotency_in_progress: 409,
  already_exists: 409,
  invalid_state: 409,
  resource_in_use: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  profile_not_found: 422,
  unprocessable: 422,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorEnvelope {
  error: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface FieldError {
  in: 'body' | 'query' | 'path' | 'header';
  pointer: string;
  message: string;
}

/** An expected HTTP-level failure, thrown inside the HTTP layer and rendered by the error handler. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
    this.headers = headers;
  }

  envelope(): ErrorEnvelope {
    return this.details === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, details: this.details };
  }
}

export const MAX_REPORTED_ERRORS = 50;

/** Field errors sorted by pointer, de-duplicated, at most 50 (conventions.md §4.4). */
export function validationError(errors: FieldError[]): HttpError {
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const key = `${e.in}\u0000${e.pointer}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const order = { path: 0, header: 1, query: 2, body: 3 } as const;
  unique.sort((a, b) => order[a.in] - order[b.in] || (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0));
  const part = unique[0]?.in ?? 'body';
  const messages = { body: 'Request body is invalid.', query: 'Query parameters are invalid.', path: 'Path parameters are invalid.', header: 'Request headers are invalid.' };
  return new HttpError('validation_failed', messages[part], { errors: unique.slice(0, MAX_REPORTED_ERRORS) });
}

export const WWW_AUTHENTICATE_API_KEY = 'ApiKey realm="segmentflow"';
