/**
 * The outbox worker (emails.md §5): the `email.deliver` job of one EmailSend.
 *
 * 1. In one transaction: re-check the gates, mark `Processing`, create the Message (its
 *    Message-ID is derived from the EmailSend id) and — unless an earlier attempt already did —
 *    render the pinned snapshot, build the MIME and store it, dropping sensitive `/data` values.
 * 2. Hand the stored MIME to the transport, outside any transaction.
 * 3. In one transaction with the job's completion: record the outcome (`Sent`, a scheduled
 *    retry, or `Failed`).
 * A crash between 2 and 3 re-runs the job, which hands off the *same* stored MIME with the same
 * Message-ID: a duplicate is detectable by the receiver, and no second message id can exist.
 *
 * A transport that stores into this database (capture: `sendInTransaction`) takes the hand-off
 * inside the transaction of step 1, and step 3 follows in it: one commit, and no window in which
 * a crash could repeat the hand-off. The MIME then lives only in the captured copy (and on the
 * Message only when a `TransportError` schedules a retry, which must reuse it); `Processing` is
 * never visible from outside.
 */
import type { Kysely } from 'kysely';
import type { Db } from '../../db/connect.js';
import type { GroupCommitter } from '../../db/group-commit.js';
import type { Database } from '../../db/tables.js';
import { enqueueJob, type ClaimedJob } from '../../jobs/queue.js';
import type { JobContext, JobHandler } from '../../jobs/runner.js';
import type { Clock } from '../../lib/clock.js';
import { parseFriendlyAddress } from '../../lib/email.js';
import type { IdGenerator } from '../../lib/ids.js';
import { removePointers } from '../../lib/json-pointer.js';
import type { Logger } from '../../logger.js';
import { listHeaders } from '../../mail/list-headers.js';
import { buildMime, formatAddress } from '../../mail/mime.js';
import { TransportError, type MailTransport, type OutboundMessage, type SendResult } from '../../mail/transport.js';
import { getProfile, profileRenderState } from '../profiles/profiles.service.js';
import { clickLink } from '../public-links/link-tokens.js';
import { selectDomain, selectSenderProfile } from '../senders/senders.store.js';
import { addSuppression } from '../subscriptions/suppressions.service.js';
import { getSubscriptionGroup, subscriptionGate } from '../subscriptions/subscriptions.service.js';
import { DELIVER_JOB, suppressionReason, withoutSuppressed } from './emails.service.js';
import { insertMessage, selectEmailSendById, selectMessageBySend, updateEmailSend, updateMessage, type EmailSendRow, type MessageRow } from './emails.store.js';
import { failureMessage, type Address } from './emails.view.js';
import { renderSend, selectSnapshotById, snapshotDefinition, snapshotStateRoots, unsubscribeLinks, type SendContext } from './send-render.js';

export interface DeliveryDeps {
  db: Db;
  /** Concurrent deliveries share commits: prepare and record transactions go through it. */
  committer: GroupCommitter;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  secret: string;
  publicUrl: string;
  transport: MailTransport;
  maxAttempts: number;
  /**
   * The `/event`, `/variables` and `/waited` state of a send a journey run created (journeys.md
   * §6.3), read from the run when its message is built — only the `roots` the template reads.
   * Given by the worker, which wires the journeys module in (emails does not depend on
   * journeys); sends without a run render without.
   */
  runRenderState?: (trx: Kysely<Database>, organizationId: string, runId: string, roots: ReadonlySet<string>) => Promise<RunRenderState>;
}

/** The part of a send's render state a journey run provides. */
export type RunRenderState = Pick<SendContext, 'event' | 'variables' | 'waited'>;

const TERMINAL = new Set(['Sent', 'Failed', 'Skipped']);
/** Render-state roots a journey run provides (the others come from the send itself). */
const RUN_ROOTS: ReadonlySet<string> = new Set(['event', 'variables', 'waited']);

/** emails.md §5: min(30 s × 2^(attempt−1), 1 h) ± 20 %. */
export function deliveryRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000 * 2 ** (attempt - 1), 3_600_000);
  return Math.round(base * (0.8 + 0.4 * random()));
}

interface Stored {
  envelope: { from: string; to: string[] };
  structured: OutboundMessage['structured'];
}

interface Handoff {
  kind: 'handoff';
  send: EmailSendRow;
  message: MessageRow;
  stored: Stored;
}

type Prepared = { kind: 'done' } | Handoff;

export function createDeliveryHandler(deps: DeliveryDeps): JobHandler {
  const { transport } = deps;
  if (transport.sendInTransaction) {
    const sendInTransaction = transport.sendInTransaction.bind(transport);
    // The transport stores into this database: prepare, hand-off and record are one transaction.
    return async (job: ClaimedJob, ctx: JobContext) => {
      const emailSendId = String(job.payload.emailSendId);
      await deps.committer.run(async (trx) => {
        const prepared = await prepare(trx, deps, ctx, emailSendId, false);
        if (prepared.kind === 'done') return;
        try {
          await recordSent(trx, deps, ctx, prepared, await sendInTransaction(trx, outbound(prepared)));
        } catch (error) {
          if (!(error instanceof TransportError)) throw error;
          // A retry must hand off these same bytes (§5.7), and the sensitive `/data` values
          // needed to render them again are gone from the send: keep the MIME after all.
          const { message } = prepared;
          await updateMessage(trx, message.id, { mime: message.mime, envelope: message.envelope, updated_at: deps.clock.now() });
          await recordTransportFailure(trx, deps, ctx, prepared.send, message, error);
        }
      });
    };
  }
  return async (job: ClaimedJob, ctx: JobContext) => {
    const emailSendId = String(job.payload.emailSendId);
    const prepared = await deps.committer.run((trx) => prepare(trx, deps, ctx, emailSendId, true));
    if (prepared.kind === 'done') return;
    try {
      const result = await transport.send(outbound(prepared));
      await deps.committer.run((trx) => recordSent(trx, deps, ctx, prepared, result));
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      await deps.committer.run((trx) => recordTransportFailure(trx, deps, ctx, prepared.send, prepared.message, error));
    }
  };
}

function outbound({ send, message, stored }: Handoff): OutboundMessage {
  return {
    organizationId: send.organization_id,
    emailSendId: send.id,
    idempotencyKey: send.id,
    messageIdHeader: message.message_id_header,
    envelope: stored.envelope,
    raw: Buffer.from(message.mime!, 'utf8'),
    structured: stored.structured,
  };
}

async function recordSent(trx: Kysely<Database>, deps: DeliveryDeps, ctx: JobContext, { send, message }: Handoff, result: SendResult): Promise<void> {
  await ctx.completeInTransaction(trx);
  const now = deps.clock.now();
  await updateMessage(trx, message.id, { transport_message_id: result.transportMessageId, attempts: message.attempts + 1, mime: null, envelope: null, last_error: null, updated_at: now });
  await updateEmailSend(trx, send.id, { status: 'Sent', sent_at: now, updated_at: now });
  // A cc/bcc address refused with 5.1.x while the primary recipient was accepted is a hard bounce too (emails.md §5.5).
  for (const refused of result.rejectedRecipients ?? []) {
    if (!refused.permanent || refused.code?.startsWith('5.1.') !== true) continue;
    await addSuppression(trx, deps.secret, send.organization_id, { email: refused.recipient, reason: 'hard_bounce', source: 'smtp', bounceReason: refused.response ?? null, diagnosticCode: refused.code, at: now });
  }
}

/**
 * `storeMime: false` (an in-transaction hand-off) keeps the built MIME in memory only: its
 * transaction also records the outcome, so a later attempt needs the stored copy only after a
 * `TransportError`, and that path stores it.
 */
async function prepare(trx: Kysely<Database>, deps: DeliveryDeps, ctx: JobContext, emailSendId: string, storeMime: boolean): Promise<Prepared> {
  const now = deps.clock.now();
  const send = await selectEmailSendById(trx, emailSendId);
  const finish = async (changes: Partial<EmailSendRow>): Promise<Prepared> => {
    await ctx.completeInTransaction(trx);
    if (send && Object.keys(changes).length > 0) await updateEmailSend(trx, send.id, { ...changes, updated_at: now });
    return { kind: 'done' };
  };
  if (!send || TERMINAL.has(send.status)) return finish({});
  const skip = (reason: string) => finish({ status: 'Skipped', failure_reason: reason, failure_message: failureMessage(reason) });
  const fail = (reason: string, detail?: string, messageId?: string) =>
    finish({ status: 'Failed', failure_reason: reason, failure_message: failureMessage(reason, detail), ...(messageId !== undefined ? { message_id: messageId } : {}) });

  // Gates again, right before hand-off: an unsubscribe or suppression since creation wins.
  const profile = send.profile_id === null ? null : await getProfile(trx, send.organization_id, send.profile_id, deps.secret);
  if (!profile || send.to_email === null) return skip('profile_erased');
  if (send.subscription_group_id !== null) {
    const gate = await subscriptionGate(trx, send.organization_id, profile.id, send.subscription_group_id);
    if (!gate.allowed) return skip(gate.reason === 'group_not_found' ? 'unsubscribed' : gate.reason);
  }
  const suppressed = await suppressionReason(trx, deps.secret, send.organization_id, profile, send.to_email);
  if (suppressed !== null) return skip(`suppressed_${suppressed}`);
  const sender = await selectSenderProfile(trx, send.organization_id, send.sender_profile_id);
  const domain = sender ? await selectDomain(trx, send.organization_id, sender.domain_id) : undefined;
  if (!sender || !domain || domain.verified_at === null) return fail('sender_not_verified');

  // The Message row and `message_id` are written in one transaction: no id, no row yet.
  let message = send.message_id === null ? undefined : await selectMessageBySend(trx, send.id);
  if (message?.mime == null) {
    const messageIdHeader = message?.message_id_header ?? `<${send.id}@${domain.name}>`;
    const built = await buildMessage(trx, deps, send, messageIdHeader, profileRenderState(profile), domain.name);
    const mime = built.ok ? { mime: built.mime, envelope: built.envelope } : { mime: null, envelope: null };
    if (message) {
      Object.assign(message, mime);
      if (built.ok && storeMime) await updateMessage(trx, message.id, { ...mime, updated_at: now });
    } else {
      // One insert, with the MIME unless it is handed off in this transaction (§5.2 creates the row, then stores the MIME on it).
      const row: MessageRow = {
        id: deps.ids(),
        organization_id: send.organization_id,
        email_send_id: send.id,
        message_id_header: messageIdHeader,
        ...mime,
        transport_message_id: null,
        attempts: 0,
        last_error: null,
        last_event: null,
        created_at: now,
        updated_at: now,
      };
      await insertMessage(trx, storeMime ? row : { ...row, mime: null, envelope: null });
      message = row;
    }
    if (!built.ok) return fail('render_failed', built.reason, message.id);
    await updateEmailSend(trx, send.id, { data: built.data, status: 'Processing', message_id: message.id, updated_at: now });
  } else {
    if (send.status !== 'Processing') await updateEmailSend(trx, send.id, { status: 'Processing', message_id: message.id, updated_at: now });
    // A retry hands off the stored MIME as it is; a cc or bcc address suppressed since it was
    // built is still dropped from the envelope and the structured copy (emails.md §4), which is
    // what SMTP and HTTP-provider transports deliver to; the raw Cc header stays as built.
    return { kind: 'handoff', send, message, stored: await deliverable(trx, deps, send, JSON.parse(message.envelope!) as Stored) };
  }
  return { kind: 'handoff', send, message, stored: JSON.parse(message.envelope!) as Stored };
}

/** A stored hand-off without the cc/bcc addresses on the suppression list now; the primary recipient passed the gates already. */
async function deliverable(trx: Kysely<Database>, deps: DeliveryDeps, send: EmailSendRow, stored: Stored): Promise<Stored> {
  const [primary, ...others] = stored.envelope.to;
  if (others.length === 0) return stored;
  const kept = new Set((await withoutSuppressed(trx, deps.secret, send.organization_id, others.map((email) => ({ email, name: null })))).map((a) => a.email));
  if (kept.size === others.length) return stored;
  // Drop exactly the addresses suppressed since the build, from the cc as built (a cc equal to the
  // primary recipient is not among `others` and stays).
  const dropped = new Set(others.filter((email) => !kept.has(email)).map((email) => email.toLowerCase()));
  const cc = stored.structured.cc.filter((formatted) => !dropped.has((parseFriendlyAddress(formatted)?.email ?? formatted).toLowerCase()));
  return { envelope: { from: stored.envelope.from, to: [primary!, ...others.filter((email) => kept.has(email))] }, structured: { ...stored.structured, cc } };
}

async function buildMessage(
  trx: Kysely<Database>,
  deps: DeliveryDeps,
  send: EmailSendRow,
  messageIdHeader: string,
  profile: Record<string, unknown>,
  fromDomain: string,
): Promise<{ ok: true; mime: string; envelope: string; data: string } | { ok: false; reason: string }> {
  const snapshot = await selectSnapshotById(trx, send.organization_id, send.template_snapshot_id);
  if (!snapshot) return { ok: false, reason: 'the pinned template snapshot no longer exists' };
  const data = JSON.parse(send.data) as Record<string, unknown>;
  const runRoots = [...snapshotStateRoots(snapshot)].filter((root) => RUN_ROOTS.has(root));
  const runState = send.journey_run_id !== null && deps.runRenderState && runRoots.length > 0 ? await deps.runRenderState(trx, send.organization_id, send.journey_run_id, new Set(runRoots)) : {};
  const context = { organizationId: send.organization_id, emailSendId: send.id, profileId: send.profile_id, subscriptionGroupId: send.subscription_group_id, data, profile, ...runState };
  const links = unsubscribeLinks(deps.publicUrl, deps.secret, context);
  const rendered = renderSend(snapshot, context, links);
  if (!rendered.ok) return { ok: false, reason: rendered.error.reason };

  const headers: [string, string][] = [['X-Segmentflow-Email-Send-Id', send.id]];
  if (snapshot.purpose !== 'Transactional' && send.subscription_group_id !== null) {
    const group = await getSubscriptionGroup(trx, send.organization_id, send.subscription_group_id);
    headers.push(...listHeaders({ unsubscribeUrl: links.unsubscribeUrl, groupName: group?.name ?? '', subscriptionGroupId: send.subscription_group_id, fromDomain }));
  }
  const from = { email: send.from_email, name: send.from_name };
  // Suppressed cc/bcc addresses leave the envelope and the Cc header, also when suppressed after
  // creation (emails.md §4); the EmailSend keeps the cc it was accepted with.
  const cc = await withoutSuppressed(trx, deps.secret, send.organization_id, JSON.parse(send.cc) as Address[]);
  const bcc = await withoutSuppressed(trx, deps.secret, send.organization_id, JSON.parse(send.bcc) as Address[]);
  const replyTo = send.reply_to_email === null ? null : { email: send.reply_to_email, name: send.reply_to_name };
  const subject = send.subject ?? rendered.value.subject;
  const html = send.tracking_clicks === 1 ? trackClicks(rendered.value.html, (url) => trackedUrl(deps, context, links, url)) : rendered.value.html;
  let mime: Awaited<ReturnType<typeof buildMime>>;
  try {
    mime = await buildMime({
      messageIdHeader,
      date: new Date(deps.clock.now()),
      from,
      to: { email: send.to_email! },
      cc,
      bcc,
      replyTo,
      subject,
      html,
      text: rendered.value.text,
      headers,
    });
  } catch (error) {
    // buildMime refuses what cannot be a well-formed message; retrying cannot help.
    if (error instanceof TypeError) return { ok: false, reason: error.message };
    throw error;
  }
  const stored: Stored = {
    envelope: mime.envelope,
    structured: { from: formatAddress(from), to: send.to_email!, cc: cc.map(formatAddress), replyTo: replyTo ? formatAddress(replyTo) : null, subject, html, text: rendered.value.text, headers },
  };
  // Sensitive values are needed for this one render only (templates.md §6.7).
  const sensitive = snapshotDefinition(snapshot).sensitiveTransactionalVariablePaths.filter((p) => p.startsWith('/data/')).map((p) => p.slice('/data'.length));
  if (sensitive.length > 0) removePointers(data, sensitive);
  return { ok: true, mime: mime.raw, envelope: JSON.stringify(stored), data: JSON.stringify(data) };
}

/** The /c/ link for `url`; unsubscribe and preferences links, and URLs too long to sign, stay as they are. */
function trackedUrl(deps: DeliveryDeps, context: Parameters<typeof clickLink>[2], links: { unsubscribeUrl: string; preferencesUrl: string }, url: string): string {
  if (url === links.unsubscribeUrl || url === links.preferencesUrl) return url;
  try {
    return clickLink(deps.publicUrl, deps.secret, context, url);
  } catch {
    return url;
  }
}

const HTML_ENTITIES: Record<string, string> = { '&amp;': '&', '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>' };

/**
 * Click tracking (emails.md §9): every http(s) href of the rendered HTML — the renderer only
 * emits http(s) and mailto links, attribute values HTML-escaped — becomes a signed /c/ link.
 */
function trackClicks(html: string, rewrite: (url: string) => string): string {
  return html.replace(/href="(https?:[^"]*)"/gi, (_match, escaped: string) => {
    const url = escaped.replace(/&(amp|quot|#39|lt|gt);/g, (entity) => HTML_ENTITIES[entity] ?? entity);
    return `href="${rewrite(url).replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`;
  });
}

async function recordTransportFailure(
  trx: Kysely<Database>,
  deps: DeliveryDeps,
  ctx: JobContext,
  send: EmailSendRow,
  message: MessageRow,
  error: TransportError,
): Promise<void> {
  await ctx.completeInTransaction(trx);
  const now = deps.clock.now();
  const attempts = message.attempts + 1;
  const detail = `${error.code ?? ''} ${error.response ?? error.message}`.trim().slice(0, 500);
  await updateMessage(trx, message.id, { attempts, last_error: detail, updated_at: now });
  if (error.permanent) {
    if (error.code?.startsWith('5.1.')) {
      await addSuppression(trx, deps.secret, send.organization_id, { email: send.to_email!, reason: 'hard_bounce', source: 'smtp', bounceReason: error.response ?? error.message, diagnosticCode: error.code, at: now });
    }
    await updateEmailSend(trx, send.id, { status: 'Failed', failure_reason: 'transport_rejected', failure_message: failureMessage('transport_rejected', detail), updated_at: now });
    return;
  }
  if (attempts >= deps.maxAttempts) {
    await updateEmailSend(trx, send.id, { status: 'Failed', failure_reason: 'transport_unavailable', failure_message: failureMessage('transport_unavailable', detail), updated_at: now });
    return;
  }
  await enqueueJob(trx, deps, { type: DELIVER_JOB, organizationId: send.organization_id, payload: { emailSendId: send.id }, runAt: now + deliveryRetryDelayMs(attempts), maxAttempts: 25 });
}
