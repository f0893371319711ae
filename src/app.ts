/**
 * buildApp(deps) → a Fastify instance with every route registered. Pure wiring: it never
 * listens and never reads the environment, so tests (app.inject), the CLI and `serve` share it.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyContextConfig, type FastifyInstance } from 'fastify';
import type { Deps } from './deps.js';
import { registerApiKeyAuth } from './http/auth.js';
import { onFrameworkError, registerErrorHandling } from './http/error-handler.js';
import { HttpError } from './http/errors.js';
import { registerHealthRoutes } from './http/health.js';
import { IdempotencyGate } from './http/idempotency.js';
import { parseJsonBody, registerEmptyBodyCheck } from './http/json-body.js';
import { registerOpenApi } from './http/openapi.js';
import type { RouteContext } from './http/route-context.js';
import { registerTextInputCheck } from './http/text-inputs.js';
import { validatorCompiler } from './http/validation.js';
import { registerApiKeyRoutes } from './modules/api-keys/api-keys.routes.js';
import { ApiKeyAuthenticator } from './modules/api-keys/api-keys.service.js';
import { registerEmailRoutes } from './modules/emails/emails.routes.js';
import { registerEventRoutes } from './modules/events/events.routes.js';
import { registerJourneyRoutes } from './modules/journeys/journeys.routes.js';
import { journeyRunControl } from './modules/journeys/runs/lifecycle.js';
import { registerRunRoutes } from './modules/journeys/runs/runs.routes.js';
import { registerProfileRoutes } from './modules/profiles/profiles.routes.js';
import { registerPublicLinkRoutes } from './modules/public-links/public-links.routes.js';
import { registerSenderRoutes } from './modules/senders/senders.routes.js';
import { registerSubscriptionRoutes } from './modules/subscriptions/subscriptions.routes.js';
import { registerSuppressionRoutes } from './modules/subscriptions/suppressions.routes.js';
import { registerTemplateRoutes } from './modules/templates/templates.routes.js';
import { registerWebhookRoutes } from './modules/webhooks/webhooks.routes.js';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/**
 * Larger than Node's whole request head (16 KiB by default), so an over-long path parameter
 * reaches its route (400 for a malformed id, 404 for a profile id, invalid_token for a link)
 * instead of the router's own 414. Signed public-link tokens are a few hundred characters.
 */
const MAX_PARAM_LENGTH = 64 * 1024;
/** Seconds a client should wait before retrying a request refused while the server drains. */
const DRAINING_RETRY_AFTER_SECONDS = 1;

export interface RegisteredRoute {
  method: string;
  url: string;
  /** The names of the route's querystring schema, if it has one. */
  query: string[];
  config: FastifyContextConfig;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route as registered (method and URL pattern), so tests can sweep all of them. */
    registeredRoutes: readonly RegisteredRoute[];
  }
}

export interface AppOptions {
  /** Serve only /healthz, /readyz and /metrics (the worker role). */
  operationalOnly?: boolean;
}

export async function buildApp(deps: Deps, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Our onResponse hook logs one line per request (no bodies, no headers).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Malformed percent-encoding and the like, answered in our envelope with x-request-id.
    frameworkErrors: onFrameworkError,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Fastify's own 503 has neither our envelope nor Retry-After: the onRequest hook below answers instead.
    return503OnClosing: false,
    ajv: { customOptions: {} },
  });
  const routes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', routes);
  app.addHook('onRoute', (route) => {
    const properties = (route.schema?.querystring as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, query: Object.keys(properties), config: route.config ?? {} });
  });
  app.setValidatorCompiler(validatorCompiler);
  registerErrorHandling(app);
  registerTextInputCheck(app);
  registerEmptyBodyCheck(app);
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Requests still arriving on open connections while the server closes (conventions.md §4.2).
    if (draining) {
      throw new HttpError('service_unavailable', 'The server is shutting down; retry.', undefined, { 'retry-after': String(DRAINING_RETRY_AFTER_SECONDS) });
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    // Method, route and status only: bodies, keys and addresses are never logged.
    request.log.info({ method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    // An empty body is "no body": registerEmptyBodyCheck refuses it where a body is required.
    try {
      done(null, (body as Buffer).length === 0 ? undefined : parseJsonBody(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  registerHealthRoutes(app, deps.db);
  if (options.operationalOnly) return app;

  await registerOpenApi(app, deps.config.publicUrl);
  const authenticator = new ApiKeyAuthenticator(deps.db.kysely, deps.clock, (error) => deps.logger.warn({ err: error }, 'lastUsedAt update failed'));
  registerApiKeyAuth(app, authenticator);
  const ctx: RouteContext = {
    deps,
    authenticator,
    idempotency: new IdempotencyGate({ committer: deps.committer, clock: deps.clock, ttlMs: deps.config.idempotencyTtlHours * 3600_000 }),
    cursorSecret: deps.secret,
  };
  registerApiKeyRoutes(app, ctx);
  registerEventRoutes(app, ctx);
  registerProfileRoutes(app, ctx);
  registerTemplateRoutes(app, ctx);
  registerSenderRoutes(app, ctx);
  registerSubscriptionRoutes(app, ctx);
  registerSuppressionRoutes(app, ctx);
  registerEmailRoutes(app, ctx);
  registerJourneyRoutes(app, ctx, journeyRunControl(deps));
  registerRunRoutes(app, ctx);
  registerPublicLinkRoutes(app, ctx);
  registerWebhookRoutes(app, ctx);
  return app;
}
