/**
 * Delivery webhook routes (emails.md §8.5) and the rotation of their secret. The webhook routes
 * need no API key: the generic route is authenticated by an HMAC signature over the raw body, the
 * Postmark adapter by HTTP Basic with the secret as password. They live in an encapsulated plugin
 * whose JSON parser keeps the raw bytes for the signature; credentials are checked before the
 * body is validated, so an unauthenticated caller learns nothing about our schema.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/auth.js';
import { HttpError, validationError } from '../../http/errors.js';
import { parseJsonBody } from '../../http/json-body.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { canonicalEmail } from '../../lib/email.js';
import { parseDateTime } from '../../lib/date-time.js';
import { isUuid } from '../../lib/ids.js';
import { postmarkEvents } from './postmark.js';
import { SIGNATURE_HEADER, verifyBasicPassword, verifyWebhookSignature } from './webhook-auth.js';
import {
  GenericWebhookBody,
  OrganizationParams,
  PostmarkWebhookBody,
  SignatureHeaders,
  WebhookResult,
  WebhookSecretResponse,
  type DeliveryEventInput,
} from './webhooks.schema.js';
import { bounceTypeOf, deliveryWebhookSecret, messageIdHeaderOf, processDeliveryEvents, rotateDeliveryWebhookSecret, type DeliveryEvent } from './webhooks.service.js';

const WEBHOOK_ERRORS = { 400: ErrorResponses[400], 401: ErrorResponses[401], 413: ErrorResponses[413], 415: ErrorResponses[415] };

function webhookUnauthorized(challenge: string): HttpError {
  return new HttpError('unauthorized', 'Missing, invalid or expired webhook credentials.', undefined, { 'www-authenticate': challenge });
}

function fromGenericEvent(input: DeliveryEventInput): DeliveryEvent {
  return {
    id: input.id,
    type: input.type,
    bounceType: input.type === 'bounce' ? (input.bounceType ?? bounceTypeOf(input.diagnosticCode)) : null,
    email: canonicalEmail(input.email),
    messageIdHeader: input.messageId === undefined ? null : messageIdHeaderOf(input.messageId),
    transportMessageId: null,
    diagnosticCode: input.diagnosticCode ?? null,
    reason: input.reason ?? null,
    occurredAt: parseDateTime(input.occurredAt)!,
  };
}

export function registerWebhookRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps } = ctx;
  const db = deps.db.kysely;

  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/api/v1/organization/delivery-webhook-secret',
    {
      schema: {
        tags: ['organization'],
        summary: 'Rotate the delivery-webhook secret',
        description:
          'Creates a new secret for the delivery webhooks of this organization and returns it once; the previous secret stops working immediately. It signs `POST /webhooks/delivery/{organizationId}/generic` and is the Basic-auth password of provider adapters such as `/postmark`.',
        response: { 200: WebhookSecretResponse, ...ErrorResponses },
      },
      config: { scopes: ['api-keys:admin'] },
    },
    async (request) => {
      const organizationId = principalOf(request).organizationId;
      const secret = await deps.committer.run((trx) => rotateDeliveryWebhookSecret(trx, organizationId));
      if (secret === null) throw new HttpError('not_found', 'Organization not found.');
      return { secret };
    },
  );

  const secretOf = async (organizationId: string) => (isUuid(organizationId) ? deliveryWebhookSecret(db, organizationId.toLowerCase()) : null);

  void app.register(async (scope) => {
    const rawBodies = new WeakMap<FastifyRequest, Buffer>();
    const parseFailures = new WeakMap<FastifyRequest, unknown>();
    // The raw bytes are kept for the signature; a body that is not JSON is reported only after
    // the credentials were checked.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const raw = body as Buffer;
      rawBodies.set(request, raw);
      try {
        done(null, raw.length === 0 ? undefined : parseJsonBody(raw));
      } catch (error) {
        parseFailures.set(request, error);
        done(null, undefined);
      }
    });
    const rethrowParseFailure = (request: FastifyRequest) => {
      if (parseFailures.has(request)) throw parseFailures.get(request);
      // An empty body is not JSON either (the app-wide check leaves public routes to themselves).
      if (request.body === undefined) throw new HttpError('malformed_json', 'Request body is empty; send a JSON value.');
    };
    const typed = scope.withTypeProvider<TypeBoxTypeProvider>();

    typed.post(
      '/webhooks/delivery/:organizationId/generic',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'Delivery events (generic, signed)',
          description:
            'Bounces, complaints and deliveries reported by a sending provider. Header `Segmentflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` with the secret from `POST /api/v1/organization/delivery-webhook-secret`, accepted within ±300 s; otherwise 401. Hard bounces and complaints add or update a suppression (source `webhook`); soft bounces and deliveries are recorded on the Message (found by its Message-ID). Events are de-duplicated by (organization, id).',
          params: OrganizationParams,
          headers: SignatureHeaders,
          body: GenericWebhookBody,
          security: [],
          response: { 200: WebhookResult, ...WEBHOOK_ERRORS },
        },
        config: { public: true },
        preValidation: async (request) => {
          const secret = await secretOf(request.params.organizationId);
          const header = request.headers[SIGNATURE_HEADER];
          const raw = rawBodies.get(request) ?? Buffer.alloc(0);
          if (secret === null || !verifyWebhookSignature(secret, typeof header === 'string' ? header : undefined, raw, deps.clock.now())) {
            throw webhookUnauthorized('Segmentflow-Signature realm="segmentflow-webhooks"');
          }
          rethrowParseFailure(request);
        },
      },
      async (request) => {
        const events = request.body.events.map(fromGenericEvent);
        const organizationId = request.params.organizationId.toLowerCase();
        return deps.committer.run((trx) => processDeliveryEvents(trx, deps, organizationId, 'generic', events));
      },
    );

    typed.post(
      '/webhooks/delivery/:organizationId/postmark',
      {
        schema: {
          tags: ['webhooks'],
          summary: 'Delivery events from Postmark (Basic auth)',
          description:
            "Postmark's Bounce, SpamComplaint and Delivery webhooks, one record per request. Postmark cannot sign requests, so configure the webhook URL with HTTP Basic credentials whose password is the delivery-webhook secret (any user name): `https://postmark:<secret>@<host>/webhooks/delivery/<organizationId>/postmark`; wrong or missing credentials → 401. Bounce types HardBounce and BadEmailAddress and spam complaints add or update a suppression (source `webhook`); other bounce types and deliveries are recorded on the Message whose transport message id is Postmark's MessageID. Other record types are acknowledged and ignored. De-duplicated by record (Bounce/SpamComplaint ID; MessageID and recipient for Delivery).",
          params: OrganizationParams,
          body: PostmarkWebhookBody,
          security: [],
          response: { 200: WebhookResult, ...WEBHOOK_ERRORS },
        },
        config: { public: true },
        // Basic credentials need no body: checked before it is read.
        onRequest: async (request) => {
          const secret = await secretOf(request.params.organizationId);
          if (secret === null || !verifyBasicPassword(request.headers.authorization, secret)) throw webhookUnauthorized('Basic realm="segmentflow-webhooks"');
        },
        preValidation: async (request) => rethrowParseFailure(request),
      },
      async (request) => {
        const mapped = postmarkEvents(request.body);
        if (!mapped.ok) throw validationError(mapped.error.map((p) => ({ in: 'body', ...p })));
        const organizationId = request.params.organizationId.toLowerCase();
        return deps.committer.run((trx) => processDeliveryEvents(trx, deps, organizationId, 'postmark', mapped.value));
      },
    );
  });
}
