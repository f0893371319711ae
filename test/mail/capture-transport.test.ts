/**
 * The capture transport on real SQLite and PostgreSQL: one stored copy per Message-ID, a repeated
 * hand-off stores nothing new and only counts, lookups are scoped to the organization; and
 * createMailTransport picks capture or smtp from the config.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { defaultConfig } from '../../src/config.js';
import { FakeClock } from '../../src/lib/clock.js';
import { uuidV7 } from '../../src/lib/ids.js';
import { createCaptureTransport, getCapturedMessage } from '../../src/mail/capture-transport.js';
import { createMailTransport } from '../../src/mail/create-transport.js';
import { createTestDatabase, forEachDialect, type TestDatabase } from '../harness/database.js';
import { startSmtpSink } from '../harness/smtp-sink.js';
import { outboundMessage, sampleMimeInput } from './support.js';

forEachDialect('capture transport', (dialect) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createTestDatabase(dialect);
  });
  afterEach(async () => {
    await t.destroy();
  });

  test('stores the full MIME under the Message-ID and answers with the Message-ID', async () => {
    const clock = new FakeClock('2026-05-31T12:00:03.120Z');
    const capture = createCaptureTransport(t.db, clock);
    const organizationId = uuidV7();
    const msg = await outboundMessage(sampleMimeInput(), organizationId);

    const result = await capture.send(msg);

    assert.equal(capture.name, 'capture');
    assert.deepEqual(result, { transportMessageId: msg.messageIdHeader });
    const row = await getCapturedMessage(t.db, organizationId, msg.emailSendId);
    assert.deepEqual(row, {
      message_id_header: msg.messageIdHeader,
      organization_id: organizationId,
      email_send_id: msg.emailSendId,
      raw: msg.raw.toString('utf8'),
      handoff_count: 1,
      captured_at: Date.parse('2026-05-31T12:00:03.120Z'),
    });
    const parsed = await simpleParser(row.raw);
    assert.equal(parsed.messageId, msg.messageIdHeader);
    assert.equal(parsed.bcc, undefined);
    await capture.close();
  });

  test('a second hand-off of the same Message-ID stores nothing new and increments handoff_count', async () => {
    const clock = new FakeClock();
    const capture = createCaptureTransport(t.db, clock);
    const organizationId = uuidV7();
    const first = await outboundMessage(sampleMimeInput(), organizationId);
    await capture.send(first);

    clock.advance(60_000);
    const replay = { ...first, raw: Buffer.from(`${first.raw.toString('utf8')}tampered`) };
    assert.deepEqual(await capture.send(replay), { transportMessageId: first.messageIdHeader });
    clock.advance(60_000);
    await capture.send(first);

    const rows = await t.db.kysely.selectFrom('captured_messages').selectAll().execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.handoff_count, 3);
    assert.equal(rows[0]?.raw, first.raw.toString('utf8'));
    assert.equal(rows[0]?.captured_at, new FakeClock().now());
  });

  test('concurrent hand-offs of one Message-ID leave one row with every hand-off counted', async () => {
    const capture = createCaptureTransport(t.db, new FakeClock());
    const msg = await outboundMessage(sampleMimeInput());
    await Promise.all(Array.from({ length: 5 }, () => capture.send(msg)));
    const row = await getCapturedMessage(t.db, msg.organizationId, msg.emailSendId);
    assert.equal(row?.handoff_count, 5);
  });

  test('lookups are scoped to the organization and the EmailSend', async () => {
    const capture = createCaptureTransport(t.db, new FakeClock());
    const msg = await outboundMessage(sampleMimeInput());
    await capture.send(msg);
    assert.equal(await getCapturedMessage(t.db, uuidV7(), msg.emailSendId), undefined);
    assert.equal(await getCapturedMessage(t.db, msg.organizationId, uuidV7()), undefined);
    assert.notEqual(await getCapturedMessage(t.db, msg.organizationId, msg.emailSendId), undefined);
  });

  test('createMailTransport: capture by default, smtp when configured', async () => {
    const clock = new FakeClock();
    const capture = createMailTransport(defaultConfig(), t.db, clock);
    assert.equal(capture.name, 'capture');
    const msg = await outboundMessage(sampleMimeInput());
    await capture.send(msg);
    assert.notEqual(await getCapturedMessage(t.db, msg.organizationId, msg.emailSendId), undefined);

    const sink = await startSmtpSink();
    const smtp = createMailTransport(defaultConfig({ mailTransport: 'smtp', smtpUrl: sink.url }), t.db, clock);
    try {
      assert.equal(smtp.name, 'smtp');
      assert.equal((await smtp.send(msg)).transportMessageId, 'SINK1');
      assert.equal(sink.messages[0]?.parsed.messageId, msg.messageIdHeader);
    } finally {
      await smtp.close();
      await sink.close();
    }
    assert.throws(() => createMailTransport(defaultConfig({ mailTransport: 'smtp', smtpUrl: null }), t.db, clock), /SMTP_URL/);
  });
});
