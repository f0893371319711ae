/** The EmailSend JSON (emails.md §3.1). `bcc` is stored for the envelope and never returned. */
import { toIso } from '../../lib/clock.js';
import type { EmailSendRow } from './emails.store.js';

export interface Address {
  email: string;
  name: string | null;
}

export interface EmailSendView {
  id: string;
  status: EmailSendRow['status'];
  templateId: string;
  templateSnapshotId: string;
  senderProfileId: string;
  from: Address;
  replyTo: Address | null;
  subject: string | null;
  subscriptionGroupId: string | null;
  profileId: string | null;
  to: { email: string } | null;
  cc: Address[];
  messageId: string | null;
  failureMessage: string | null;
  failureReason: string | null;
  source: EmailSendRow['source'];
  journeyId: string | null;
  journeyRunId: string | null;
  broadcastId: string | null;
  sentAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toEmailSendView(row: EmailSendRow): EmailSendView {
  return {
    id: row.id,
    status: row.status,
    templateId: row.template_id,
    templateSnapshotId: row.template_snapshot_id,
    senderProfileId: row.sender_profile_id,
    from: { email: row.from_email, name: row.from_name },
    replyTo: row.reply_to_email === null ? null : { email: row.reply_to_email, name: row.reply_to_name },
    subject: row.subject,
    subscriptionGroupId: row.subscription_group_id,
    profileId: row.profile_id,
    to: row.to_email === null ? null : { email: row.to_email },
    cc: JSON.parse(row.cc) as Address[],
    messageId: row.message_id,
    failureMessage: row.failure_message,
    failureReason: row.failure_reason,
    source: row.source,
    journeyId: row.journey_id,
    journeyRunId: row.journey_run_id,
    broadcastId: row.broadcast_id,
    sentAt: row.sent_at === null ? null : toIso(row.sent_at),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

const FAILURE_TEXT: Record<string, string> = {
  unsubscribed: 'the recipient unsubscribed from this subscription group',
  not_subscribed: 'the recipient is not subscribed to this opt-in subscription group',
  suppressed_hard_bounce: 'the address is suppressed after a hard bounce',
  suppressed_complaint: 'the address is suppressed after a complaint',
  suppressed_manual: 'the address is on the suppression list',
  profile_erased: 'the recipient Profile was erased',
  render_failed: 'the template could not be rendered within bounds',
  sender_not_verified: 'the sender or its domain is no longer verified',
  transport_rejected: 'the transport refused the message permanently',
  transport_unavailable: 'the transport kept failing until attempts ran out',
};

/** `"<reason>: <human detail>"` (emails.md §3.2). */
export function failureMessage(reason: string, detail?: string): string {
  return `${reason}: ${detail ?? FAILURE_TEXT[reason] ?? reason}`;
}
