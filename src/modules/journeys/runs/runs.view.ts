/** The Run JSON (journeys.md §8): documented fields plus ours; steps with the step each one led to. */
import type { JourneyRunStatus } from '../../../db/tables.js';
import { toIso } from '../../../lib/clock.js';
import type { JourneyDefinition, JourneyStep } from '../definition/definition.js';
import type { RunRow, RunStepRow } from './runs.store.js';

export interface RunStepView {
  stepId: string;
  type: string;
  status: string;
  reason: string | null;
  enteredAt: string;
  dueAt: string | null;
  completedAt: string | null;
  next: string | null;
  outcome: unknown;
}

export interface RunView {
  runId: string;
  journeyId: string;
  journeyKey: string;
  version: number;
  versionId: string;
  profileId: string;
  workflowId: null;
  status: JourneyRunStatus;
  entry: Record<string, unknown>;
  triggeredAt: string;
  completedAt: string | null;
  error: string | null;
  exitReason: string | null;
  /** The event that ended the run through `exitOn` (exitReason `exit_event`), else null. */
  exitEventId: string | null;
  currentStepId: string | null;
  steps?: RunStepView[];
}

export type RunWithJourney = RunRow & { journey_key: string; version_number: number };

export function toRunView(row: RunWithJourney): RunView {
  const entry = JSON.parse(row.entry) as Record<string, unknown>;
  return {
    runId: row.id,
    journeyId: row.journey_id,
    journeyKey: row.journey_key,
    version: row.version_number,
    versionId: row.version_id,
    profileId: row.profile_id,
    workflowId: null,
    status: row.status,
    entry: entry.type === 'api' ? { type: 'api', variables: JSON.parse(row.variables) as unknown } : entry,
    triggeredAt: toIso(row.created_at),
    completedAt: row.finished_at === null ? null : toIso(row.finished_at),
    error: row.error,
    exitReason: row.exit_reason,
    exitEventId: row.exit_event_id,
    currentStepId: row.current_step_id,
  };
}

/** The step the run continued to after this one; null while it is open, when it ended the run, or when the run left it early. */
function nextOf(row: RunStepRow, step: JourneyStep | undefined, outcome: unknown): string | null {
  if (step === undefined || (row.status !== 'completed' && row.status !== 'skipped') || row.reason === 'run_exited') return null;
  switch (step.type) {
    case 'branch':
      return (outcome as { branch?: string } | null)?.branch === 'then' ? step.then : step.else;
    case 'wait_for_event':
      return row.reason === 'event_received' ? step.onEvent : row.reason === 'timed_out' ? step.onTimeout : null;
    case 'exit':
      return null;
    default:
      return step.next ?? null;
  }
}

export function toRunStepView(row: RunStepRow, definition: JourneyDefinition): RunStepView {
  const outcome: unknown = row.outcome === null ? null : JSON.parse(row.outcome);
  return {
    stepId: row.step_id,
    type: row.type,
    status: row.status,
    reason: row.reason,
    enteredAt: toIso(row.entered_at),
    dueAt: row.due_at === null ? null : toIso(row.due_at),
    completedAt: row.completed_at === null ? null : toIso(row.completed_at),
    next: nextOf(row, definition.steps[row.step_id], outcome),
    outcome,
  };
}

export interface EntryDecisionView {
  id: string;
  journeyId: string;
  versionId: string;
  profileId: string;
  eventId: string | null;
  outcome: 'enrolled' | 'skipped';
  reason: string | null;
  runId: string | null;
  decidedAt: string;
}
