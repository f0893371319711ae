/**
 * API-key authentication and scope checks for the unified API (conventions.md §2). Runs in
 * `onRequest`, before the body is read: an unauthenticated caller learns nothing about body
 * validation. Each route declares the scopes it needs in `config.scopes`; routes with
 * `config.public` skip authentication.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyAuthenticator, Principal } from '../modules/api-keys/api-keys.service.js';
import type { Scope } from '../modules/api-keys/scopes.js';
import { HttpError, WWW_AUTHENTICATE_API_KEY } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scopes the route needs, all of them. Absent on public routes. */
    scopes?: readonly Scope[];
    /** No API key: operational routes, docs, public links. */
    public?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function unauthorized(): HttpError {
  return new HttpError('unauthorized', 'Missing or invalid API key.', undefined, { 'www-authenticate': WWW_AUTHENTICATE_API_KEY });
}

export function registerApiKeyAuth(app: FastifyInstance, authenticator: ApiKeyAuthenticator): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    // Unknown routes (404 handler) and public routes need no key.
    if (config.public === true || config.scopes === undefined) return;
    const header = request.headers['x-api-key'];
    const principal = typeof header === 'string' ? await authenticator.authenticate(header) : null;
    if (principal === null) throw unauthorized();
    const missing = config.scopes.filter((scope) => !principal.scopes.has(scope));
    if (missing.length > 0) {
      throw new HttpError('insufficient_scope', `This API key lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`, {
        required: [...config.scopes],
      });
    }
    request.principal = principal;
  });
}

/** The authenticated principal of a route that declares scopes (the hook guarantees it). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new Error('principalOf() called on a route without authentication');
  return request.principal;
}
