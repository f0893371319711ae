/**
 * Consent: SubscriptionGroups (emails.md §8.3), each Profile's status per group (profiles.md §6),
 * and the subscription gate every send passes (emails.md §4). A status is `subscribed`,
 * `unsubscribed` or absent (`none`); what it means depends on the group's type: OptIn groups
 * reach only `subscribed` Profiles, OptOut groups everyone not `unsubscribed`.
 */
import type { Kysely } from 'kysely';
import { journeysUsing } from '../journeys/journeys.references.js';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { countProfiles, findProfileId } from '../profiles/profiles.service.js';
import {
  countStatusesByGroup,
  deleteSubscriptionGroupRow,
  insertSubscriptionGroup,
  selectAllSubscriptionGroups,
  selectProfileStatuses,
  selectSubscriptionGroup,
  selectSubscriptionGroupByName,
  selectSubscriptionGroupsPage,
  selectSubscriptionStatus,
  updateSubscriptionGroupRow,
  upsertSubscriptionStatus,
  type SubscriptionGroupRow,
  type SubscriptionStatusRow,
} from './subscriptions.store.js';

export type SubscriptionGroupType = SubscriptionGroupRow['type'];
export type SubscriptionStatus = SubscriptionStatusRow['status'];
/** Where a status change came from (profiles.md §6.1). */
export type SubscriptionSource = 'api' | 'unsubscribe_link' | 'one_click' | 'preferences_page' | 'import' | 'journey';

export type SubscriptionGateResult =
  | { allowed: true }
  | { allowed: false; reason: 'unsubscribed' | 'not_subscribed' }
  | { allowed: false; reason: 'group_not_found' };

export type SubscriptionError =
  | { type: 'not_found'; resource: 'SubscriptionGroup' | 'Profile' }
  | { type: 'already_exists'; field: 'name' }
  | { type: 'immutable_field'; field: 'type' }
  | { type: 'resource_in_use'; references: { type: string; id: string }[] };

export interface SubscriptionGroupView {
  id: string;
  name: string;
  description: string | null;
  type: SubscriptionGroupType;
  channel: 'email';
  subscribedCount: number;
  unsubscribedCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface ProfileSubscriptionView {
  subscriptionGroupId: string;
  name: string;
  type: SubscriptionGroupType;
  channel: 'email';
  status: SubscriptionStatus | 'none';
  isSubscribed: boolean;
  source: string | null;
  updatedAt: string | null;
}

interface Deps {
  clock: Clock;
  ids: IdGenerator;
}

/** The group row of this organization, or undefined. */
export function getSubscriptionGroup(db: Kysely<Database>, organizationId: string, id: string): Promise<SubscriptionGroupRow | undefined> {
  return selectSubscriptionGroup(db, organizationId, id.toLowerCase());
}

/** Effective subscription (profiles.md §6.1): OptIn needs `subscribed`, OptOut refuses only `unsubscribed`. */
export function isEffectivelySubscribed(type: SubscriptionGroupType, status: SubscriptionStatus | 'none'): boolean {
  return type === 'OptIn' ? status === 'subscribed' : status !== 'unsubscribed';
}

/** The SubscriptionGroup gate of a send (emails.md §4), checked at creation and again before hand-off. */
export async function subscriptionGate(
  db: Kysely<Database>,
  organizationId: string,
  profileId: string,
  subscriptionGroupId: string,
): Promise<{ allowed: true } | { allowed: false; reason: 'unsubscribed' | 'not_subscribed' } | { allowed: false; reason: 'group_not_found' }> {
  const group = await getSubscriptionGroup(db, organizationId, subscriptionGroupId);
  if (!group) return { allowed: false, reason: 'group_not_found' };
  const row = await selectSubscriptionStatus(db, organizationId, profileId.toLowerCase(), group.id);
  const status = row?.status ?? 'none';
  if (isEffectivelySubscribed(group.type, status)) return { allowed: true };
  return { allowed: false, reason: status === 'unsubscribed' ? 'unsubscribed' : 'not_subscribed' };
}

/** Records a Profile's status in a group (insert or replace). Callers check that both exist. */
export async function setSubscriptionStatus(
  db: Kysely<Database>,
  organizationId: string,
  profileId: string,
  subscriptionGroupId: string,
  status: 'subscribed' | 'unsubscribed',
  source: string,
  at: number,
): Promise<void> {
  await upsertSubscriptionStatus(db, {
    organization_id: organizationId,
    profile_id: profileId.toLowerCase(),
    subscription_group_id: subscriptionGroupId.toLowerCase(),
    status,
    source,
    updated_at: at,
  });
}

async function toGroupViews(db: Kysely<Database>, organizationId: string, rows: SubscriptionGroupRow[]): Promise<SubscriptionGroupView[]> {
  if (rows.length === 0) return [];
  const counts = await countStatusesByGroup(db, organizationId, rows.map((r) => r.id));
  // OptOut groups reach every Profile that has not unsubscribed, so that is their subscribed count.
  const profiles = rows.some((r) => r.type === 'OptOut') ? await countProfiles(db, organizationId) : 0;
  return rows.map((row) => {
    const c = counts.get(row.id) ?? { subscribed: 0, unsubscribed: 0 };
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      type: row.type,
      channel: 'email',
      subscribedCount: row.type === 'OptIn' ? c.subscribed : Math.max(0, profiles - c.unsubscribed),
      unsubscribedCount: c.unsubscribed,
      createdAt: toIso(row.created_at),
      updatedAt: toIso(row.updated_at),
    };
  });
}

export async function listSubscriptionGroups(
  db: Kysely<Database>,
  organizationId: string,
  page: { limit: number; beforeId: string | null },
): Promise<SubscriptionGroupView[]> {
  return toGroupViews(db, organizationId, await selectSubscriptionGroupsPage(db, organizationId, page));
}

export async function getSubscriptionGroupView(db: Kysely<Database>, organizationId: string, id: string): Promise<SubscriptionGroupView | null> {
  const row = await getSubscriptionGroup(db, organizationId, id);
  return row ? ((await toGroupViews(db, organizationId, [row]))[0] ?? null) : null;
}

export async function createSubscriptionGroup(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  input: { name: string; description?: string | null; type: SubscriptionGroupType },
): Promise<Result<SubscriptionGroupView, SubscriptionError>> {
  if (await selectSubscriptionGroupByName(db, organizationId, input.name)) return err({ type: 'already_exists', field: 'name' });
  const now = deps.clock.now();
  const row: SubscriptionGroupRow = {
    id: deps.ids(),
    organization_id: organizationId,
    name: input.name,
    description: input.description ?? null,
    type: input.type,
    created_at: now,
    updated_at: now,
  };
  await insertSubscriptionGroup(db, row);
  return ok((await toGroupViews(db, organizationId, [row]))[0]!);
}

export async function updateSubscriptionGroup(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
  input: { name?: string; description?: string | null; type?: SubscriptionGroupType },
): Promise<Result<SubscriptionGroupView, SubscriptionError>> {
  const row = await getSubscriptionGroup(db, organizationId, id);
  if (!row) return err({ type: 'not_found', resource: 'SubscriptionGroup' });
  if (input.type !== undefined && input.type !== row.type) return err({ type: 'immutable_field', field: 'type' });
  if (input.name !== undefined && input.name !== row.name) {
    const taken = await selectSubscriptionGroupByName(db, organizationId, input.name);
    if (taken && taken.id !== row.id) return err({ type: 'already_exists', field: 'name' });
  }
  const next: SubscriptionGroupRow = {
    ...row,
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.description !== undefined ? { description: input.description } : {}),
    updated_at: deps.clock.now(),
  };
  await updateSubscriptionGroupRow(db, row.id, { name: next.name, description: next.description, updated_at: next.updated_at });
  return ok((await toGroupViews(db, organizationId, [next]))[0]!);
}

export async function deleteSubscriptionGroup(db: Kysely<Database>, organizationId: string, id: string): Promise<Result<null, SubscriptionError>> {
  // Broadcasts and Newsletters do not exist yet; live journeys are the only holders.
  const references = await journeysUsing(db, organizationId, 'subscriptionGroup', id);
  if (references.length > 0) return err({ type: 'resource_in_use', references });
  return (await deleteSubscriptionGroupRow(db, organizationId, id.toLowerCase())) ? ok(null) : err({ type: 'not_found', resource: 'SubscriptionGroup' });
}

function toProfileSubscription(group: SubscriptionGroupRow, row: SubscriptionStatusRow | undefined): ProfileSubscriptionView {
  const status = row?.status ?? 'none';
  return {
    subscriptionGroupId: group.id,
    name: group.name,
    type: group.type,
    channel: 'email',
    status,
    isSubscribed: isEffectivelySubscribed(group.type, status),
    source: row?.source ?? null,
    updatedAt: row ? toIso(row.updated_at) : null,
  };
}

/** One entry per SubscriptionGroup of the organization, in creation order (profiles.md §6.1). */
export async function listProfileSubscriptions(
  db: Kysely<Database>,
  organizationId: string,
  profileId: string,
): Promise<Result<{ profileId: string; subscriptions: ProfileSubscriptionView[] }, SubscriptionError>> {
  const id = await findProfileId(db, organizationId, profileId);
  if (id === null) return err({ type: 'not_found', resource: 'Profile' });
  const groups = await selectAllSubscriptionGroups(db, organizationId);
  const statuses = new Map((await selectProfileStatuses(db, organizationId, id)).map((s) => [s.subscription_group_id, s]));
  return ok({ profileId: id, subscriptions: groups.map((g) => toProfileSubscription(g, statuses.get(g.id))) });
}

/** `PUT /api/v1/profiles/{profileId}/subscriptions/{subscriptionGroupId}` (profiles.md §6.2). */
export async function updateProfileSubscription(
  db: Kysely<Database>,
  deps: { clock: Clock },
  organizationId: string,
  profileId: string,
  subscriptionGroupId: string,
  status: SubscriptionStatus,
  source: SubscriptionSource,
): Promise<Result<ProfileSubscriptionView, SubscriptionError>> {
  const id = await findProfileId(db, organizationId, profileId);
  if (id === null) return err({ type: 'not_found', resource: 'Profile' });
  const group = await getSubscriptionGroup(db, organizationId, subscriptionGroupId);
  if (!group) return err({ type: 'not_found', resource: 'SubscriptionGroup' });
  const now = deps.clock.now();
  await setSubscriptionStatus(db, organizationId, id, group.id, status, source, now);
  return ok(toProfileSubscription(group, { organization_id: organizationId, profile_id: id, subscription_group_id: group.id, status, source, updated_at: now }));
}
