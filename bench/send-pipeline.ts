/**
 * The product side of bench/send.ts, driven through the real code: a migrated database with one
 * organization, the dev sender and a published Transactional receipt template (created through
 * the HTTP API with app.inject, as a user would); EmailSends created by `createEmailSend` in
 * group-committed transactions (`deps.committer.run`, as the emails routes do, minus the
 * Idempotency-Key bookkeeping); the real worker (`createWorker`) delivering them; and the checks
 * that every measured send is Sent with the Message-ID `<sendId@example.test>`.
 */
import { buildApp } from '../src/app.js';
import type { DatabaseConfig, LogLevel } from '../src/config.js';
import { connectDatabase, type Db } from '../src/db/connect.js';
import type { Deps } from '../src/deps.js';
import { createBenchOrganization } from './bench-org.js';
import { systemClock } from '../src/lib/clock.js';
import { uuidV7 } from '../src/lib/ids.js';
import { createEmailSend, type SendRequest } from '../src/modules/emails/emails.service.js';
import { renderSend, selectSnapshotById, unsubscribeLinks } from '../src/modules/emails/send-render.js';
import { DEV_DOMAIN } from '../src/modules/senders/senders.service.js';
import type { MailTransport } from '../src/mail/transport.js';
import type { Worker } from '../src/worker.js';

/** A receipt: header, greeting, order lines, totals, a button, a footer — ≈ a real transactional email. */
const RECEIPT = {
  subject: { $template: 'Your receipt for order ${/data/orderId}' },
  preheader: { $template: 'Thanks ${/data/firstName}, we received your payment of ${/data/total}' },
  body: {
    root: 'email',
    elements: {
      email: { type: 'Email', props: {}, children: ['header', 'main', 'footer'] },
      header: { type: 'Section', props: { padding: '24px', align: 'center', backgroundColor: '#f4f4f5' }, children: ['brand'] },
      brand: { type: 'Heading', props: { text: 'Example Shop', level: 2 } },
      main: { type: 'Section', props: { padding: '24px' }, children: ['title', 'intro', 'items', 'divider', 'total', 'cta', 'note'] },
      title: { type: 'Heading', props: { text: { $template: 'Thanks for your order, ${/data/firstName}!' } } },
      intro: { type: 'Text', props: { text: { $template: 'Order ${/data/orderId} was paid on ${/data/paidOn}. We will email you again when it ships.' } } },
      items: { type: 'List', props: {}, children: ['item1', 'item2', 'item3'] },
      item1: { type: 'ListItem', props: { text: { $template: '${/data/item1}' } } },
      item2: { type: 'ListItem', props: { text: { $template: '${/data/item2}' } } },
      item3: { type: 'ListItem', props: { text: { $template: '${/data/item3}' } } },
      divider: { type: 'Divider', props: {} },
      total: { type: 'Text', props: { text: { $template: 'Total paid: ${/data/total}' }, fontWeight: 'bold' } },
      cta: { type: 'Button', props: { label: 'View your order', href: { $template: 'https://shop.example/orders/${/data/orderId}' } } },
      note: { type: 'Text', props: { text: 'Questions? Reply to this email or write to help@example.test — we answer within a day.', fontSize: 14 } },
      footer: { type: 'Section', props: { padding: '16px 24px' }, children: ['address'] },
      address: { type: 'Text', props: { text: 'Example Shop · 1 Main St · Springfield', fontSize: 12, color: '#71717a' } },
    },
  },
};

/** The `/data` of send `i`: varies per send like a real order does. */
export function receiptData(i: number): Record<string, unknown> {
  return {
    orderId: `ord_${100_000 + i}`,
    firstName: `Sam${i % 100}`,
    paidOn: '31 May 2026',
    item1: `1 × Linen shirt, size ${['S', 'M', 'L'][i % 3]} — €49.00`,
    item2: `${1 + (i % 3)} × Cotton socks — €${(9 * (1 + (i % 3))).toFixed(2)}`,
    item3: '1 × Gift wrapping — €3.50',
    total: `€${(52.5 + 9 * (1 + (i % 3))).toFixed(2)}`,
  };
}

export interface SendBench {
  db: Db;
  deps: Deps;
  organizationId: string;
  templateId: string;
  close(): Promise<void>;
}

export interface PrepareOptions {
  logLevel: LogLevel;
  workerConcurrency: number;
}

/** Migrates `database`, then creates the organization, dev sender and published template. */
export async function prepareSendBench(database: DatabaseConfig, options: PrepareOptions): Promise<SendBench> {
  const db = connectDatabase(database);
  try {
    const { deps, organizationId, apiKey: key } = await createBenchOrganization(db, { database, clock: systemClock, ...options });

    const app = await buildApp(deps);
    try {
      await app.ready();
      const headers = { 'x-api-key': key, 'content-type': 'application/json' };
      const created = await app.inject({
        method: 'POST',
        url: '/api/v1/templates',
        headers,
        payload: JSON.stringify({ name: 'Receipt', purpose: 'Transactional', definition: RECEIPT }),
      });
      if (created.statusCode !== 201) throw new Error(`creating the template: ${created.statusCode} ${created.body}`);
      const templateId = String((JSON.parse(created.body) as { id: unknown }).id);
      const published = await app.inject({ method: 'POST', url: `/api/v1/templates/${templateId}/publish`, headers: { 'x-api-key': key } });
      if (published.statusCode !== 200) throw new Error(`publishing the template: ${published.statusCode} ${published.body}`);
      return { db, deps, organizationId, templateId, close: () => db.close() };
    } finally {
      await app.close();
    }
  } catch (error) {
    await db.close();
    throw error;
  }
}

export function sendRequest(bench: SendBench, runTag: string, i: number): SendRequest {
  return { templateId: bench.templateId, to: { email: `r${i}.${runTag}@example.com` }, cc: [], bcc: [], data: receiptData(i), trackClicks: false };
}

/**
 * What the baseline sends: subject, HTML and text of send 0 rendered exactly as the worker renders
 * it (same template, same unsubscribe/preferences footer), so the raw messages have the same size.
 */
export async function renderSample(bench: SendBench): Promise<{ subject: string; html: string; text: string }> {
  const template = await bench.db.kysely.selectFrom('templates').select('current_snapshot_id').where('id', '=', bench.templateId).executeTakeFirstOrThrow();
  const snapshot = await selectSnapshotById(bench.db.kysely, bench.organizationId, template.current_snapshot_id!);
  if (!snapshot) throw new Error('the published snapshot is missing');
  const context = { organizationId: bench.organizationId, emailSendId: uuidV7(), profileId: uuidV7(), subscriptionGroupId: null, data: receiptData(0), profile: { email: 'r0@example.com' } };
  const rendered = renderSend(snapshot, context, unsubscribeLinks(bench.deps.config.publicUrl, bench.deps.secret, context));
  if (!rendered.ok) throw new Error(`rendering the sample failed: ${rendered.error.reason}`);
  return { subject: rendered.value.subject, html: rendered.value.html, text: rendered.value.text };
}

/**
 * Creates `count` EmailSends (indexes `first`…) through `createEmailSend`, each one a unit of the
 * group committer, with at most `window` units pending at once. Returns the ids in order.
 */
export async function createSends(bench: SendBench, runTag: string, first: number, count: number, window: number): Promise<string[]> {
  const sendDeps = { clock: bench.deps.clock, ids: bench.deps.ids, secret: bench.deps.secret, publicUrl: bench.deps.config.publicUrl };
  const ids: string[] = new Array<string>(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const k = next++;
      const request = sendRequest(bench, runTag, first + k);
      const result = await bench.deps.committer.run((trx) => createEmailSend(trx, sendDeps, bench.organizationId, request, { source: 'api', requireTransactional: true }));
      if (!result.ok) throw new Error(`createEmailSend refused send ${first + k}: ${JSON.stringify(result.error)}`);
      if (result.value.status !== 'Queued') throw new Error(`send ${first + k} was created ${result.value.status}, not Queued`);
      ids[k] = result.value.id;
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
  return ids;
}

export async function statusCounts(bench: SendBench): Promise<Map<string, number>> {
  const rows = await bench.db.kysely
    .selectFrom('email_sends')
    .select((eb) => ['status', eb.fn.countAll<number | string>().as('n')])
    .where('organization_id', '=', bench.organizationId)
    .groupBy('status')
    .execute();
  return new Map(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * The transport, counting its successful hand-offs: delivery progress is watched in memory, so
 * the wait costs the worker nothing (polling the database for statuses every few milliseconds
 * took a measurable share of the worker's event loop — email_sends has no status index).
 *
 * An in-transaction hand-off (capture) is counted when the transport returns, before its
 * transaction commits, and one in a batch that rolls back (its units then re-run alone) is
 * counted again. The count only paces the waiting; the correctness checks read the committed
 * statuses and captured copies after the worker stopped, so they are exact.
 */
export function countingTransport(inner: MailTransport): MailTransport & { handoffs(): number } {
  let handoffs = 0;
  const sendInTransaction = inner.sendInTransaction?.bind(inner);
  return {
    name: inner.name,
    async send(msg) {
      const result = await inner.send(msg);
      handoffs++;
      return result;
    },
    ...(sendInTransaction && {
      async sendInTransaction(trx, msg) {
        const result = await sendInTransaction(trx, msg);
        handoffs++;
        return result;
      },
    }),
    close: () => inner.close(),
    handoffs: () => handoffs,
  };
}

export interface DeliverOptions {
  /** Hand-offs the transport will have made once done (earlier phases included). */
  expectedHandoffs: number;
  /** Gives up when no hand-off happened for this long. */
  stallMs: number;
  /** Gives up after this long in all. */
  timeoutMs: number;
  pollMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the worker's runner (its own poll loop and concurrency, as `serve` runs it), waits until
 * the transport made `expectedHandoffs` hand-offs, then until nothing is Queued or Processing (the
 * last sends' final transactions); stops the runner (not the transport, which the next phase
 * reuses). Resolves with the status counts at the end. Bounded by `timeoutMs` and by `stallMs`
 * without a hand-off.
 */
export async function deliverAll(bench: SendBench, worker: Worker, transport: { handoffs(): number }, options: DeliverOptions): Promise<Map<string, number>> {
  const started = performance.now();
  const state = async () => [...(await statusCounts(bench))].map(([s, n]) => `${s} ${n}`).join(', ');
  const check = async (lastProgress: number) => {
    const now = performance.now();
    if (now - lastProgress > options.stallMs) throw new Error(`delivery stalled for ${options.stallMs} ms (${transport.handoffs()} hand-offs of ${options.expectedHandoffs}; ${await state()})`);
    if (now - started > options.timeoutMs) throw new Error(`delivery did not finish within ${options.timeoutMs} ms (${transport.handoffs()} hand-offs of ${options.expectedHandoffs}; ${await state()})`);
  };
  worker.runner.start();
  try {
    let last = transport.handoffs();
    let lastProgress = started;
    while (transport.handoffs() < options.expectedHandoffs) {
      await sleep(options.pollMs);
      if (transport.handoffs() !== last) {
        last = transport.handoffs();
        lastProgress = performance.now();
      }
      await check(lastProgress);
    }
    const handedOff = performance.now();
    for (;;) {
      const counts = await statusCounts(bench);
      if ((counts.get('Queued') ?? 0) + (counts.get('Processing') ?? 0) === 0) return counts;
      await sleep(1);
      await check(handedOff);
    }
  } finally {
    await worker.runner.stop();
  }
}

const CHUNK = 500;

/** The Message-ID header and transport attempts of each of `ids` that is Sent (others are missing). */
export async function messageIdHeaders(bench: SendBench, ids: readonly string[]): Promise<Map<string, { header: string; attempts: number }>> {
  const out = new Map<string, { header: string; attempts: number }>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await bench.db.kysely
      .selectFrom('email_sends')
      .innerJoin('messages', 'messages.id', 'email_sends.message_id')
      .select(['email_sends.id as id', 'email_sends.status as status', 'messages.message_id_header as header', 'messages.attempts as attempts'])
      .where('email_sends.id', 'in', ids.slice(i, i + CHUNK))
      .execute();
    for (const row of rows) if (row.status === 'Sent') out.set(row.id, { header: row.header, attempts: Number(row.attempts) });
  }
  return out;
}

/** Captured copies (capture transport) of `ids`: Message-ID header and hand-off count per send. */
export async function capturedCopies(bench: SendBench, ids: readonly string[]): Promise<{ headers: string[]; handoffs: number }> {
  const headers: string[] = [];
  let handoffs = 0;
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await bench.db.kysely
      .selectFrom('captured_messages')
      .select(['message_id_header', 'handoff_count'])
      .where('email_send_id', 'in', ids.slice(i, i + CHUNK))
      .execute();
    for (const row of rows) {
      headers.push(row.message_id_header);
      handoffs += Number(row.handoff_count);
    }
  }
  return { headers, handoffs };
}

/** The Message-ID the spec requires for an EmailSend of the dev sender (emails.md §5.2). */
export const expectedMessageId = (sendId: string): string => `<${sendId}@${DEV_DOMAIN}>`;
