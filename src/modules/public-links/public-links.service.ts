/**
 * What the public links of emails.md §9 do, once their token has been verified: unsubscribe a
 * Profile from one group, show and save its preferences, and record a click. Consent is read and
 * written only through the subscriptions service. A Profile that no longer exists (erased) is not
 * an error: the pages look the same and nothing is written.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { selectUserEventsPage, insertUserEvent } from '../events/events.store.js';
import { findProfileId } from '../profiles/profiles.service.js';
import {
  getSubscriptionGroup,
  listProfileSubscriptions,
  setSubscriptionStatus,
  type ProfileSubscriptionView,
  type SubscriptionSource,
} from '../subscriptions/subscriptions.service.js';
import type { PublicLink } from './link-tokens.js';
import type { PreferenceItem } from './pages.js';

/** A click is recorded at most once per send and URL within this window. */
export const CLICK_DEDUPE_WINDOW_MS = 60_000;
/** Clicks of one Profile looked at when de-duplicating; more within a minute is not a person. */
const CLICK_DEDUPE_SCAN = 200;

/** The group an unsubscribe link names (null when it was deleted since). Reads only. */
export async function unsubscribeGroupName(db: Kysely<Database>, link: PublicLink): Promise<string | null> {
  const group = await getSubscriptionGroup(db, link.organizationId, link.subscriptionGroupId!);
  return group?.name ?? null;
}

/**
 * Unsubscribes the link's Profile from the link's group. Idempotent: an existing `unsubscribed`
 * status keeps its original source and time. A missing Profile or group changes nothing.
 */
export async function unsubscribeByLink(
  db: Kysely<Database>,
  deps: { clock: Clock },
  link: PublicLink,
  source: Extract<SubscriptionSource, 'one_click' | 'unsubscribe_link'>,
): Promise<{ groupName: string | null }> {
  const group = await getSubscriptionGroup(db, link.organizationId, link.subscriptionGroupId!);
  if (!group || link.profileId === null) return { groupName: group?.name ?? null };
  const listed = await listProfileSubscriptions(db, link.organizationId, link.profileId);
  if (!listed.ok) return { groupName: group.name };
  const current = listed.value.subscriptions.find((s) => s.subscriptionGroupId === group.id);
  if (current?.status !== 'unsubscribed') {
    await setSubscriptionStatus(db, link.organizationId, listed.value.profileId, group.id, 'unsubscribed', source, deps.clock.now());
  }
  return { groupName: group.name };
}

function toItems(subscriptions: ProfileSubscriptionView[]): PreferenceItem[] {
  return subscriptions.map((s) => ({ id: s.subscriptionGroupId, name: s.name, subscribed: s.isSubscribed }));
}

/** Every group of the organization with the Profile's effective status; null when the Profile is gone. */
export async function readPreferences(db: Kysely<Database>, link: PublicLink): Promise<PreferenceItem[] | null> {
  if (link.profileId === null) return null;
  const listed = await listProfileSubscriptions(db, link.organizationId, link.profileId);
  return listed.ok ? toItems(listed.value.subscriptions) : null;
}

/**
 * Saves the preferences form: checked groups become `subscribed`, every other group
 * `unsubscribed` (source `preferences_page`). Only statuses that differ are written, so an
 * unchanged group keeps its source and time. Ids that are not groups of the organization are ignored.
 */
export async function savePreferences(
  db: Kysely<Database>,
  deps: { clock: Clock },
  link: PublicLink,
  checked: ReadonlySet<string>,
): Promise<PreferenceItem[] | null> {
  if (link.profileId === null) return null;
  const listed = await listProfileSubscriptions(db, link.organizationId, link.profileId);
  if (!listed.ok) return null;
  const now = deps.clock.now();
  for (const entry of listed.value.subscriptions) {
    const target = checked.has(entry.subscriptionGroupId) ? 'subscribed' : 'unsubscribed';
    if (entry.status !== target) {
      await setSubscriptionStatus(db, link.organizationId, listed.value.profileId, entry.subscriptionGroupId, target, 'preferences_page', now);
    }
  }
  const after = await listProfileSubscriptions(db, link.organizationId, listed.value.profileId);
  return after.ok ? toItems(after.value.subscriptions) : null;
}

/**
 * Records the UserEvent `email.clicked` (source `system`, data `{emailSendId, url}`) unless the
 * same send and URL was recorded within the last minute, or the Profile no longer exists.
 */
export async function recordClick(
  db: Kysely<Database>,
  deps: { clock: Clock; ids: IdGenerator },
  link: PublicLink,
): Promise<{ recorded: boolean }> {
  if (link.profileId === null || link.emailSendId === null || link.url === null) return { recorded: false };
  const profileId = await findProfileId(db, link.organizationId, link.profileId);
  if (profileId === null) return { recorded: false };
  const now = deps.clock.now();
  const recent = await selectUserEventsPage(
    db,
    link.organizationId,
    { profileId, event: 'email.clicked', source: 'system', since: now - CLICK_DEDUPE_WINDOW_MS },
    { limit: CLICK_DEDUPE_SCAN, after: null },
  );
  const data = { emailSendId: link.emailSendId, url: link.url };
  const seen = recent.some((row) => {
    const previous = JSON.parse(row.data) as { emailSendId?: unknown; url?: unknown };
    return previous.emailSendId === data.emailSendId && previous.url === data.url;
  });
  if (seen) return { recorded: false };
  await insertUserEvent(db, {
    id: deps.ids(),
    organization_id: link.organizationId,
    profile_id: profileId,
    type: 'track',
    event: 'email.clicked',
    data: JSON.stringify(data),
    redacted_paths: '[]',
    reference_id: null,
    occurred_at: now,
    received_at: now,
    source: 'system',
    message_id: null,
    user_id: null,
    anonymous_id: null,
    context: null,
  });
  return { recorded: true };
}
