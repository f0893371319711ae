/**
 * OpenAPI 3.1 generated from the route schemas (@fastify/swagger) and interactive docs at /docs.
 * Nothing here is hand-written API description beyond the document header.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ERROR_STATUS } from './errors.js';

export const ErrorEnvelopeSchema = Type.Object(
  {
    error: Type.Union(Object.keys(ERROR_STATUS).map((code) => Type.Literal(code))),
    message: Type.String(),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'ErrorEnvelope', description: 'The error envelope of every non-2xx answer (see docs/errors.md).' },
);

const errorRef = (description: string) => ({ description, ...Type.Ref('ErrorEnvelope') });

/** The common non-2xx answers of authenticated JSON routes, for the OpenAPI document. */
export const ErrorResponses = {
  400: errorRef('validation_failed, malformed_json or idempotency_key_*'),
  401: errorRef('unauthorized'),
  403: errorRef('insufficient_scope'),
  404: errorRef('not_found'),
  409: errorRef('identity_conflict, idempotency_key_reuse, idempotency_in_progress'),
  413: errorRef('payload_too_large'),
  415: errorRef('unsupported_media_type'),
  422: errorRef('profile_not_found or unprocessable'),
} as const;

export async function registerOpenApi(app: FastifyInstance, publicUrl: string): Promise<void> {
  app.addSchema(ErrorEnvelopeSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Segmentflow API', version: '1.0.0', description: 'Self-hosted implementation of the Segmentflow v1 API.' },
      servers: [{ url: publicUrl }],
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
      security: [{ apiKey: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/api/v1/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
}
