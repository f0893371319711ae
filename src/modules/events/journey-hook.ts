/**
 * The seam between events.track and journeys (events.md §6 step 4–5): evaluated inside the same
 * transaction that stores the event, with the stored (redacted) event and the Profile after its
 * properties were applied. The journeys module provides the real evaluator; until then no
 * journey exists and every count is zero.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../../db/tables.js';

export interface TrackedEventContext {
  organizationId: string;
  profileId: string;
  eventId: string;
  event: string;
  data: Record<string, unknown>;
  occurredAt: number;
}

export interface JourneyEvaluation {
  matchedJourneys: number;
  enrolledJourneys: number;
  skippedJourneys: number;
}

export interface JourneyEvaluator {
  evaluateEvent(trx: Transaction<Database>, event: TrackedEventContext): Promise<JourneyEvaluation>;
}

export const noJourneys: JourneyEvaluator = {
  evaluateEvent: async () => ({ matchedJourneys: 0, enrolledJourneys: 0, skippedJourneys: 0 }),
};
