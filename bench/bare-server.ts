/**
 * The baseline of bench/events-track.ts: a bare Fastify 5 app on the same route that does nothing
 * but parse the JSON body (Fastify's default application/json parser) and answer 202 `{}`. It runs
 * in its own process like the server under test, so the ratio compares like with like: same
 * machine, same load generator, same requests, same run.
 *
 * Usage: node --import tsx bench/bare-server.ts <port>  (listens on 127.0.0.1 only)
 */
import Fastify from 'fastify';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: bare-server.ts <port>\n');
  process.exit(2);
}

const app = Fastify({ logger: false });
app.post('/api/v1/events', async (_request, reply) => reply.code(202).send({}));

await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`bare fastify listening on http://127.0.0.1:${port}\n`);

const stop = () => {
  void app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
