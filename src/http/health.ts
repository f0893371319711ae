/** Operational routes served by every role (cli.md §4): liveness, readiness, a few metrics. */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/connect.js';
import { migrationsAreCurrent } from '../db/migrate.js';

export function registerHealthRoutes(app: FastifyInstance, db: Db): void {
  const startedAt = Date.now();
  let requests = 0;
  app.addHook('onResponse', async () => {
    requests++;
  });
  app.get('/healthz', { schema: { hide: true }, config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true }, config: { public: true } }, async (_request, reply) => {
    try {
      if (await migrationsAreCurrent(db)) return { status: 'ready' };
      return reply.code(503).header('retry-after', '1').send({ error: 'service_unavailable', message: 'Migrations are not current.' });
    } catch {
      return reply.code(503).header('retry-after', '1').send({ error: 'service_unavailable', message: 'The database does not answer.' });
    }
  });
  app.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_request, reply) => {
    const lines = [
      '# HELP segmentflow_http_requests_total HTTP requests answered since start.',
      '# TYPE segmentflow_http_requests_total counter',
      `segmentflow_http_requests_total ${requests}`,
      '# HELP segmentflow_uptime_seconds Seconds since the process started.',
      '# TYPE segmentflow_uptime_seconds gauge',
      `segmentflow_uptime_seconds ${Math.floor((Date.now() - startedAt) / 1000)}`,
    ];
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });
}
