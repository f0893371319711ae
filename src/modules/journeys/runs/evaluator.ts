/**
 * The journeys side of events.track (events.md §6 steps 4–5), run inside the transaction that
 * stores the event:
 *
 * 1. Entry (journeys.md §5) for each Active journey whose entry event is this name — found
 *    through the entry-event index, so journeys of other events cost nothing: filter, eligibility,
 *    enrollment, and an entry decision row per matched journey.
 * 2. Exits: this Profile's live runs (started before this event) whose version's `exitOn`
 *    matches become `exited` (§6.5).
 * 3. Waits: this Profile's `wait_for_event` steps waiting for this name whose filter matches are
 *    resumed (§6.4); the conditional update of the wait row makes the event or the deadline win,
 *    never both.
 *
 * Exits run before waits so a run that this event ends is not also resumed by it. The three
 * candidate sets are read in one statement (`selectEventTouchpoints`): with no journey in play
 * that single round trip is all an event costs (about one PostgreSQL round trip, ~20–30 µs on
 * SQLite, measured in-process against the no-journeys evaluator).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../../db/tables.js';
import type { JourneyEvaluation, JourneyEvaluator, TrackedEventContext } from '../../events/journey-hook.js';
import { evaluateCondition } from '../definition/condition.js';
import type { WaitForEventStep } from '../definition/definition.js';
import { decideEligibility, enrollRun, recordEntryDecision, type EntryRequest } from './entry.js';
import { enqueueStep, exitRun, timerJobKey, type JobDeps } from './lifecycle.js';
import { conditionRoots, loadRunState, profileState, type RunState, type StateDeps } from './run-state.js';
import {
  anyEventTouchpoint,
  cancelQueuedJobs,
  finishWaitingStep,
  lockRun,
  selectEventTouchpoints,
  selectRun,
  settleWait,
  updateRun,
  type EventTouchpoints,
} from './runs.store.js';
import { loadVersion } from './versions.js';

export type EvaluatorDeps = JobDeps & StateDeps;

export function createJourneyEvaluator(deps: EvaluatorDeps): JourneyEvaluator {
  return {
    async evaluateEvent(trx: Transaction<Database>, event: TrackedEventContext): Promise<JourneyEvaluation> {
      const touchpoints = await selectEventTouchpoints(trx, event.organizationId, event.profileId, event.event);
      const counts = await enrollMatchingJourneys(trx, deps, event, touchpoints.journeys);
      await exitRunsOnEvent(trx, deps, event, touchpoints.liveRuns, counts.enrolledRunIds);
      await resumeWaitingRuns(trx, deps, event, touchpoints.waits);
      return { matchedJourneys: counts.matched, enrolledJourneys: counts.enrolled, skippedJourneys: counts.matched - counts.enrolled };
    },
    mayTouch: (trx, organizationId, events, profileIds) => anyEventTouchpoint(trx, organizationId, events, profileIds),
  };
}

export async function enrollMatchingJourneys(
  db: Kysely<Database>,
  deps: EvaluatorDeps,
  event: TrackedEventContext,
  journeys: EventTouchpoints['journeys'],
): Promise<{ matched: number; enrolled: number; enrolledRunIds: Set<string> }> {
  const enrolledRunIds = new Set<string>();
  let matched = 0;
  let profile: RunState | null = null;
  for (const journey of journeys) {
    const version = await loadVersion(db, journey.versionId);
    const entry = version.definition.entry;
    // The index column follows the latest version; the definition is the authority.
    if (entry.type !== 'event' || entry.event !== event.event) continue;
    matched++;
    const request: EntryRequest = {
      organizationId: event.organizationId,
      journeyId: journey.id,
      version,
      profileId: event.profileId,
      entry: { type: 'event', event: event.event, eventId: event.eventId },
      entryData: event.data,
      variables: {},
    };
    if (entry.filter !== undefined) {
      if (profile === null && conditionRoots(entry.filter).has('profile')) profile = await profileState(db, deps, event.organizationId, event.profileId);
      if (!evaluateCondition(entry.filter, { event: event.data, profile: profile ?? {} })) {
        await recordEntryDecision(db, deps, request, { outcome: 'skipped', reason: 'filter_false' });
        continue;
      }
    }
    const runId = deps.ids();
    const eligibility = await decideEligibility(db, deps, request, runId);
    if (!eligibility.eligible) {
      await recordEntryDecision(db, deps, request, { outcome: 'skipped', reason: eligibility.rule });
      continue;
    }
    await enrollRun(db, deps, request, runId, eligibility.entryKey);
    await recordEntryDecision(db, deps, request, { outcome: 'enrolled', runId });
    enrolledRunIds.add(runId);
  }
  return { matched, enrolled: enrolledRunIds.size, enrolledRunIds };
}

/** Live runs of the Profile whose version exits on this event (with a true filter) become `exited`. */
async function exitRunsOnEvent(
  db: Kysely<Database>,
  deps: EvaluatorDeps,
  event: TrackedEventContext,
  liveRuns: EventTouchpoints['liveRuns'],
  startedNow: ReadonlySet<string>,
): Promise<void> {
  for (const live of liveRuns) {
    // Only events stored after the run started: not the run's own trigger, not runs this event started.
    if (startedNow.has(live.id) || live.eventId === event.eventId) continue;
    const { definition } = await loadVersion(db, live.versionId);
    const exits = (definition.exitOn ?? []).filter((e) => e.event === event.event);
    if (exits.length === 0) continue;
    let matches = exits.some((e) => e.filter === undefined);
    if (!matches) {
      const run = await selectRun(db, event.organizationId, live.id);
      if (!run) continue;
      const roots = new Set<string>();
      for (const e of exits) if (e.filter !== undefined) conditionRoots(e.filter, roots);
      const state = { ...(await loadRunState(db, deps, run, roots)), candidate: event.data };
      matches = exits.some((e) => e.filter !== undefined && evaluateCondition(e.filter, state));
    }
    if (matches) await exitRun(db, deps, live.id, 'exit_event', event.eventId);
  }
}

async function resumeWaitingRuns(db: Kysely<Database>, deps: EvaluatorDeps, event: TrackedEventContext, waits: EventTouchpoints['waits']): Promise<void> {
  const now = deps.clock.now();
  for (const wait of waits) {
    // Past its deadline the wait belongs to its timer, even if the timer job has not run yet.
    if (now > wait.deadline) continue;
    // Run before wait row, the order the step job takes them in, so the two never deadlock.
    const run = await lockRun(db, wait.runId);
    if (!run || run.status !== 'running' || run.event_id === event.eventId) continue;
    const { definition } = await loadVersion(db, run.version_id);
    const step = definition.steps[wait.stepId];
    if (step?.type !== 'wait_for_event') continue;
    if (!(await candidateMatches(db, deps, run, step, event.data))) continue;
    await completeWaitWithEvent(db, deps, run, wait.stepId, step, event.eventId);
  }
}

/** Whether `candidate` (an event's stored data) satisfies the wait's filter for this run. */
export async function candidateMatches(
  db: Kysely<Database>,
  deps: StateDeps,
  run: Parameters<typeof loadRunState>[2],
  step: WaitForEventStep,
  candidate: Record<string, unknown>,
): Promise<boolean> {
  if (step.filter === undefined) return true;
  const state = { ...(await loadRunState(db, deps, run, conditionRoots(step.filter))), candidate };
  return evaluateCondition(step.filter, state);
}

/**
 * Settles the wait in favour of the event; false when the deadline (or an exit) got there first.
 * The run continues at `onEvent` through its own job.
 */
export async function completeWaitWithEvent(
  db: Kysely<Database>,
  deps: JobDeps,
  run: { id: string; organization_id: string },
  stepId: string,
  step: WaitForEventStep,
  eventId: string,
): Promise<boolean> {
  if (!(await settleWait(db, run.id, stepId, 'matched'))) return false;
  const now = deps.clock.now();
  await finishWaitingStep(db, run.id, stepId, { status: 'completed', reason: 'event_received', outcome: JSON.stringify({ matchedEventId: eventId }), completed_at: now });
  await updateRun(db, run.id, { current_step_id: step.onEvent, updated_at: now });
  await enqueueStep(db, deps, run, step.onEvent);
  await cancelQueuedJobs(db, [timerJobKey(run.id, stepId, 'due'), timerJobKey(run.id, stepId, 'recheck')], now);
  return true;
}
