/**
 * What each step type does when entered (journeys.md §2, §6.3, §6.4) and how a waiting step
 * ends. Executors perform the step's database effects in the caller's transaction and return
 * the step's outcome; recording the step row and moving the run on is the engine's job
 * (./step-engine.ts). Expected refusals (a gate, an archived template) are outcomes; anything
 * thrown is unexpected and retried by the job runner.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../db/tables.js';
import { parseDuration } from '../../../lib/duration.js';
import { toIso } from '../../../lib/clock.js';
import { createEmailSend, type SendError } from '../../emails/emails.service.js';
import { applyProperties } from '../../profiles/profiles.service.js';
import { selectProfile } from '../../profiles/profiles.store.js';
import { evaluateCondition, readPointer } from '../definition/condition.js';
import { delayDue } from '../definition/delay.js';
import type { BranchStep, DelayStep, JourneyStep, SendEmailStep, UpdateProfileStep, WaitForEventStep } from '../definition/definition.js';
import { candidateMatches } from './evaluator.js';
import type { JobDeps } from './lifecycle.js';
import { addRoot, conditionRoots, isStateReference, loadRunState, type StateDeps } from './run-state.js';
import { insertWait, selectCandidateEvents, settleWait, type RunRow, type RunStepRow } from './runs.store.js';

/** A wait_for_event step re-checks stored events this long after entry (see `enterWaitForEvent`). */
export const WAIT_RECHECK_MS = 5_000;
const CANDIDATE_BATCH = 200;

export interface StepDeps extends JobDeps, StateDeps {
  publicUrl: string;
  /** The emails service; replaceable so tests can simulate a crash right after the send was created. */
  sendEmail: typeof createEmailSend;
}

export type FinishedStep = { status: 'completed' | 'skipped'; reason: string | null; outcome: unknown; next: string | null };
export type StepResult = FinishedStep | { status: 'waiting'; reason: null; outcome: unknown; dueAt: number; timers: { runAt: number; kind: 'due' | 'recheck' }[] };

type Run = RunRow;

/** Executes `step` entered at `enteredAt` (≤ now). */
export async function enterStep(db: Kysely<Database>, deps: StepDeps, run: Run, stepId: string, step: JourneyStep, enteredAt: number): Promise<StepResult> {
  switch (step.type) {
    case 'send_email':
      return sendEmail(db, deps, run, stepId, step);
    case 'delay':
      return enterDelay(db, deps, run, step);
    case 'wait_for_event':
      return enterWaitForEvent(db, deps, run, stepId, step, enteredAt);
    case 'branch':
      return branch(db, deps, run, step);
    case 'update_profile':
      return updateProfile(db, deps, run, step);
    case 'exit':
      return { status: 'completed', reason: null, outcome: null, next: null };
  }
}

const SKIPPING_SEND_ERRORS: Record<string, string> = {
  template_archived: 'template_archived',
  template_not_published: 'template_not_published',
  sender_not_verified: 'sender_not_verified',
  // A reply-to or sender that is no longer on a verified Domain: the sender rules fail.
  reply_to_not_allowed: 'sender_not_verified',
  sender_mismatch: 'sender_not_verified',
};

/**
 * The step reason (§6.3) for a send the emails service refused, or null when the refusal is not
 * one a send_email step skips over. Shared with the simulator, so both skip for the same reasons.
 */
export function sendSkipReason(error: SendError): string | null {
  // The template was deleted; a missing group cannot have this Profile subscribed; a missing sender fails the sender rules.
  if (error.type === 'reference_not_found') return error.pointers.includes('/templateId') ? 'template_missing' : error.pointers.includes('/subscriptionGroupId') ? 'not_subscribed' : 'sender_not_verified';
  return SKIPPING_SEND_ERRORS[error.type] ?? null;
}

async function sendEmail(db: Kysely<Database>, deps: StepDeps, run: Run, stepId: string, step: SendEmailStep): Promise<StepResult> {
  const next = step.next ?? null;
  const state = await loadRunState(db, deps, run, new Set(['event', 'variables', 'waited']));
  const result = await deps.sendEmail(
    db,
    deps,
    run.organization_id,
    {
      templateId: step.templateId,
      profileId: run.profile_id,
      ...(step.subscriptionGroupId !== undefined ? { subscriptionGroupId: step.subscriptionGroupId } : {}),
      ...(step.senderProfileId !== undefined ? { senderProfileId: step.senderProfileId } : {}),
      cc: [],
      bcc: [],
      data: {},
      trackClicks: false,
    },
    {
      source: 'journey',
      requireTransactional: false,
      sendKey: `journey-run:${run.id}:${stepId}`,
      journeyId: run.journey_id,
      journeyRunId: run.id,
      event: state.event as Record<string, unknown>,
      variables: state.variables as Record<string, unknown>,
      waited: state.waited as Record<string, unknown>,
    },
  );
  if (result.ok) {
    const send = result.value;
    if (send.status === 'Skipped') return { status: 'skipped', reason: send.failureReason ?? 'not_subscribed', outcome: { emailSendId: send.id }, next };
    return { status: 'completed', reason: null, outcome: { emailSendId: send.id }, next };
  }
  const reason = sendSkipReason(result.error);
  if (reason === null) throw new Error(`send_email step ${stepId}: the send was refused (${result.error.type})`);
  return { status: 'skipped', reason, outcome: { emailSendId: null }, next };
}

async function enterDelay(db: Kysely<Database>, deps: StepDeps, run: Run, step: DelayStep): Promise<StepResult> {
  const next = step.next ?? null;
  const untilValue = step.until === undefined ? undefined : readPointer(await loadRunState(db, deps, run, addRoot(step.until, new Set())), step.until).value;
  const due = delayDue(step, deps.clock.now(), untilValue);
  if (due.kind === 'until_invalid') return { status: 'completed', reason: 'until_invalid', outcome: { until: null }, next };
  if (due.kind === 'until_past') return { status: 'completed', reason: 'until_past', outcome: { until: toIso(due.due) }, next };
  return { status: 'waiting', reason: null, outcome: { until: toIso(due.due) }, dueAt: due.due, timers: [{ runAt: due.due, kind: 'due' }] };
}

/**
 * Registers the wait (found by events.track of this Profile from now on) and looks at the
 * Profile's events of that name stored since the step was entered: those committed before the
 * wait row existed were not matched by their own transaction. A PostgreSQL transaction storing
 * such an event may still be in flight while this one reads, so the check is repeated shortly
 * after (the `recheck` timer) and once more at the deadline, before timing out.
 */
async function enterWaitForEvent(db: Kysely<Database>, deps: StepDeps, run: Run, stepId: string, step: WaitForEventStep, enteredAt: number): Promise<StepResult> {
  const now = deps.clock.now();
  const timeout = parseDuration(step.timeout);
  if (timeout === null) throw new Error(`wait_for_event timeout ${step.timeout} is not a Duration`);
  const deadline = enteredAt + timeout;
  const matched = await findCandidate(db, deps, run, step, enteredAt, Math.min(now, deadline));
  if (matched !== null) return { status: 'completed', reason: 'event_received', outcome: { matchedEventId: matched }, next: step.onEvent };
  if (now >= deadline) return { status: 'completed', reason: 'timed_out', outcome: { matchedEventId: null }, next: step.onTimeout };
  await insertWait(db, { run_id: run.id, step_id: stepId, organization_id: run.organization_id, profile_id: run.profile_id, event: step.event, status: 'waiting', entered_at: enteredAt, deadline });
  const timers: { runAt: number; kind: 'due' | 'recheck' }[] = [{ runAt: deadline, kind: 'due' }];
  if (now + WAIT_RECHECK_MS < deadline) timers.push({ runAt: now + WAIT_RECHECK_MS, kind: 'recheck' });
  return { status: 'waiting', reason: null, outcome: { matchedEventId: null }, dueAt: deadline, timers };
}

/** The first stored event of the Profile with the step's name, received in [from, to], that satisfies the filter. */
async function findCandidate(db: Kysely<Database>, deps: StepDeps, run: Run, step: WaitForEventStep, from: number, to: number): Promise<string | null> {
  let cursor = from;
  const seen = new Set<string>();
  for (;;) {
    const events = await selectCandidateEvents(db, { organizationId: run.organization_id, profileId: run.profile_id, event: step.event, from: cursor, to, limit: CANDIDATE_BATCH });
    for (const e of events) {
      if (seen.has(e.id) || e.id === run.event_id) continue;
      seen.add(e.id);
      if (await candidateMatches(db, deps, run, step, JSON.parse(e.data) as Record<string, unknown>)) return e.id;
    }
    if (events.length < CANDIDATE_BATCH) return null;
    cursor = events.at(-1)!.received_at;
  }
}

/**
 * A timer of a waiting step fired (or a held job found it waiting): a delay completes once due;
 * a wait completes with a stored candidate, or at its deadline. Null: nothing to do yet, or the
 * other side of the race already settled it.
 */
export async function resumeWaitingStep(db: Kysely<Database>, deps: StepDeps, run: Run, row: RunStepRow, step: JourneyStep): Promise<FinishedStep | null> {
  const now = deps.clock.now();
  const due = row.due_at ?? now;
  if (step.type === 'delay') {
    if (now < due) return null;
    return { status: 'completed', reason: 'delay_elapsed', outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as unknown), next: step.next ?? null };
  }
  if (step.type !== 'wait_for_event') throw new Error(`step ${row.step_id} of type ${step.type} cannot be waiting`);
  const matched = await findCandidate(db, deps, run, step, row.entered_at, Math.min(now, due));
  if (matched !== null) {
    if (!(await settleWait(db, run.id, row.step_id, 'matched'))) return null;
    return { status: 'completed', reason: 'event_received', outcome: { matchedEventId: matched }, next: step.onEvent };
  }
  if (now < due) return null;
  if (!(await settleWait(db, run.id, row.step_id, 'timed_out'))) return null;
  return { status: 'completed', reason: 'timed_out', outcome: { matchedEventId: null }, next: step.onTimeout };
}

async function branch(db: Kysely<Database>, deps: StepDeps, run: Run, step: BranchStep): Promise<StepResult> {
  const state = await loadRunState(db, deps, run, conditionRoots(step.condition));
  const taken = evaluateCondition(step.condition, state) ? 'then' : 'else';
  return { status: 'completed', reason: null, outcome: { branch: taken }, next: step[taken] };
}

async function updateProfile(db: Kysely<Database>, deps: StepDeps, run: Run, step: UpdateProfileStep): Promise<StepResult> {
  const roots = new Set<string>();
  for (const value of Object.values(step.properties)) if (isStateReference(value)) addRoot(value.$state, roots);
  const state = roots.size > 0 ? await loadRunState(db, deps, run, roots) : {};
  const properties: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const skippedKeys: string[] = [];
  for (const [key, value] of Object.entries(step.properties)) {
    if (!isStateReference(value)) {
      properties[key] = value;
      continue;
    }
    const read = readPointer(state, value.$state);
    if (read.found) properties[key] = read.value;
    else skippedKeys.push(key);
  }
  const profile = await selectProfile(db, run.organization_id, run.profile_id);
  if (!profile) throw new Error(`the Profile of run ${run.id} no longer exists`);
  const written = await applyProperties(db, deps, profile, { properties, source: 'journey.update_profile', updatedAt: deps.clock.now(), eventId: null });
  for (const key of Object.keys(properties)) if (!written.includes(key)) skippedKeys.push(key);
  return { status: 'completed', reason: null, outcome: { properties: written, skippedKeys }, next: step.next ?? null };
}
