/**
 * NUL characters and unpaired surrogates in path parameters and query values (conventions.md §5
 * applies to every string a request carries, not only the body). PostgreSQL cannot store or even
 * compare a string with NUL (`invalid byte sequence for encoding "UTF8": 0x00`), and an unpaired
 * surrogate is silently replaced by U+FFFD on the way to either database, so such values are
 * answered 400 `validation_failed` before any handler runs, whatever the route's schema says.
 * A route whose path parameter is an opaque lookup key answered 404 for anything it cannot find
 * (GET /api/v1/profiles/{profileId}) opts out with `config.opaqueParams` and must keep such
 * values away from SQL itself. Public routes (operational routes, docs and the public links,
 * whose signed tokens are verified before any lookup and whose answers are HTML pages for
 * browsers) are left alone; test/http/text-inputs.test.ts sweeps every GET route for 5xx.
 */
import type { FastifyInstance } from 'fastify';
import { validationError, type FieldError } from './errors.js';
import { BAD_STRING } from './json-body.js';
import { escapeToken } from '../lib/json-pointer.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Path parameters are opaque lookup keys: the handler answers 404 for any value, NUL included. */
    opaqueParams?: boolean;
  }
}

const MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/** Field errors for every bad key or value of a params or query object (values may be arrays). */
export function badTextInputs(values: unknown, part: 'path' | 'query'): FieldError[] {
  if (values === null || typeof values !== 'object') return [];
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(values)) {
    const strings = Array.isArray(value) ? value : [value];
    if (BAD_STRING.test(key) || strings.some((s) => typeof s === 'string' && BAD_STRING.test(s))) {
      errors.push({ in: part, pointer: `/${escapeToken(key)}`, message: MESSAGE });
    }
  }
  return errors;
}

export function registerTextInputCheck(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const config = request.routeOptions.config;
    if (request.is404 || config.public === true) return;
    const errors = [
      ...(config.opaqueParams === true ? [] : badTextInputs(request.params, 'path')),
      ...badTextInputs(request.query, 'query'),
    ];
    if (errors.length > 0) throw validationError(errors);
  });
}
