/**
 * Structure checks of a journey definition (journeys.md §4, answered with 400
 * `validation_failed`): types, required and unknown fields, step id pattern, sizes, uuids,
 * Duration and pointer syntax, Condition shape. Whether ids point anywhere, the graph, referenced
 * resources and pointer roots are semantics (semantics.ts). Pointers are relative to the
 * definition; the API prefixes `/definition`.
 */
import { parseDuration, parseSignedDuration } from '../../../lib/duration.js';
import { isUuid } from '../../../lib/ids.js';
import { statePointerProblem, validateCondition } from './condition.js';
import { at, isPlainObject, sortAndCap, type DefinitionError } from './errors.js';
import {
  MAX_ACTIVE_RUNS_PER_PROFILE,
  MAX_EXIT_ON,
  MAX_STEPS,
  MAX_UPDATE_PROPERTIES,
  RE_ENTRY_POLICIES,
  STEP_ID_PATTERN,
  STEP_TYPES,
  type StepType,
} from './model.js';

type Report = (pointer: string, message: string) => void;

const DEFINITION_FIELDS = ['entry', 'eligibility', 'exitOn', 'start', 'steps'];
const STEP_FIELDS: Record<StepType, readonly string[]> = {
  send_email: ['type', 'templateId', 'subscriptionGroupId', 'senderProfileId', 'next'],
  delay: ['type', 'duration', 'until', 'offset', 'next'],
  wait_for_event: ['type', 'event', 'filter', 'timeout', 'onEvent', 'onTimeout'],
  branch: ['type', 'condition', 'then', 'else'],
  update_profile: ['type', 'properties', 'next'],
  exit: ['type'],
};
const stepIdRegex = new RegExp(STEP_ID_PATTERN);
const MAX_EVENT_NAME = 255;
const MAX_PROPERTY_KEY = 255;
const MAX_PROPERTY_VALUE_BYTES = 32 * 1024;
const MIN_WAIT_TIMEOUT_MS = 1000;
const DURATION_SYNTAX = 'must be a Duration (PnW or P[nD][T[nH][nM][nS]], at most 400 days)';

/** Every structure error of `value` as a definition, sorted by pointer, at most 50. */
export function validateDefinitionStructure(value: unknown): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const report: Report = (pointer, message) => {
    errors.push({ pointer, message });
  };
  const condition = (c: unknown, pointer: string): void => {
    errors.push(...validateCondition(c, pointer, null));
  };
  if (!isPlainObject(value)) return [{ pointer: '', message: 'definition must be an object' }];
  rejectUnknown(value, '', DEFINITION_FIELDS, report);
  checkEntry(value.entry, report, condition);
  if (value.eligibility !== undefined) checkEligibility(value.eligibility, report);
  if (value.exitOn !== undefined) checkExitOn(value.exitOn, report, condition);
  if (value.start === undefined) report('/start', 'required');
  else checkStepRef(value.start, '/start', report);
  checkSteps(value.steps, report, condition);
  return sortAndCap(errors);
}

function checkEntry(entry: unknown, report: Report, condition: (c: unknown, p: string) => void): void {
  if (entry === undefined) return report('/entry', 'required');
  if (!isPlainObject(entry)) return report('/entry', 'must be {"type": "event", "event", "filter"?} or {"type": "api"}');
  if (entry.type === 'api') {
    for (const key of Object.keys(entry)) {
      if (key !== 'type') report(at('/entry', key), key === 'filter' || key === 'event' ? 'only allowed with an event entry' : 'unknown field');
    }
    return;
  }
  if (entry.type !== 'event') return report('/entry/type', 'must be "event" or "api"');
  rejectUnknown(entry, '/entry', ['type', 'event', 'filter'], report);
  checkEventName(entry.event, '/entry/event', report);
  if (entry.filter !== undefined) condition(entry.filter, '/entry/filter');
}

function checkEligibility(eligibility: unknown, report: Report): void {
  if (!isPlainObject(eligibility)) return report('/eligibility', 'must be an object');
  rejectUnknown(eligibility, '/eligibility', ['reEntry', 'key', 'maxActiveRunsPerProfile'], report);
  if (typeof eligibility.reEntry !== 'string' || !(RE_ENTRY_POLICIES as readonly string[]).includes(eligibility.reEntry)) {
    report('/eligibility/reEntry', `must be one of ${RE_ENTRY_POLICIES.join(', ')}`);
  }
  if (eligibility.key !== undefined) {
    const problem = statePointerProblem(eligibility.key, null);
    if (problem !== undefined) report('/eligibility/key', problem);
  }
  const max = eligibility.maxActiveRunsPerProfile;
  if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 1 && (max as number) <= MAX_ACTIVE_RUNS_PER_PROFILE)) {
    report('/eligibility/maxActiveRunsPerProfile', `must be an integer 1–${MAX_ACTIVE_RUNS_PER_PROFILE}`);
  }
}

function checkExitOn(exitOn: unknown, report: Report, condition: (c: unknown, p: string) => void): void {
  if (!Array.isArray(exitOn)) return report('/exitOn', 'must be an array');
  if (exitOn.length > MAX_EXIT_ON) report('/exitOn', `at most ${MAX_EXIT_ON} entries`);
  exitOn.forEach((item, i) => {
    const pointer = at('/exitOn', i);
    if (!isPlainObject(item)) return report(pointer, 'must be {"event", "filter"?}');
    rejectUnknown(item, pointer, ['event', 'filter'], report);
    checkEventName(item.event, at(pointer, 'event'), report);
    if (item.filter !== undefined) condition(item.filter, at(pointer, 'filter'));
  });
}

function checkSteps(steps: unknown, report: Report, condition: (c: unknown, p: string) => void): void {
  if (steps === undefined) return report('/steps', 'required');
  if (!isPlainObject(steps)) return report('/steps', 'must be an object of steps by id');
  const ids = Object.keys(steps);
  if (ids.length < 1 || ids.length > MAX_STEPS) report('/steps', `must have 1–${MAX_STEPS} steps`);
  for (const id of ids) {
    const pointer = at('/steps', id);
    if (!stepIdRegex.test(id)) report(pointer, `step id must match ${STEP_ID_PATTERN}`);
    checkStep(steps[id], pointer, report, condition);
  }
}

function checkStep(step: unknown, pointer: string, report: Report, condition: (c: unknown, p: string) => void): void {
  if (!isPlainObject(step)) return report(pointer, 'must be a step object');
  const type = step.type;
  if (typeof type !== 'string' || !(STEP_TYPES as readonly string[]).includes(type)) {
    return report(at(pointer, 'type'), `must be one of ${STEP_TYPES.join(', ')}`);
  }
  rejectUnknown(step, pointer, STEP_FIELDS[type as StepType], report);
  const field = (name: string): string => at(pointer, name);
  const optionalRef = (name: string): void => {
    if (step[name] !== undefined) checkStepRef(step[name], field(name), report);
  };
  const requiredRef = (name: string): void => {
    if (step[name] === undefined) report(field(name), 'required');
    else checkStepRef(step[name], field(name), report);
  };
  switch (type as StepType) {
    case 'send_email':
      checkUuid(step.templateId, field('templateId'), true, report);
      checkUuid(step.subscriptionGroupId, field('subscriptionGroupId'), false, report);
      checkUuid(step.senderProfileId, field('senderProfileId'), false, report);
      optionalRef('next');
      break;
    case 'delay':
      checkDelay(step, pointer, report);
      optionalRef('next');
      break;
    case 'wait_for_event': {
      checkEventName(step.event, field('event'), report);
      if (step.filter !== undefined) condition(step.filter, field('filter'));
      const timeout = typeof step.timeout === 'string' ? parseDuration(step.timeout) : null;
      if (step.timeout === undefined) report(field('timeout'), 'required');
      else if (timeout === null) report(field('timeout'), DURATION_SYNTAX);
      else if (timeout < MIN_WAIT_TIMEOUT_MS) report(field('timeout'), 'must be at least PT1S');
      requiredRef('onEvent');
      requiredRef('onTimeout');
      break;
    }
    case 'branch':
      if (step.condition === undefined) report(field('condition'), 'required');
      else condition(step.condition, field('condition'));
      requiredRef('then');
      requiredRef('else');
      break;
    case 'update_profile':
      checkProperties(step.properties, field('properties'), report);
      optionalRef('next');
      break;
    case 'exit':
      break;
  }
}

function checkDelay(step: Record<string, unknown>, pointer: string, report: Report): void {
  const hasDuration = step.duration !== undefined;
  const hasUntil = step.until !== undefined;
  if (hasDuration === hasUntil) report(pointer, 'a delay needs exactly one of duration or until');
  if (hasDuration && (typeof step.duration !== 'string' || parseDuration(step.duration) === null)) {
    report(at(pointer, 'duration'), DURATION_SYNTAX);
  }
  if (hasUntil) {
    const problem = statePointerProblem(step.until, null);
    if (problem !== undefined) report(at(pointer, 'until'), problem);
  }
  if (step.offset !== undefined) {
    if (!hasUntil) report(at(pointer, 'offset'), 'only allowed with until');
    else if (typeof step.offset !== 'string' || parseSignedDuration(step.offset) === null) {
      report(at(pointer, 'offset'), 'must be a Duration with an optional leading "-" (at most 400 days)');
    }
  }
}

function checkProperties(properties: unknown, pointer: string, report: Report): void {
  if (properties === undefined) return report(pointer, 'required');
  if (!isPlainObject(properties)) return report(pointer, 'must be an object of property values by key');
  const keys = Object.keys(properties);
  if (keys.length < 1 || keys.length > MAX_UPDATE_PROPERTIES) report(pointer, `must have 1–${MAX_UPDATE_PROPERTIES} keys`);
  for (const key of keys) {
    const p = at(pointer, key);
    const value = properties[key];
    if (key.length < 1 || [...key].length > MAX_PROPERTY_KEY) report(p, `property keys have 1–${MAX_PROPERTY_KEY} characters`);
    if (isPlainObject(value) && Object.hasOwn(value, '$state')) {
      for (const k of Object.keys(value)) if (k !== '$state') report(at(p, k), 'unknown field (a {"$state": pointer} value has no other fields)');
      const problem = statePointerProblem(value.$state, null);
      if (problem !== undefined) report(at(p, '$state'), problem);
    } else if (value === undefined) {
      report(p, 'must be a JSON value or {"$state": pointer}');
    } else if (Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8') > MAX_PROPERTY_VALUE_BYTES) {
      report(p, `a property value has at most ${MAX_PROPERTY_VALUE_BYTES} bytes of JSON`);
    }
  }
}

function checkEventName(value: unknown, pointer: string, report: Report): void {
  if (value === undefined) return report(pointer, 'required');
  if (typeof value !== 'string' || value.length === 0 || [...value].length > MAX_EVENT_NAME) {
    return report(pointer, `must be an event name of 1–${MAX_EVENT_NAME} characters`);
  }
  if (/[\u0000-\u001F\u007F]/.test(value)) report(pointer, 'event names have no control characters');
}

function checkStepRef(value: unknown, pointer: string, report: Report): void {
  if (typeof value !== 'string' || value === '') report(pointer, 'must be a step id');
}

function checkUuid(value: unknown, pointer: string, required: boolean, report: Report): void {
  if (value === undefined) {
    if (required) report(pointer, 'required');
    return;
  }
  if (typeof value !== 'string' || !isUuid(value)) report(pointer, 'must be a UUID');
}

function rejectUnknown(value: Record<string, unknown>, pointer: string, allowed: readonly string[], report: Report): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) report(at(pointer, key), 'unknown field');
}
