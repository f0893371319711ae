/**
 * Redaction must leave no trace of the secret anywhere durable (events.md §5): not in the
 * database (scanned as raw files for SQLite: main file, WAL and shm; every table for
 * PostgreSQL), not in the idempotency fingerprint input, not in the logs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { sql } from 'kysely';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, track } from '../harness/app.js';
import { redactEventData } from '../../src/modules/events/redaction.js';

const SECRET = 'tok_live_SUPERSECRET_4242';

test('redactEventData: members deleted, array elements nulled, all paths resolved against the original', () => {
  const data = { payment: { token: 's', last4: '4242' }, items: [{ sku: 'a' }, { sku: 'b' }, { sku: 'c' }], 'a/b': { '~k': 1 } };
  const paths = redactEventData(data, ['/event/payment/token', '/event/items/0', '/event/items/1/sku', '/event/missing/x', '/event/a~1b/~0k', '/event/items/0']);
  assert.deepEqual(data, { payment: { last4: '4242' }, items: [null, {}, { sku: 'c' }], 'a/b': {} });
  assert.deepEqual(paths, ['/event/payment/token', '/event/items/0', '/event/items/1/sku', '/event/missing/x', '/event/a~1b/~0k']);
});

forEachDialect('redaction leaves no trace', (dialect) => {
  test('the secret is nowhere in the database or the logs; the event keeps redactedPaths only', async () => {
    // Capture everything the app logs at the most verbose level.
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    const t = await createTestApp(dialect, { logger: pino({ level: 'trace' }, sink) });
    try {
      const org = await t.newOrg();
      const res = await track(t.app, org.key, {
        event: 'order.created',
        profile: { email: 'r@example.com', properties: { plan: 'Pro' } },
        data: { orderId: 'o1', payment: { token: SECRET }, cards: [SECRET, 'visible'] },
        redactedDataPaths: ['/event/payment/token', '/event/cards/0'],
      });
      assert.equal(res.statusCode, 202);
      const event = json(await t.app.inject({ method: 'GET', url: `/api/v1/events/${String(json(res).eventId)}`, headers: { 'x-api-key': org.key } }));
      assert.deepEqual(event.data, { orderId: 'o1', payment: {}, cards: [null, 'visible'] });
      assert.deepEqual(event.redactedPaths, ['/event/payment/token', '/event/cards/0']);
      // The replay of the same request must not need the secret either.
      assert.ok(!res.body.includes(SECRET));

      if (dialect === 'sqlite') {
        const dir = t.database.sqliteDir!;
        for (const file of readdirSync(dir)) {
          const bytes = readFileSync(join(dir, file));
          assert.equal(bytes.indexOf(SECRET), -1, `secret found in ${file}`);
        }
      } else {
        const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public'`.execute(t.database.db.kysely);
        for (const { table_name } of tables.rows) {
          const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} t`.execute(t.database.db.kysely);
          for (const { row } of rows.rows) assert.ok(!row.includes(SECRET), `secret found in ${table_name}`);
        }
      }
      assert.ok(logs.length > 0, 'the request was logged');
      assert.ok(!logs.join('').includes(SECRET), 'secret found in the logs');
    } finally {
      await t.close();
    }
  });
});
