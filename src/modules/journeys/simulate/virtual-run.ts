/**
 * The simulator's run walk (journeys.md §9): one run of a definition on a virtual clock, with the
 * step semantics of the real engine (../runs/steps.ts, ../runs/evaluator.ts) but no storage.
 * Instant steps happen at the current virtual time; a delay or a wait moves the clock to its due
 * time or to the next supplied event, whichever comes first. Events are applied in time order:
 * `exitOn` first (as events.track does), then the waiting step's filter with `/candidate`. An
 * event at exactly a delay's due time is left for the step that follows, so a wait entered then
 * still sees it (the real wait looks at events received since its entry, inclusive).
 *
 * Sends are delegated to `ports.sendEmail`, the only part that reads the database.
 */
import { parseDuration } from '../../../lib/duration.js';
import { toIso } from '../../../lib/clock.js';
import { evaluateCondition, readPointer } from '../definition/condition.js';
import { delayDue } from '../definition/delay.js';
import { eligibilityOf, entryKeyText, type JourneyDefinition, type JourneyStep, type SendEmailStep } from '../definition/definition.js';
import { isStateReference } from '../runs/run-state.js';

export const MAX_STEP_EXECUTIONS = 1000;
/** Keys of the `/profile` view that are built-in fields; a property of that name never shows. */
const BUILT_IN_PROFILE_KEYS = new Set(['id', 'email', 'externalId', 'phone', 'createdAt']);

/**
 * Writes properties into a `/profile` view as the real write shows them: a property named like a
 * built-in field never shows, except that `phone` mirrors a string property named `phone`
 * (events.md §4), and a non-string one clears it.
 */
export function applyProperties(profile: Record<string, unknown>, properties: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(properties)) {
    if (!BUILT_IN_PROFILE_KEYS.has(key)) profile[key] = value;
    else if (key === 'phone') profile.phone = typeof value === 'string' ? value : null;
  }
}

export interface SimulatedEvent {
  /** Index in the request's `events` array. */
  index: number;
  at: number;
  event: string;
  data: Record<string, unknown>;
}

export interface SimulatedEmail {
  stepId: string;
  at: string;
  templateId: string;
  templateSnapshotId: string | null;
  subject: string | null;
  to: string | null;
  skipReason: string | null;
}

export interface PathEntry {
  stepId: string;
  type: JourneyStep['type'];
  status: 'completed' | 'skipped' | 'waiting';
  reason: string | null;
  enteredAt: string;
  completedAt: string | null;
  outcome: unknown;
}

export interface SimulationResult {
  enrolled: boolean;
  skipReason: string | null;
  status: 'running' | 'completed' | 'exited' | null;
  endedAt: string | null;
  path: PathEntry[];
  emails: SimulatedEmail[];
  profileUpdates: { stepId: string; at: string; properties: Record<string, unknown> }[];
}

export interface VirtualRunInput {
  definition: JourneyDefinition;
  triggerAt: number;
  until: number;
  /** `/event` (`{}` for API entry), `/variables`, `/profile` at entry. */
  event: Record<string, unknown>;
  variables: Record<string, unknown>;
  profile: Record<string, unknown>;
  /** Sorted by `at` (stable). */
  events: SimulatedEvent[];
}

export interface VirtualRunPorts {
  /** What the send step would produce for this state; reads only. */
  sendEmail(stepId: string, step: SendEmailStep, state: Record<string, unknown>, at: number): Promise<SimulatedEmail>;
}

export async function simulateRun(input: VirtualRunInput, ports: VirtualRunPorts): Promise<SimulationResult> {
  const { definition } = input;
  const profile: Record<string, unknown> = { ...input.profile };
  const waited: Record<string, unknown> = {};
  const state = (): Record<string, unknown> => ({ event: input.event, profile, variables: input.variables, waited });
  const result: SimulationResult = { enrolled: true, skipReason: null, status: 'running', endedAt: null, path: [], emails: [], profileUpdates: [] };

  if (definition.entry.type === 'event' && definition.entry.filter !== undefined) {
    if (!evaluateCondition(definition.entry.filter, { event: input.event, profile })) {
      return { ...result, enrolled: false, skipReason: 'filter_false', status: null };
    }
  }
  // Eligibility history is ignored (§9), but an entry key the trigger does not carry is a rule about the trigger itself.
  if (eligibilityOf(definition).reEntry === 'once_per_key') {
    const key = entryKeyText(definition, definition.entry.type === 'event' ? input.event : input.variables);
    if (!key.ok) return { ...result, enrolled: false, skipReason: key.reason, status: null };
  }

  let now = input.triggerAt;
  let pending = 0; // next unapplied event in input.events
  let stepId: string | null = definition.start;
  let executions = 0;

  const exitMatches = (e: SimulatedEvent): boolean =>
    (definition.exitOn ?? []).some((x) => x.event === e.event && (x.filter === undefined || evaluateCondition(x.filter, { ...state(), candidate: e.data })));

  const finish = (status: 'completed' | 'exited', at: number): SimulationResult => {
    result.status = status;
    result.endedAt = toIso(at);
    return result;
  };

  while (stepId !== null) {
    if (executions >= MAX_STEP_EXECUTIONS) return result;
    executions++;
    const step: JourneyStep | undefined = definition.steps[stepId];
    if (step === undefined) throw new Error(`simulation: no step ${stepId}`);
    const enteredAt = now;
    const entry: PathEntry = { stepId, type: step.type, status: 'completed', reason: null, enteredAt: toIso(enteredAt), completedAt: null, outcome: null };
    result.path.push(entry);
    let next: string | null = null;
    // A step that waits: until `due`, events in [enteredAt, due] (a wait) or [enteredAt, due) (a delay) apply first.
    let waitUntil: { due: number; onDue: () => void; inclusive: boolean; onEvent?: (e: SimulatedEvent) => boolean } | null = null;

    switch (step.type) {
      case 'exit':
        break;
      case 'branch': {
        const taken: 'then' | 'else' = evaluateCondition(step.condition, state()) ? 'then' : 'else';
        entry.outcome = { branch: taken };
        next = step[taken];
        break;
      }
      case 'update_profile': {
        const properties: Record<string, unknown> = {};
        const skippedKeys: string[] = [];
        const current = state();
        for (const [key, value] of Object.entries(step.properties)) {
          if (!isStateReference(value)) properties[key] = value;
          else {
            const read = readPointer(current, value.$state);
            if (read.found) properties[key] = read.value;
            else skippedKeys.push(key);
          }
        }
        applyProperties(profile, properties);
        entry.outcome = { properties: Object.keys(properties), skippedKeys };
        result.profileUpdates.push({ stepId, at: toIso(now), properties });
        next = step.next ?? null;
        break;
      }
      case 'send_email': {
        const email = await ports.sendEmail(stepId, step, state(), now);
        result.emails.push(email);
        if (email.skipReason !== null) {
          entry.status = 'skipped';
          entry.reason = email.skipReason;
        }
        entry.outcome = { emailIndex: result.emails.length - 1 };
        next = step.next ?? null;
        break;
      }
      case 'delay': {
        next = step.next ?? null;
        const due = delayDue(step, now, step.until === undefined ? undefined : readPointer(state(), step.until).value);
        if (due.kind === 'until_invalid') {
          entry.reason = 'until_invalid';
          entry.outcome = { until: null };
          break;
        }
        entry.outcome = { until: toIso(due.due) };
        if (due.kind === 'until_past') {
          entry.reason = 'until_past';
          break;
        }
        waitUntil = { due: due.due, inclusive: false, onDue: () => (entry.reason = 'delay_elapsed') };
        break;
      }
      case 'wait_for_event': {
        const timeout = parseDuration(step.timeout);
        if (timeout === null) throw new Error(`wait_for_event timeout ${step.timeout} is not a Duration`);
        const currentStepId = stepId;
        entry.outcome = { matchedEventIndex: null };
        waitUntil = {
          due: enteredAt + timeout,
          inclusive: true,
          onDue: () => {
            entry.reason = 'timed_out';
            next = step.onTimeout;
          },
          onEvent: (e) => {
            if (e.event !== step.event) return false;
            if (step.filter !== undefined && !evaluateCondition(step.filter, { ...state(), candidate: e.data })) return false;
            entry.reason = 'event_received';
            entry.outcome = { matchedEventIndex: e.index };
            waited[currentStepId] = e.data;
            next = step.onEvent;
            return true;
          },
        };
        break;
      }
    }

    if (waitUntil !== null) {
      let settled = false;
      const horizon = Math.min(waitUntil.due, input.until);
      while (pending < input.events.length) {
        const e = input.events[pending]!;
        if (e.at > horizon || (e.at === waitUntil.due && !waitUntil.inclusive)) break;
        pending++;
        // Events before this step's entry were applied (or ignored) by earlier steps.
        if (e.at < enteredAt) continue;
        now = e.at;
        if (exitMatches(e)) {
          entry.status = 'skipped';
          entry.reason = 'run_exited';
          entry.completedAt = toIso(now);
          return finish('exited', now);
        }
        if (waitUntil.onEvent?.(e)) {
          settled = true;
          break;
        }
      }
      if (!settled) {
        if (waitUntil.due > input.until) {
          entry.status = 'waiting';
          entry.completedAt = null;
          return result;
        }
        now = waitUntil.due;
        waitUntil.onDue();
      }
    }
    entry.completedAt = toIso(now);
    if (next === null) return finish('completed', now);
    stepId = next;
  }
  return result;
}
