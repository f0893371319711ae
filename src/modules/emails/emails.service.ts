/**
 * emails.send (emails.md §1.1): pin the Template's current snapshot, resolve the recipient,
 * choose and check the sender and reply-to, freeze the envelope, apply the consent and
 * suppression gates, and store the EmailSend with its delivery job — all in the caller's
 * transaction. Journeys and broadcasts create sends through `createEmailSend` too, with a
 * permanent send key instead of an Idempotency-Key.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { enqueueJob } from '../../jobs/queue.js';
import type { Clock } from '../../lib/clock.js';
import { canonicalEmail, parseFriendlyAddress } from '../../lib/email.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { getProfile, profileRenderState, resolveProfile, type ProfileView, type ResolveError } from '../profiles/profiles.service.js';
import { selectDefaultSenderProfile, selectDomain, selectDomainByName, selectSenderProfile, selectSenderProfileByEmail, type SenderProfileRow } from '../senders/senders.store.js';
import { findSuppression, type SuppressionReason } from '../subscriptions/suppressions.service.js';
import { subscriptionGate } from '../subscriptions/subscriptions.service.js';
import { selectTemplate } from '../templates/templates.store.js';
import { insertEmailSend, selectEmailSendBySendKey, type EmailSendRow } from './emails.store.js';
import { failureMessage, toEmailSendView, type Address, type EmailSendView } from './emails.view.js';
import { renderSendHeaders, selectSnapshotById, unsubscribeLinks } from './send-render.js';

export const DELIVER_JOB = 'email.deliver';
/** A safety net for unexpected handler errors; transport retries are scheduled by the handler. */
const DELIVER_JOB_MAX_ATTEMPTS = 25;

export interface SendRequest {
  templateId: string;
  profileId?: string;
  senderProfileId?: string;
  from?: Address;
  replyTo?: Address;
  subject?: string;
  subscriptionGroupId?: string;
  /** Canonical email and/or externalId. */
  to?: { email?: string; externalId?: string };
  cc: Address[];
  bcc: Address[];
  data: Record<string, unknown>;
  trackClicks: boolean;
}

export interface SendOrigin {
  source: EmailSendRow['source'];
  /** Only Transactional templates may be sent through the API. */
  requireTransactional: boolean;
  sendKey?: string;
  journeyId?: string;
  journeyRunId?: string;
  broadcastId?: string;
  event?: Record<string, unknown>;
  variables?: Record<string, unknown>;
  waited?: Record<string, unknown>;
}

export type SendError =
  | ResolveError
  | { type: 'reference_not_found'; pointers: string[] }
  | { type: 'template_archived' }
  | { type: 'template_purpose_mismatch' }
  | { type: 'template_not_published' }
  | { type: 'sender_not_verified' }
  | { type: 'sender_mismatch' }
  | { type: 'reply_to_not_allowed' };

export interface SendDeps {
  clock: Clock;
  ids: IdGenerator;
  secret: string;
  publicUrl: string;
}

function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

async function isVerifiedSender(db: Kysely<Database>, sender: SenderProfileRow): Promise<boolean> {
  const domain = await selectDomain(db, sender.organization_id, sender.domain_id);
  return domain !== undefined && domain.verified_at !== null;
}

export type SenderChoiceError =
  | { type: 'reference_not_found'; pointers: string[] }
  | { type: 'sender_not_verified' }
  | { type: 'sender_mismatch' }
  | { type: 'reply_to_not_allowed' };

export interface SenderChoice {
  sender: SenderProfileRow;
  /** The display name given in `from`, else null (the SenderProfile's name applies). */
  fromName: string | null;
  replyTo: Address | null;
}

/**
 * Sender and Reply-To of a send (emails.md §1.1 steps 3–4): the first sender rule that applies,
 * which must end on a SenderProfile of a verified Domain, and a Reply-To on a verified Domain.
 * `rendered` holds the snapshot's rendered `from` / `replyTo` ('' when empty or not rendered).
 * Reads only, so the journey simulator asks the same question the real send does.
 */
export async function chooseSender(
  db: Kysely<Database>,
  organizationId: string,
  request: Pick<SendRequest, 'from' | 'senderProfileId' | 'replyTo'>,
  rendered: { from: string; replyTo: string },
  snapshotSenderProfileId: string | null,
): Promise<Result<SenderChoice, SenderChoiceError>> {
  // 3. Sender.
  let sender: SenderProfileRow | undefined;
  let fromName: string | null = null;
  if (request.from !== undefined) {
    sender = await selectSenderProfileByEmail(db, organizationId, request.from.email.toLowerCase());
    if (!sender) return err({ type: 'sender_not_verified' });
    if (request.senderProfileId !== undefined && request.senderProfileId.toLowerCase() !== sender.id) return err({ type: 'sender_mismatch' });
    fromName = request.from.name;
  } else if (request.senderProfileId !== undefined) {
    sender = await selectSenderProfile(db, organizationId, request.senderProfileId.toLowerCase());
    if (!sender) return err({ type: 'reference_not_found', pointers: ['/senderProfileId'] });
  } else if (rendered.from !== '') {
    const parsed = parseFriendlyAddress(rendered.from);
    sender = parsed ? await selectSenderProfileByEmail(db, organizationId, parsed.email.toLowerCase()) : undefined;
    if (!sender) return err({ type: 'sender_not_verified' });
    fromName = parsed!.name;
  } else if (snapshotSenderProfileId !== null) {
    sender = await selectSenderProfile(db, organizationId, snapshotSenderProfileId);
  }
  sender ??= await selectDefaultSenderProfile(db, organizationId);
  if (!sender || !(await isVerifiedSender(db, sender))) return err({ type: 'sender_not_verified' });

  // 4. Reply-To, on a verified domain of the organization.
  let replyTo: Address | null = request.replyTo ?? null;
  if (replyTo === null && rendered.replyTo !== '') {
    // A non-empty rendered Reply-To is the one chosen; one that is not an address is on no verified domain.
    replyTo = parseFriendlyAddress(rendered.replyTo);
    if (replyTo === null) return err({ type: 'reply_to_not_allowed' });
  } else if (replyTo === null && sender.reply_to !== null) replyTo = parseFriendlyAddress(sender.reply_to);
  if (replyTo !== null) {
    const domain = await selectDomainByName(db, organizationId, domainOf(replyTo.email));
    if (!domain || domain.verified_at === null) return err({ type: 'reply_to_not_allowed' });
  }
  return ok({ sender, fromName, replyTo });
}

export async function createEmailSend(
  db: Kysely<Database>,
  deps: SendDeps,
  organizationId: string,
  request: SendRequest,
  origin: SendOrigin,
): Promise<Result<EmailSendView, SendError>> {
  if (origin.sendKey !== undefined) {
    const existing = await selectEmailSendBySendKey(db, organizationId, origin.sendKey);
    if (existing) return ok(toEmailSendView(existing));
  }
  // 1. Template and its current snapshot.
  const template = await selectTemplate(db, organizationId, request.templateId.toLowerCase());
  if (!template) return err({ type: 'reference_not_found', pointers: ['/templateId'] });
  if (template.status === 'Archived') return err({ type: 'template_archived' });
  if (origin.requireTransactional && template.purpose !== 'Transactional') return err({ type: 'template_purpose_mismatch' });
  if (template.current_snapshot_id === null) return err({ type: 'template_not_published' });
  const snapshot = await selectSnapshotById(db, organizationId, template.current_snapshot_id);
  if (!snapshot) throw new Error(`template ${template.id} points at missing snapshot ${template.current_snapshot_id}`);

  // 2. Recipient: profileId wins; otherwise identity resolution as in events.track.
  let profileId: string;
  let profileView: ProfileView | null;
  let deliveryEmail: string;
  if (request.profileId !== undefined) {
    profileView = await getProfile(db, organizationId, request.profileId, deps.secret);
    if (!profileView) return err({ type: 'profile_not_found', by: 'profileId' });
    profileId = profileView.id;
    deliveryEmail = request.to?.email ?? profileView.email;
  } else {
    const resolved = await resolveProfile(db, deps, organizationId, request.to ?? {}, 'api');
    if (!resolved.ok) return err(resolved.error);
    profileId = resolved.value.profile.id;
    profileView = await getProfile(db, organizationId, profileId, deps.secret);
    deliveryEmail = resolved.value.profile.email;
  }
  const emailSendId = deps.ids();
  const context = {
    organizationId,
    emailSendId,
    profileId,
    subscriptionGroupId: request.subscriptionGroupId?.toLowerCase() ?? null,
    data: request.data,
    profile: profileView ? profileRenderState(profileView) : {},
    ...(origin.event !== undefined ? { event: origin.event } : {}),
    ...(origin.variables !== undefined ? { variables: origin.variables } : {}),
    ...(origin.waited !== undefined ? { waited: origin.waited } : {}),
  };
  // Subject, from and reply-to of the snapshot render with the send's state (the body renders at
  // delivery, where a failure makes the send Failed / render_failed). A snapshot too large to
  // render at all has no rendered values here.
  const rendered = renderSendHeaders(snapshot, context, unsubscribeLinks(deps.publicUrl, deps.secret, context));
  const renderedHeaders = rendered.ok ? rendered.value : { subject: '', from: '', replyTo: '' };

  // 3–4. Sender and Reply-To.
  const chosen = await chooseSender(db, organizationId, request, renderedHeaders, snapshot.sender_profile_id);
  if (!chosen.ok) return chosen;
  const { sender, fromName, replyTo } = chosen.value;

  // 5–6. Freeze the envelope; gates.
  let skipReason: string | null = null;
  if (context.subscriptionGroupId !== null) {
    const gate = await subscriptionGate(db, organizationId, profileId, context.subscriptionGroupId);
    if (!gate.allowed) {
      if (gate.reason === 'group_not_found') return err({ type: 'reference_not_found', pointers: ['/subscriptionGroupId'] });
      skipReason = gate.reason;
    }
  }
  if (skipReason === null) {
    const reason = await suppressionReason(db, deps.secret, organizationId, profileView, deliveryEmail);
    if (reason !== null) skipReason = `suppressed_${reason}`;
  }
  const cc = await withoutSuppressed(db, deps.secret, organizationId, request.cc);
  const bcc = await withoutSuppressed(db, deps.secret, organizationId, request.bcc);

  // 7. Store the send and, unless skipped, its delivery job.
  const now = deps.clock.now();
  const row: EmailSendRow = {
    id: emailSendId,
    organization_id: organizationId,
    status: skipReason === null ? 'Queued' : 'Skipped',
    template_id: template.id,
    template_snapshot_id: snapshot.id,
    sender_profile_id: sender.id,
    from_email: sender.email,
    from_name: fromName ?? sender.name,
    reply_to_email: replyTo?.email ?? null,
    reply_to_name: replyTo?.name ?? null,
    subject: request.subject ?? renderedHeaders.subject,
    subscription_group_id: context.subscriptionGroupId,
    profile_id: profileId,
    to_email: deliveryEmail,
    cc: JSON.stringify(cc),
    bcc: JSON.stringify(bcc),
    data: JSON.stringify(request.data),
    tracking_clicks: request.trackClicks ? 1 : 0,
    message_id: null,
    failure_reason: skipReason,
    failure_message: skipReason === null ? null : failureMessage(skipReason),
    source: origin.source,
    journey_id: origin.journeyId ?? null,
    journey_run_id: origin.journeyRunId ?? null,
    broadcast_id: origin.broadcastId ?? null,
    send_key: origin.sendKey ?? null,
    sent_at: null,
    created_at: now,
    updated_at: now,
  };
  await insertEmailSend(db, row);
  if (skipReason === null) {
    await enqueueJob(db, deps, { type: DELIVER_JOB, organizationId, payload: { emailSendId }, maxAttempts: DELIVER_JOB_MAX_ATTEMPTS });
  }
  return ok(toEmailSendView(row));
}

/** Suppressed cc/bcc addresses are removed from the envelope silently (emails.md §4). */
export async function withoutSuppressed(db: Kysely<Database>, secret: string, organizationId: string, addresses: Address[]): Promise<Address[]> {
  const kept: Address[] = [];
  for (const address of addresses) if (!(await findSuppression(db, secret, organizationId, address.email))) kept.push(address);
  return kept;
}

/**
 * Why `email` is on the suppression list, or null. `getProfile` looked the profile's own address
 * up already, so only another address (an explicit `to`) costs a lookup here.
 */
export async function suppressionReason(
  db: Kysely<Database>,
  secret: string,
  organizationId: string,
  profile: ProfileView | null,
  email: string,
): Promise<SuppressionReason | null> {
  if (profile !== null && canonicalEmail(email) === canonicalEmail(profile.email)) return profile.deliverySuppression.reason;
  return (await findSuppression(db, secret, organizationId, email))?.reason ?? null;
}
