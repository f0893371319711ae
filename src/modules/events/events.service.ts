/**
 * events.track (events.md): resolve or create the Profile, apply its properties, store the
 * redacted UserEvent and evaluate journeys — all inside the caller's transaction, so the 202 is
 * sent only once everything is committed together. Input arrives validated and already redacted.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { applyProperties, resolveProfile, type ResolveError } from '../profiles/profiles.service.js';
import { insertUserEvent, type UserEventRow } from './events.store.js';
import type { JourneyEvaluation, JourneyEvaluator } from './journey-hook.js';

export interface TrackInput {
  organizationId: string;
  event: string;
  /** Canonical email. */
  email?: string;
  externalId?: string;
  properties?: Record<string, unknown>;
  /** Event data with redactedPaths already removed. */
  data: Record<string, unknown>;
  redactedPaths: string[];
  referenceId: string | null;
  occurredAt: number;
  receivedAt: number;
}

export interface TrackResult extends JourneyEvaluation {
  eventId: string;
  profileId: string;
}

export type TrackError = ResolveError;

export interface TrackDeps {
  clock: Clock;
  ids: IdGenerator;
  journeys: JourneyEvaluator;
}

export async function trackEvent(trx: Transaction<Database>, deps: TrackDeps, input: TrackInput): Promise<Result<TrackResult, TrackError>> {
  const identity = {
    ...(input.email !== undefined ? { email: input.email } : {}),
    ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
  };
  const resolved = await resolveProfile(trx, deps, input.organizationId, identity, 'api', input.properties?.phone);
  if (!resolved.ok) return err(resolved.error);
  const { profile, created } = resolved.value;
  const eventId = deps.ids();
  if (input.properties !== undefined) {
    await applyProperties(trx, deps, profile, {
      properties: input.properties,
      source: 'events.track',
      updatedAt: input.occurredAt,
      eventId,
    }, created);
  }
  await insertUserEvent(trx, trackedEventRow(input, profile.id, eventId));
  const journeys = await deps.journeys.evaluateEvent(trx, {
    organizationId: input.organizationId,
    profileId: profile.id,
    eventId,
    event: input.event,
    data: input.data,
    occurredAt: input.occurredAt,
  });
  return ok({ eventId, profileId: profile.id, ...journeys });
}

/** The UserEvent row of a tracked event. */
export function trackedEventRow(input: TrackInput, profileId: string, eventId: string): UserEventRow {
  return {
    id: eventId,
    organization_id: input.organizationId,
    profile_id: profileId,
    type: 'track',
    event: input.event,
    data: JSON.stringify(input.data),
    redacted_paths: JSON.stringify(input.redactedPaths),
    reference_id: input.referenceId,
    occurred_at: input.occurredAt,
    received_at: input.receivedAt,
    source: 'events.track',
    message_id: null,
    user_id: null,
    anonymous_id: null,
    context: null,
  };
}

export interface UserEventView {
  id: string;
  type: string;
  event: string | null;
  profileId: string | null;
  data: Record<string, unknown>;
  redactedPaths: string[];
  referenceId: string | null;
  occurredAt: string;
  receivedAt: string;
  source: string;
  messageId: string | null;
  userId: string | null;
  anonymousId: string | null;
  context: Record<string, unknown> | null;
}

export function toUserEventView(row: UserEventRow): UserEventView {
  return {
    id: row.id,
    type: row.type,
    event: row.event,
    profileId: row.profile_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    redactedPaths: JSON.parse(row.redacted_paths) as string[],
    referenceId: row.reference_id,
    occurredAt: toIso(row.occurred_at),
    receivedAt: toIso(row.received_at),
    source: row.source,
    messageId: row.message_id,
    userId: row.user_id,
    anonymousId: row.anonymous_id,
    context: row.context === null ? null : (JSON.parse(row.context) as Record<string, unknown>),
  };
}
