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
  /**
   * Whether events of these names for these Profiles could touch any journey (an Active journey
   * entered by one of the names, a live run or a wait of one of the Profiles). When it answers
   * false, `evaluateEvent` would write nothing and count zeros for every one of them, and
   * nothing it skips could make a later one of them touch a journey.
   */
  mayTouch(trx: Transaction<Database>, organizationId: string, events: string[], profileIds: string[]): Promise<boolean>;
}

export const noJourneys: JourneyEvaluator = {
  evaluateEvent: async () => ({ matchedJourneys: 0, enrolledJourneys: 0, skippedJourneys: 0 }),
  mayTouch: async () => false,
};
