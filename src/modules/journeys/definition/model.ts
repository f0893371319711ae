/**
 * The journey definition (journeys.md §2) as TypeScript types, with the constants that describe
 * it and the step graph's edges. A value of these types has passed `validateDefinitionStructure`;
 * nothing here checks anything.
 */
import type { Condition, StateReference } from './condition.js';

export const STEP_ID_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';
export const MAX_STEPS = 200;
export const MAX_EXIT_ON = 20;
export const MAX_UPDATE_PROPERTIES = 50;
export const MAX_ACTIVE_RUNS_PER_PROFILE = 100;

export interface EventEntry {
  type: 'event';
  /** Event name, 1–255 characters, case-sensitive. */
  event: string;
  /** Roots `/event`, `/profile`; false → entry decision `skipped`, reason `filter_false`. */
  filter?: Condition;
}

export interface ApiEntry {
  type: 'api';
}

export type JourneyEntry = EventEntry | ApiEntry;

export const RE_ENTRY_POLICIES = ['always', 'once', 'after_exit', 'once_per_key'] as const;
export type ReEntryPolicy = (typeof RE_ENTRY_POLICIES)[number];

export interface Eligibility {
  reEntry: ReEntryPolicy;
  /** Only with `once_per_key`: root `/event` (event entry) or `/variables` (API entry). */
  key?: string;
  /** 1–100 `queued`/`running` runs per Profile. */
  maxActiveRunsPerProfile?: number;
}

export interface ExitOn {
  event: string;
  /** Roots `/event`, `/profile`, `/variables`, `/waited`, `/candidate`. */
  filter?: Condition;
}

export interface SendEmailStep {
  type: 'send_email';
  templateId: string;
  /** Required when the template's purpose is not `Transactional`. */
  subscriptionGroupId?: string;
  senderProfileId?: string;
  next?: string;
}

/** Waits `duration` (a Duration). */
export interface DelayForStep {
  type: 'delay';
  duration: string;
  until?: never;
  offset?: never;
  next?: string;
}

/** Waits until the instant at pointer `until` (ISO date-time or `YYYY-MM-DD` at 00:00 UTC), shifted by `offset`. */
export interface DelayUntilStep {
  type: 'delay';
  duration?: never;
  until: string;
  /** A Duration with an optional leading `-`. */
  offset?: string;
  next?: string;
}

export type DelayStep = DelayForStep | DelayUntilStep;

export interface WaitForEventStep {
  type: 'wait_for_event';
  event: string;
  /** `/candidate` is the event being tested. */
  filter?: Condition;
  /** A Duration, at least `PT1S`. */
  timeout: string;
  onEvent: string;
  onTimeout: string;
}

export interface BranchStep {
  type: 'branch';
  condition: Condition;
  then: string;
  else: string;
}

/** A property value: literal JSON, or read from the run state. */
export type PropertyValue = StateReference | unknown;

export interface UpdateProfileStep {
  type: 'update_profile';
  /** 1–50 property keys, each a literal JSON value or `{ "$state": pointer }`. */
  properties: Record<string, PropertyValue>;
  next?: string;
}

export interface ExitStep {
  type: 'exit';
}

export type JourneyStep = SendEmailStep | DelayStep | WaitForEventStep | BranchStep | UpdateProfileStep | ExitStep;
export type StepType = JourneyStep['type'];
export const STEP_TYPES: readonly StepType[] = ['send_email', 'delay', 'wait_for_event', 'branch', 'update_profile', 'exit'];

export interface JourneyDefinition {
  entry: JourneyEntry;
  /** Default `{ "reEntry": "always" }`. */
  eligibility?: Eligibility;
  exitOn?: ExitOn[];
  start: string;
  steps: Record<string, JourneyStep>;
}

/** The fields of a step that name another step. */
export type StepLinkField = 'next' | 'then' | 'else' | 'onEvent' | 'onTimeout';

export interface StepLink {
  field: StepLinkField;
  target: string;
}

/** The outgoing edges of `step`, in field order; a step without `next` (or `exit`) has none. */
export function stepLinks(step: JourneyStep): StepLink[] {
  switch (step.type) {
    case 'branch':
      return [
        { field: 'then', target: step.then },
        { field: 'else', target: step.else },
      ];
    case 'wait_for_event':
      return [
        { field: 'onEvent', target: step.onEvent },
        { field: 'onTimeout', target: step.onTimeout },
      ];
    case 'exit':
      return [];
    default:
      return step.next === undefined ? [] : [{ field: 'next', target: step.next }];
  }
}

/** The eligibility in force: the given one, or the default `{ reEntry: "always" }`. */
export function eligibilityOf(definition: JourneyDefinition): Eligibility {
  return definition.eligibility ?? { reEntry: 'always' };
}
