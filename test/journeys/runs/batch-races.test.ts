/**
 * Journey step jobs through the shared group committer (journeys.md §6.2, conventions.md §10),
 * adversarially: a batch of step units where one throws after creating its send, one that lost its
 * lease, a batch mixing a capture hand-off, a step, a delivery record and a unique violation, and
 * (PostgreSQL) two workers on two connections racing over the same step jobs and deliveries.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Transaction } from 'kysely';
import type { Db } from '../../../src/db/connect.js';
import { GroupCommitter, isConflict, type GroupCommitOptions, type UnitOfWork } from '../../../src/db/group-commit.js';
import type { Database } from '../../../src/db/tables.js';
import { createDeps, type Deps } from '../../../src/deps.js';
import { JobRunner, type JobHandler } from '../../../src/jobs/runner.js';
import { createCaptureTransport } from '../../../src/mail/capture-transport.js';
import type { MailTransport } from '../../../src/mail/transport.js';
import { createDeliveryHandler } from '../../../src/modules/emails/delivery.js';
import { createEmailSend, DELIVER_JOB } from '../../../src/modules/emails/emails.service.js';
import { STEP_JOB } from '../../../src/modules/journeys/runs/lifecycle.js';
import { createStepHandler } from '../../../src/modules/journeys/runs/step-engine.js';
import { createWorker, type Worker } from '../../../src/worker.js';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../../harness/app.js';
import { CapturingLogger, connectSecond, deferred, eventually, jobRow } from '../../jobs/support.js';
import { call, emailSendsOfRun, HOUR, insertJourney, MINUTE, orgWithSender, publishedTemplate, runsOf, trackOk } from './support.js';

/** Records, per `run` call, the transactions its unit ran in (batch first, then alone). */
class SpyCommitter extends GroupCommitter {
  readonly units: Transaction<Database>[][] = [];
  constructor(db: Db, options?: GroupCommitOptions) {
    super(db, options);
  }
  override run<T>(work: UnitOfWork<T>): Promise<T> {
    const seen: Transaction<Database>[] = [];
    this.units.push(seen);
    return super.run((trx) => {
      seen.push(trx);
      return work(trx);
    });
  }
}

const FAR = 1000 * 24 * HOUR;

forEachDialect('journey steps in group-commit batches (adversarial)', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let tpl: string;
  let tpl2: string;
  const workers: Worker[] = [];
  const runners: JobRunner[] = [];
  const extra: Db[] = [];

  // A fresh database per test: every runner claims only the jobs of its own scenario.
  beforeEach(async () => {
    t = await createTestApp(dialect);
    org = await orgWithSender(t);
    tpl = await publishedTemplate(t, org, 'First');
    tpl2 = await publishedTemplate(t, org, 'Second');
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) if (r.running) await r.stop({ timeoutMs: 100 });
    for (const w of workers.splice(0)) await w.stop({ timeoutMs: 100 });
    await t.deps.committer.drain();
    for (const db of extra.splice(0)) await db.close();
    await t.close();
  });

  const kdb = () => t.database.db.kysely;
  const stepRowsOf = (runId: string) => kdb().selectFrom('journey_run_steps').selectAll().where('run_id', '=', runId).orderBy('entered_at').orderBy('id').execute();
  const stepJobsOf = async (runId: string) =>
    (await kdb().selectFrom('jobs').selectAll().where('type', '=', STEP_JOB).execute()).filter((j) => (JSON.parse(j.payload) as { runId?: string }).runId === runId);
  const capturedOf = (sendId: string) => kdb().selectFrom('captured_messages').selectAll().where('email_send_id', '=', sendId).execute();
  const messagesOf = (sendId: string) => kdb().selectFrom('messages').selectAll().where('email_send_id', '=', sendId).execute();

  /** Enrolls one run per email into a fresh journey; returns the run ids by email. */
  const enroll = async (definition: unknown, emails: string[]): Promise<Map<string, string>> => {
    const journey = await insertJourney(t, org.id, definition);
    const byEmail = new Map<string, string>();
    for (const email of emails) await trackOk(t, org, (definition as { entry: { event: string } }).entry.event, email);
    const runs = await runsOf(t, org, journey.id, '?limit=100');
    for (const run of runs) {
      const profile = await kdb().selectFrom('profiles').select('email').where('id', '=', run.profileId).executeTakeFirstOrThrow();
      byEmail.set(String(profile.email), run.runId);
    }
    assert.equal(byEmail.size, emails.length);
    return byEmail;
  };

  const newRunner = (deps: Deps, handlers: Record<string, JobHandler>, workerId: string): JobRunner => {
    const runner = new JobRunner({ db: deps.db, clock: deps.clock, ids: deps.ids, logger: new CapturingLogger(), workerId, concurrency: 16 });
    for (const [type, handler] of Object.entries(handlers)) runner.register(type, handler);
    runners.push(runner);
    return runner;
  };
  const handlerDeps = (deps: Deps) => ({ db: deps.db, committer: deps.committer, clock: deps.clock, ids: deps.ids, logger: deps.logger, secret: deps.secret, publicUrl: deps.config.publicUrl });

  test('a step unit throwing after creating its send, in a batch of four: the others commit once, it leaves nothing and retries', async () => {
    const event = `batch.throw.${dialect}`;
    const emails = ['bt-a@example.com', 'bt-b@example.com', 'bt-c@example.com', 'bt-d@example.com'];
    const runIds = await enroll({
      entry: { type: 'event', event },
      start: 's1',
      steps: { s1: { type: 'send_email', templateId: tpl, next: 'wait' }, wait: { type: 'delay', duration: 'PT1H', next: 'done' }, done: { type: 'exit' } },
    }, emails);
    // The last of the batch (jobs are claimed in enqueue order), so every unit runs in it before it throws.
    const victimRun = runIds.get('bt-d@example.com')!;
    // Throws in the batch and again when re-run alone: the first attempt fails for good.
    let crashes = 2;
    const crashing: typeof createEmailSend = async (...args) => {
      const result = await createEmailSend(...args);
      const origin = args[4];
      if (origin.journeyRunId === victimRun && crashes-- > 0) throw new Error('exploded after creating the send');
      return result;
    };
    const spy = new SpyCommitter(t.database.db);
    const deps: Deps = { ...t.deps, committer: spy };
    const stepHandler = createStepHandler({ ...handlerDeps(deps), sendEmail: crashing });
    const deliveryHandler = createDeliveryHandler({ ...handlerDeps(deps), transport: createCaptureTransport(t.database.db, t.clock, spy), maxAttempts: 8 });
    const runner = newRunner(deps, { [STEP_JOB]: stepHandler, [DELIVER_JOB]: deliveryHandler }, 'w-throw');
    assert.equal(await runner.runDueJobsOnce(), 4 + 3, 'four steps, then the three deliveries they queued');
    assert.equal(crashes, 0, 'the victim threw in the batch and alone');

    // The four step units ran first in one transaction.
    assert.equal(new Set(spy.units.slice(0, 4).map((u) => u[0])).size, 1, 'one shared batch');
    for (const [email, runId] of runIds) {
      const sends = await emailSendsOfRun(t, runId);
      const steps = await stepRowsOf(runId);
      const jobs = await stepJobsOf(runId);
      if (runId === victimRun) {
        assert.equal(sends.length, 0, 'the send created before the throw was rolled back');
        assert.equal(steps.length, 0);
        assert.deepEqual(jobs.map((j) => [j.status, j.attempts]), [['queued', 1]]);
      } else {
        assert.equal(sends.length, 1, `${email}: one send`);
        assert.deepEqual(steps.map((s) => [s.step_id, s.status]), [['s1', 'completed'], ['wait', 'waiting']]);
      }
    }
    t.clock.advance(10 * MINUTE);
    // A retry runs only its own step and queues the next: the step, its delivery, then `wait`.
    assert.equal(await runner.runDueJobsOnce(), 3);
    const sends = await emailSendsOfRun(t, victimRun);
    assert.equal(sends.length, 1);
    assert.equal(sends[0]!.send_key, `journey-run:${victimRun}:s1`);
    assert.deepEqual((await stepRowsOf(victimRun)).map((s) => [s.step_id, s.status]), [['s1', 'completed'], ['wait', 'waiting']]);
    // Every send of this journey has exactly one delivery job.
    for (const runId of runIds.values()) {
      const [send] = await emailSendsOfRun(t, runId);
      const deliveries = (await kdb().selectFrom('jobs').selectAll().where('type', '=', DELIVER_JOB).execute()).filter((j) => (JSON.parse(j.payload) as { emailSendId?: string }).emailSendId === send!.id);
      assert.equal(deliveries.length, 1);
    }
  });

  test('a step unit whose lease was reclaimed, in a batch: the others commit once, it neither completes nor sends', async () => {
    const event = `batch.lease.${dialect}`;
    const emails = ['bl-a@example.com', 'bl-b@example.com', 'bl-c@example.com'];
    const runIds = await enroll({
      entry: { type: 'event', event },
      start: 's1',
      steps: { s1: { type: 'send_email', templateId: tpl, next: 'done' }, done: { type: 'exit' } },
    }, emails);
    const victimRun = runIds.get('bl-b@example.com')!;
    const spy = new SpyCommitter(t.database.db);
    const deps: Deps = { ...t.deps, committer: spy };
    const stepHandler = createStepHandler({ ...handlerDeps(deps), sendEmail: createEmailSend });
    const deliveryHandler = createDeliveryHandler({ ...handlerDeps(deps), transport: createCaptureTransport(t.database.db, t.clock, spy), maxAttempts: 8 });
    const gate = deferred();
    let arrived = 0;
    let victimJob = '';
    const runner = newRunner(deps, {
      [STEP_JOB]: async (job, ctx) => {
        if ((job.payload as { runId: string }).runId === victimRun) {
          victimJob = job.id;
          await kdb().updateTable('jobs').set({ locked_by: 'thief', attempts: job.attempts + 1 }).where('id', '=', job.id).execute();
        }
        if (++arrived === 3) gate.resolve();
        await gate.promise;
        return stepHandler(job, ctx);
      },
      [DELIVER_JOB]: deliveryHandler,
    }, 'w-lease');
    assert.equal(await runner.runDueJobsOnce(), 3 + 2, 'three steps, then the two deliveries they queued');
    assert.equal(new Set(spy.units.slice(0, 3).map((u) => u[0])).size, 1, 'one shared batch');
    for (const runId of runIds.values()) {
      const sends = await emailSendsOfRun(t, runId);
      const run = await kdb().selectFrom('journey_runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
      if (runId === victimRun) {
        assert.equal(sends.length, 0);
        assert.equal(run.status, 'queued');
        assert.equal((await stepRowsOf(runId)).length, 0);
        const job = await jobRow(t.database.db, victimJob);
        assert.equal(job.status, 'running');
        assert.equal(job.locked_by, 'thief');
      } else {
        assert.equal(sends.length, 1);
        assert.equal(run.status, 'completed');
        assert.deepEqual((await stepRowsOf(runId)).map((s) => s.step_id), ['s1', 'done']);
      }
    }
  });

  test('one batch mixing a capture hand-off, a step, a delivery record and a unique violation: each effect commits exactly once', async () => {
    const db = t.database.db;
    // One lane, so a held unit keeps every later unit queued until it is released: they then share one batch.
    const spy = new SpyCommitter(db, { lanes: 1 });
    const deps: Deps = { ...t.deps, committer: spy };
    const capture = createCaptureTransport(db, t.clock, spy);

    const sendApi = async (to: string) => {
      const res = await call(t.app, org.key, 'POST', '/api/v1/emails', { templateId: tpl, to: { email: to } }, { 'idempotency-key': `mix-${Math.random()}` });
      assert.equal(res.statusCode, 202, res.body);
      return String(json(res).id);
    };
    const handoffSend = await sendApi('mix-handoff@example.com'); // its capture insert joins the batch
    const recordSend = await sendApi('mix-record@example.com'); // its Sent record joins the batch
    const runIds = await enroll({ entry: { type: 'event', event: `mix.${dialect}` }, start: 's1', steps: { s1: { type: 'send_email', templateId: tpl2, next: 'done' }, done: { type: 'exit' } } }, ['mix-step@example.com']);
    const stepRun = runIds.get('mix-step@example.com')!;
    await kdb().insertInto('jobs').values({
      id: t.deps.ids(), type: 'taken', organization_id: null, payload: '{}', status: 'completed', run_at: t.clock.now() + FAR,
      attempts: 0, max_attempts: 1, locked_by: null, lease_expires_at: null, last_error: null, unique_key: `taken-${dialect}`, created_at: t.clock.now(), updated_at: t.clock.now(),
    }).execute();

    const b0Running = deferred();
    const releaseB0 = deferred();
    const handoffWaiting = deferred();
    const recordWaiting = deferred();
    const stepWaiting = deferred();
    const transport: MailTransport = {
      name: 'gated-capture',
      async send(msg) {
        if (msg.emailSendId === handoffSend) {
          handoffWaiting.resolve();
          await b0Running.promise;
          return capture.send(msg);
        }
        const result = await capture.send(msg);
        if (msg.emailSendId === recordSend) {
          recordWaiting.resolve();
          await b0Running.promise;
        }
        return result;
      },
      close: async () => {},
    };
    const stepHandler = createStepHandler({ ...handlerDeps(deps), sendEmail: createEmailSend });
    const deliveryHandler = createDeliveryHandler({ ...handlerDeps(deps), transport, maxAttempts: 8 });
    const runner = newRunner(deps, {
      [DELIVER_JOB]: deliveryHandler,
      [STEP_JOB]: async (job, ctx) => {
        stepWaiting.resolve();
        await b0Running.promise;
        return stepHandler(job, ctx);
      },
    }, 'w-mix');
    const ran = runner.runDueJobsOnce();
    await Promise.all([handoffWaiting.promise, recordWaiting.promise, stepWaiting.promise]);

    const unitsAtB0 = spy.units.length + 1;
    const b0 = spy.run(async () => {
      b0Running.resolve();
      await releaseB0.promise;
    });
    await b0Running.promise;
    try {
      await eventually(() => spy.units.length === unitsAtB0 + 3, 3000);
    } catch (error) {
      releaseB0.resolve();
      throw new Error(`expected three units queued behind the held one, saw ${spy.units.length - unitsAtB0}: ${String(error)}`);
    }
    const thrower = spy.run((trx) =>
      trx.insertInto('jobs').values({
        id: t.deps.ids(), type: 'dup', organization_id: null, payload: '{}', status: 'queued', run_at: t.clock.now() + FAR,
        attempts: 0, max_attempts: 1, locked_by: null, lease_expires_at: null, last_error: null, unique_key: `taken-${dialect}`, created_at: t.clock.now(), updated_at: t.clock.now(),
      }).execute(),
    );
    releaseB0.resolve();
    await b0;
    const thrown = await thrower.then(() => null, (error: unknown) => error);
    assert.ok(isConflict(thrown), `the thrower is rejected with its unique violation: ${String(thrown)}`);
    await ran;

    // The four units shared one (rolled-back) batch, then each ran alone.
    const batch = spy.units.slice(unitsAtB0, unitsAtB0 + 4);
    assert.equal(new Set(batch.map((u) => u[0])).size, 1, 'one shared batch of four');
    assert.ok(batch.every((u) => u.length >= 2), 'each re-ran alone after the rollback');

    for (const sendId of [handoffSend, recordSend]) {
      const send = await kdb().selectFrom('email_sends').selectAll().where('id', '=', sendId).executeTakeFirstOrThrow();
      assert.equal(send.status, 'Sent');
      const captured = await capturedOf(sendId);
      assert.equal(captured.length, 1);
      assert.equal(captured[0]!.handoff_count, 1, 'handed off once, counted once');
      const messages = await messagesOf(sendId);
      assert.equal(messages.length, 1);
      assert.equal(messages[0]!.attempts, 1);
      assert.equal(messages[0]!.mime, null);
    }
    const stepSends = await emailSendsOfRun(t, stepRun);
    assert.equal(stepSends.length, 1);
    assert.equal(stepSends[0]!.status, 'Sent');
    assert.equal((await capturedOf(stepSends[0]!.id))[0]?.handoff_count, 1);
    assert.deepEqual((await stepRowsOf(stepRun)).map((s) => [s.step_id, s.status]), [['s1', 'completed'], ['done', 'completed']]);
    const dups = await kdb().selectFrom('jobs').select('id').where('type', '=', 'dup').execute();
    assert.equal(dups.length, 0);
  });

  if (dialect === 'postgres') {
    test('two workers on two connections race over step jobs (with duplicates) and deliveries: one send per run step, one hand-off per send', async () => {
      const event = 'race.two.workers';
      const emails = Array.from({ length: 20 }, (_, i) => `race-${i}@example.com`);
      const runIds = await enroll({
        entry: { type: 'event', event },
        start: 's1',
        steps: { s1: { type: 'send_email', templateId: tpl, next: 'wait' }, wait: { type: 'delay', duration: 'PT1H', next: 's2' }, s2: { type: 'send_email', templateId: tpl2, next: 'done' }, done: { type: 'exit' } },
      }, emails);
      // A duplicate of every entry step job (as a reclaimed job run twice would be): same payload, no key.
      for (const runId of runIds.values()) {
        const [job] = await stepJobsOf(runId);
        await kdb().insertInto('jobs').values({ ...job!, id: t.deps.ids(), unique_key: null }).execute();
      }
      const second = connectSecond(t.database);
      extra.push(second);
      const bDeps = createDeps({ config: t.deps.config, db: second, clock: t.clock, ids: t.deps.ids, logger: t.deps.logger, secret: t.deps.secret });
      const a = createWorker(t.deps);
      const b = createWorker(bDeps);
      workers.push(a, b);
      const race = async () => {
        await Promise.all([a.runner.runDueJobsOnce(), b.runner.runDueJobsOnce()]);
        // Jobs enqueued by the other worker's last transaction may be left: one more pass each.
        await Promise.all([a.runner.runDueJobsOnce(), b.runner.runDueJobsOnce()]);
      };
      await race();
      t.clock.advance(HOUR);
      // Duplicates of the timer jobs too.
      for (const runId of runIds.values()) {
        const timer = (await stepJobsOf(runId)).find((j) => j.status === 'queued');
        assert.ok(timer, 'the delay timer is queued');
        await kdb().insertInto('jobs').values({ ...timer, id: t.deps.ids(), unique_key: null }).execute();
      }
      await race();

      for (const runId of runIds.values()) {
        const run = await kdb().selectFrom('journey_runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
        assert.equal(run.status, 'completed', JSON.stringify(run));
        assert.deepEqual((await stepRowsOf(runId)).map((s) => [s.step_id, s.status]), [['s1', 'completed'], ['wait', 'completed'], ['s2', 'completed'], ['done', 'completed']]);
        const sends = await emailSendsOfRun(t, runId);
        assert.deepEqual(sends.map((s) => s.send_key).sort(), [`journey-run:${runId}:s1`, `journey-run:${runId}:s2`]);
        for (const send of sends) {
          assert.equal(send.status, 'Sent');
          const captured = await capturedOf(send.id);
          assert.equal(captured.length, 1);
          assert.equal(captured[0]!.handoff_count, 1);
          assert.equal((await messagesOf(send.id)).length, 1);
        }
        for (const job of await stepJobsOf(runId)) assert.equal(job.status, 'completed');
      }
    });
  }
});
