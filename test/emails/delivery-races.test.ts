/**
 * Delivery under crashes and races (emails.md §5.2, §5.7): a worker that dies after prepare or
 * after the hand-off, a prepare whose transaction is still open when its lease is reclaimed, and
 * (PostgreSQL) two workers on two connections working off the same deliveries. Whatever happens,
 * one EmailSend has one Message row, one Message-ID and one MIME, and the capture store
 * holds one message per EmailSend (handoff_count > 1 only for a re-hand-off of that same MIME).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql, type Transaction } from 'kysely';
import type { Db } from '../../src/db/connect.js';
import { GroupCommitter, type UnitOfWork } from '../../src/db/group-commit.js';
import type { Database } from '../../src/db/tables.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { createCaptureTransport } from '../../src/mail/capture-transport.js';
import { TransportError, type MailTransport, type OutboundMessage } from '../../src/mail/transport.js';
import { createDevSender } from '../../src/modules/senders/senders.service.js';
import { createWorker, type Worker } from '../../src/worker.js';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../harness/app.js';
import { connectSecond, deferred, eventually, type Deferred } from '../jobs/support.js';

const LEASE_MS = 60_000;
const BODY = { root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: { $template: 'Order ${/data/orderId}' } } } } };

/** A transport that hands `send` to `behaviour`, recording every message it was given. */
function scripted(behaviour: (msg: OutboundMessage) => Promise<{ transportMessageId: string }>): MailTransport & { calls: OutboundMessage[] } {
  const calls: OutboundMessage[] = [];
  return {
    name: 'scripted',
    calls,
    async send(msg) {
      calls.push(msg);
      return behaviour(msg);
    },
    close: async () => {},
  };
}

/** A committer whose units can be held open (after their work, before the commit) on request. */
class HoldingCommitter extends GroupCommitter {
  /** Holds the transaction of the unit after `pass` further units, once its work is done. */
  hold: { pass: number; reached: Deferred<void>; release: Deferred<void> } | null = null;
  override run<T>(work: UnitOfWork<T>): Promise<T> {
    return super.run(async (trx: Transaction<Database>) => {
      const result = await work(trx);
      const hold = this.hold;
      if (hold && hold.pass-- > 0) return result;
      if (hold) {
        this.hold = null;
        hold.reached.resolve();
        await hold.release.promise;
      }
      return result;
    });
  }
}

forEachDialect('delivery races', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  const workers: Worker[] = [];
  const extra: Db[] = [];

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({ method, url, headers: { 'x-api-key': org.key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });

  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
    await createDevSender(t.database.db.kysely, t.deps, org.id);
    const created = await call('POST', '/api/v1/templates', { name: 'Receipt', purpose: 'Transactional', definition: { subject: 'Your order', body: BODY } });
    assert.equal(created.statusCode, 201, created.body);
    templateId = String(json(created).id);
    assert.equal((await call('POST', `/api/v1/templates/${templateId}/publish`)).statusCode, 200);
  });
  after(async () => {
    for (const w of workers.splice(0)) await w.stop({ timeoutMs: 100 });
    for (const db of extra.splice(0)) await db.close();
    await t.close();
  });

  const sendEmail = async (to: string): Promise<string> => {
    const res = await call('POST', '/api/v1/emails', { templateId, to: { email: to }, data: { orderId: to } }, { 'idempotency-key': `dr-${Math.random()}` });
    assert.equal(res.statusCode, 202, res.body);
    return String(json(res).id);
  };
  const worker = (deps: Deps = t.deps, transport?: MailTransport): Worker => {
    const w = createWorker(deps, transport ? { transport } : {});
    workers.push(w);
    return w;
  };
  const kdb = () => t.database.db.kysely;
  const messagesOf = (id: string) => kdb().selectFrom('messages').selectAll().where('email_send_id', '=', id).execute();
  const capturedOf = (id: string) => kdb().selectFrom('captured_messages').selectAll().where('email_send_id', '=', id).execute();
  const sendRow = (id: string) => kdb().selectFrom('email_sends').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const deliverJobsOf = async (id: string) =>
    (await kdb().selectFrom('jobs').selectAll().where('type', '=', 'email.deliver').execute()).filter((j) => (JSON.parse(j.payload) as { emailSendId?: string }).emailSendId === id);

  test('a worker dying after prepare, before the hand-off: the retry hands off the stored MIME with the same Message-ID', async () => {
    const id = await sendEmail('crash-before@example.com');
    const handedOff = deferred();
    const never = deferred<{ transportMessageId: string }>();
    const dying = scripted(() => {
      handedOff.resolve();
      return never.promise; // the process "dies" here: nothing after the hand-off runs
    });
    const a = worker(t.deps, dying);
    const aRun = a.runner.runDueJobsOnce();
    await handedOff.promise;
    const [prepared] = await messagesOf(id);
    assert.ok(prepared?.mime, 'prepare committed the MIME');
    assert.equal((await sendRow(id)).status, 'Processing');
    assert.equal((await sendRow(id)).message_id, prepared.id);

    t.clock.advance(LEASE_MS + 1);
    const b = worker();
    assert.equal(await b.runner.runDueJobsOnce(), 1);
    const send = await sendRow(id);
    assert.equal(send.status, 'Sent');
    const messages = await messagesOf(id);
    assert.equal(messages.length, 1, 'one Message row');
    assert.equal(messages[0]!.id, prepared.id);
    assert.equal(messages[0]!.message_id_header, prepared.message_id_header);
    assert.equal(messages[0]!.attempts, 1);
    const captured = await capturedOf(id);
    assert.equal(captured.length, 1);
    assert.equal(captured[0]!.message_id_header, prepared.message_id_header);
    assert.equal(captured[0]!.raw, prepared.mime, 'the stored MIME, not a new render');
    assert.equal(captured[0]!.raw, dying.calls[0]!.raw.toString('utf8'), 'the same bytes the dead worker had');
    assert.equal(captured[0]!.handoff_count, 1);

    // The "dead" worker wakes up: its outcome is fenced off, nothing changes.
    never.resolve({ transportMessageId: 'late' });
    await aRun;
    const after = await sendRow(id);
    assert.equal(after.status, 'Sent');
    assert.equal(after.sent_at, send.sent_at);
    assert.equal((await messagesOf(id))[0]!.transport_message_id, prepared.message_id_header);
    assert.equal((await messagesOf(id))[0]!.attempts, 1);
    const jobs = await deliverJobsOf(id);
    assert.deepEqual(jobs.map((j) => j.status), ['completed']);
  });

  test('a worker dying after the hand-off, before recording it: one captured message, counted twice, same Message-ID', async () => {
    const id = await sendEmail('crash-after@example.com');
    const capture = createCaptureTransport(t.database.db, t.clock, t.deps.committer);
    const handedOff = deferred();
    const never = deferred<{ transportMessageId: string }>();
    const dying = scripted(async (msg) => {
      await capture.send(msg);
      handedOff.resolve();
      return never.promise;
    });
    const a = worker(t.deps, dying);
    const aRun = a.runner.runDueJobsOnce();
    await handedOff.promise;
    const [prepared] = await messagesOf(id);
    assert.equal((await capturedOf(id))[0]?.handoff_count, 1);

    t.clock.advance(LEASE_MS + 1);
    assert.equal(await worker().runner.runDueJobsOnce(), 1);
    assert.equal((await sendRow(id)).status, 'Sent');
    const captured = await capturedOf(id);
    assert.equal(captured.length, 1);
    assert.equal(captured[0]!.handoff_count, 2);
    assert.equal(captured[0]!.message_id_header, prepared!.message_id_header);
    assert.equal(captured[0]!.raw, prepared!.mime);
    assert.equal((await messagesOf(id)).length, 1);

    never.resolve({ transportMessageId: 'late' });
    await aRun;
    assert.equal((await sendRow(id)).status, 'Sent');
    assert.equal((await messagesOf(id))[0]!.attempts, 1);
  });

  test('capture hands off inside the delivery transaction: a crash before its commit undoes the hand-off too', async () => {
    const id = await sendEmail('in-transaction@example.com');
    const capture = createCaptureTransport(t.database.db, t.clock, t.deps.committer);
    let calls = 0;
    const dying: MailTransport = {
      name: 'capture',
      send: (msg) => capture.send(msg),
      async sendInTransaction(trx, msg) {
        calls++;
        await capture.sendInTransaction!(trx, msg);
        const inside = await trx.selectFrom('captured_messages').select('handoff_count').where('email_send_id', '=', id).executeTakeFirst();
        assert.equal(inside?.handoff_count, 1, 'captured inside the transaction');
        throw new Error('the process dies after the hand-off, before the commit');
      },
      close: async () => {},
    };
    await worker(t.deps, dying).runner.runDueJobsOnce();
    assert.ok(calls >= 1);
    assert.deepEqual(await capturedOf(id), [], 'the captured copy rolled back with the rest');
    assert.deepEqual(await messagesOf(id), []);
    assert.equal((await sendRow(id)).status, 'Queued');

    t.clock.advance(3_600_000); // past the retry's backoff
    assert.equal(await worker().runner.runDueJobsOnce(), 1);
    const send = await sendRow(id);
    assert.equal(send.status, 'Sent');
    const [message, ...more] = await messagesOf(id);
    assert.equal(more.length, 0);
    assert.equal(message!.mime, null, 'an in-transaction hand-off never stores the MIME on the Message');
    const captured = await capturedOf(id);
    assert.equal(captured.length, 1);
    assert.equal(captured[0]!.handoff_count, 1, 'handed off once');
    assert.equal(captured[0]!.message_id_header, message!.message_id_header);
    assert.deepEqual((await deliverJobsOf(id)).map((j) => j.status), ['completed']);
  });

  test('an in-transaction hand-off refused with a transient TransportError: the retry hands off the same bytes', async () => {
    const id = await sendEmail('in-transaction-retry@example.com');
    const capture = createCaptureTransport(t.database.db, t.clock, t.deps.committer);
    const offered: string[] = [];
    const flaky: MailTransport = {
      name: 'capture',
      send: (msg) => capture.send(msg),
      async sendInTransaction(trx, msg) {
        offered.push(msg.raw.toString('utf8'));
        if (offered.length === 1) throw new TransportError('421 try again later', { permanent: false, code: '4.3.2' });
        return capture.sendInTransaction!(trx, msg);
      },
      close: async () => {},
    };
    const w = worker(t.deps, flaky);
    assert.equal(await w.runner.runDueJobsOnce(), 1);
    const [stored] = await messagesOf(id);
    assert.equal(stored!.mime, offered[0], 'the refused MIME is kept for the retry');
    assert.equal(stored!.attempts, 1);
    assert.equal((await sendRow(id)).status, 'Processing');
    assert.deepEqual(await capturedOf(id), []);

    t.clock.advance(3_600_000); // past the retry's backoff; a new render would carry a new Date
    assert.equal(await w.runner.runDueJobsOnce(), 1);
    assert.equal(offered.length, 2);
    assert.equal(offered[1], offered[0], 'the same bytes, not a new render');
    assert.equal((await sendRow(id)).status, 'Sent');
    const captured = await capturedOf(id);
    assert.equal(captured.length, 1);
    assert.equal(captured[0]!.raw, offered[0]);
    assert.equal((await messagesOf(id))[0]!.mime, null, 'dropped once handed off');
  });

  if (dialect === 'postgres') {
    test('a prepare still uncommitted when its lease is reclaimed: the rescuer waits, then reuses the winner\'s Message and MIME', async () => {
      const id = await sendEmail('open-prepare@example.com');
      // Worker A: its prepare transaction is held open after the work, before the commit.
      const holding = new HoldingCommitter(t.database.db);
      // The runner's claim is the first unit through the worker's committer; the prepare is next.
      const hold = { pass: 1, reached: deferred(), release: deferred() };
      holding.hold = hold;
      const aDeps: Deps = { ...t.deps, committer: holding };
      const aLate = deferred<{ transportMessageId: string }>();
      const aCapture = createCaptureTransport(t.database.db, t.clock, holding);
      const aTransport = scripted(async (msg) => {
        await aCapture.send(msg);
        return aLate.promise;
      });
      const a = worker(aDeps, aTransport);
      const aRun = a.runner.runDueJobsOnce();
      await hold.reached.promise;

      // Worker B on a second connection with its own committer and capture transport.
      const second = connectSecond(t.database);
      extra.push(second);
      const bDeps = createDeps({ config: t.deps.config, db: second, clock: t.clock, ids: t.deps.ids, logger: t.deps.logger, secret: t.deps.secret });
      const b = worker(bDeps);
      t.clock.advance(LEASE_MS + 1);
      const bRun = b.runner.runDueJobsOnce();
      // B reclaimed the job and now waits on A's uncommitted Message row (unique email_send_id).
      await eventually(async () => {
        const waiting = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(kdb());
        return waiting.rows[0]!.n > 0;
      });
      hold.release.resolve();
      assert.equal(await bRun, 1);
      aLate.resolve({ transportMessageId: 'late' });
      await aRun;

      const messages = await messagesOf(id);
      assert.equal(messages.length, 1);
      const send = await sendRow(id);
      assert.equal(send.status, 'Sent');
      assert.equal(send.message_id, messages[0]!.id);
      const captured = await capturedOf(id);
      assert.equal(captured.length, 1, 'one Message-ID');
      assert.equal(captured[0]!.message_id_header, messages[0]!.message_id_header);
      assert.equal(captured[0]!.raw, aTransport.calls[0]!.raw.toString('utf8'), 'B handed off A\'s MIME');
      assert.equal(captured[0]!.handoff_count, 2);
      assert.equal(messages[0]!.attempts, 1);
    });

    test('two workers on two connections work off 40 deliveries: one Message and one captured hand-off per send', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(await sendEmail(`race-${i}@example.com`));
      const second = connectSecond(t.database);
      extra.push(second);
      const bDeps = createDeps({ config: t.deps.config, db: second, clock: t.clock, ids: t.deps.ids, logger: t.deps.logger, secret: t.deps.secret });
      const a = worker();
      const b = worker(bDeps);
      const [na, nb] = await Promise.all([a.runner.runDueJobsOnce(), b.runner.runDueJobsOnce()]);
      assert.ok(na + nb >= 40);
      for (const id of ids) {
        assert.equal((await sendRow(id)).status, 'Sent');
        assert.equal((await messagesOf(id)).length, 1);
        const captured = await capturedOf(id);
        assert.equal(captured.length, 1);
        assert.equal(captured[0]!.handoff_count, 1, `send ${id} handed off once`);
      }
    });
  }
});
