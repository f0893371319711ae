/**
 * The Condition language shared by journeys and segments (journeys.md §3): its type, save-time
 * validation and evaluation against a state object keyed by root (`event`, `profile`, `variables`,
 * `waited`, `candidate`). Evaluation never coerces types: a value is compared only with a value
 * of the same JSON type, and anything that does not fit an operator makes it false, never throws.
 */
import { parseDateTime } from '../../../lib/date-time.js';
import { isValidPointer, parsePointer } from '../../../lib/json-pointer.js';
import { at, isPlainObject, type DefinitionError } from './errors.js';

export const CONDITION_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'exists', 'contains', 'startsWith'] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A value read from the state being evaluated instead of a literal. */
export interface StateReference {
  $state: string;
}

export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface NotCondition {
  not: Condition;
}
export interface PathCondition {
  path: string;
  op: ConditionOp;
  /** A literal JSON value or a {@link StateReference}; absent only for `exists`. */
  value?: unknown;
  ignoreCase?: boolean;
}
export type Condition = AllCondition | AnyCondition | NotCondition | PathCondition;

/** The first token of every state pointer. */
export type StateRoot = 'event' | 'profile' | 'variables' | 'waited' | 'candidate';

/** `entry.filter` (event entry only). */
export const ENTRY_FILTER_ROOTS: readonly StateRoot[] = ['event', 'profile'];
/** `branch.condition`, `update_profile` `$state` values, `delay.until`. */
export const RUN_STATE_ROOTS: readonly StateRoot[] = ['event', 'profile', 'variables', 'waited'];
/** `wait_for_event.filter` and `exitOn[].filter`: the run state plus the event being tested. */
export const CANDIDATE_FILTER_ROOTS: readonly StateRoot[] = [...RUN_STATE_ROOTS, 'candidate'];

export const MAX_CONDITION_DEPTH = 10;
export const MAX_CONDITION_NODES = 200;
export const MAX_GROUP_ITEMS = 50;
export const MAX_IN_ITEMS = 1000;
/** Same bound as the event redaction paths. */
export const MAX_POINTER_LENGTH = 1024;

const LEAF_FIELDS = ['path', 'op', 'value', 'ignoreCase'];
const COMPARISON_OPS: ReadonlySet<ConditionOp> = new Set(['gt', 'gte', 'lt', 'lte']);

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Every problem of `value` as a Condition, pointers based at `pointer`: shape, unknown fields,
 * operators, `value` per operator (`{ "$state": p }` allowed except for `exists`), `ignoreCase`,
 * group sizes, `in`/`nin` list size, depth and node limits, pointer syntax. With `allowedRoots`,
 * the roots of `path` and of `$state` pointers are checked too (journeys report those as
 * semantic errors, so their structure pass gives `null`). Unsorted; callers sort and cap.
 */
export function validateCondition(value: unknown, pointer: string, allowedRoots: readonly StateRoot[] | null): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const report = (p: string, message: string): void => {
    errors.push({ pointer: p, message });
  };
  let nodes = 0;
  const walk = (node: unknown, p: string, depth: number): void => {
    if (depth > MAX_CONDITION_DEPTH) return report(p, `conditions nest at most ${MAX_CONDITION_DEPTH} levels deep`);
    nodes++;
    if (!isPlainObject(node)) return report(p, 'must be a Condition object');
    const form = ['all', 'any', 'not'].find((k) => Object.hasOwn(node, k));
    if (form !== undefined) {
      for (const key of Object.keys(node)) if (key !== form) report(at(p, key), 'unknown field');
      const inner = node[form];
      if (form === 'not') return walk(inner, at(p, 'not'), depth + 1);
      if (!Array.isArray(inner)) return report(at(p, form), 'must be an array of Conditions');
      if (inner.length < 1 || inner.length > MAX_GROUP_ITEMS) report(at(p, form), `must have 1–${MAX_GROUP_ITEMS} items`);
      inner.forEach((item, i) => walk(item, at(at(p, form), i), depth + 1));
      return;
    }
    if (!Object.hasOwn(node, 'path') && !Object.hasOwn(node, 'op')) {
      return report(p, 'must be {"all": […]}, {"any": […]}, {"not": …} or {"path", "op", "value"?, "ignoreCase"?}');
    }
    validateLeaf(node, p, allowedRoots, report);
  };
  walk(value, pointer, 1);
  if (nodes > MAX_CONDITION_NODES) report(pointer, `a Condition has at most ${MAX_CONDITION_NODES} nodes (this one has ${nodes})`);
  return errors;
}

function validateLeaf(node: Record<string, unknown>, p: string, allowedRoots: readonly StateRoot[] | null, report: (p: string, m: string) => void): void {
  for (const key of Object.keys(node)) if (!LEAF_FIELDS.includes(key)) report(at(p, key), 'unknown field');
  const pathProblem = statePointerProblem(node.path, allowedRoots);
  if (pathProblem !== undefined) report(at(p, 'path'), pathProblem);
  if (node.ignoreCase !== undefined && typeof node.ignoreCase !== 'boolean') report(at(p, 'ignoreCase'), 'must be a boolean');
  const op = node.op;
  if (typeof op !== 'string' || !(CONDITION_OPS as readonly string[]).includes(op)) {
    return report(at(p, 'op'), `must be one of ${CONDITION_OPS.join(', ')}`);
  }
  const valuePointer = at(p, 'value');
  const value = node.value;
  if (op === 'exists') {
    if (value !== undefined && typeof value !== 'boolean') report(valuePointer, 'must be a boolean for op exists (false inverts it)');
    return;
  }
  if (value === undefined) return report(valuePointer, `required for op ${op}`);
  if (isPlainObject(value) && Object.hasOwn(value, '$state')) {
    for (const key of Object.keys(value)) if (key !== '$state') report(at(valuePointer, key), 'unknown field (a {"$state": pointer} value has no other fields)');
    const problem = statePointerProblem(value.$state, allowedRoots);
    if (problem !== undefined) report(at(valuePointer, '$state'), problem);
    return;
  }
  if (COMPARISON_OPS.has(op as ConditionOp)) {
    const comparable = (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && parseDateTime(value) !== null);
    if (!comparable) report(valuePointer, `must be a number or an ISO-8601 date-time for op ${op}`);
  } else if (op === 'in' || op === 'nin') {
    if (!Array.isArray(value)) report(valuePointer, `must be an array for op ${op}`);
    else if (value.length > MAX_IN_ITEMS) report(valuePointer, `at most ${MAX_IN_ITEMS} items`);
  } else if (op === 'startsWith') {
    if (typeof value !== 'string') report(valuePointer, 'must be a string for op startsWith');
  }
}

/**
 * Why `pointer` cannot be a state pointer here, or undefined when it can: an RFC 6901 pointer
 * starting with `/` (at most 1024 characters) whose first token is one of `allowedRoots` (not
 * checked when null).
 */
export function statePointerProblem(pointer: unknown, allowedRoots: readonly StateRoot[] | null): string | undefined {
  if (typeof pointer !== 'string') return 'must be a JSON Pointer string';
  if (pointer.length > MAX_POINTER_LENGTH) return `a JSON Pointer has at most ${MAX_POINTER_LENGTH} characters`;
  if (!pointer.startsWith('/') || !isValidPointer(pointer)) return `"${pointer}" is not a valid JSON Pointer (RFC 6901, starting with "/")`;
  if (allowedRoots === null) return undefined;
  const root = parsePointer(pointer)[0]!;
  if (!(allowedRoots as readonly string[]).includes(root)) return `"${pointer}" must start with ${allowedRoots.map((r) => '/' + r).join(', ')} here`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface PointerRead {
  found: boolean;
  value: unknown;
}

const ABSENT: PointerRead = { found: false, value: undefined };

/**
 * The value at `pointer` in `state` (its first token selects the root). Absent when any token is
 * missing, an array index is out of range or not canonical (`01`, `-`), or the pointer is invalid.
 * Only own properties are followed, so `/event/constructor` is absent unless the data has it.
 */
export function readPointer(state: Record<string, unknown>, pointer: string): PointerRead {
  if (!pointer.startsWith('/') || !isValidPointer(pointer)) return ABSENT;
  let node: unknown = state;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return ABSENT;
      const index = Number(token);
      if (index >= node.length) return ABSENT;
      node = node[index];
    } else if (isPlainObject(node) && Object.hasOwn(node, token)) {
      node = node[token];
    } else {
      return ABSENT;
    }
  }
  return node === undefined ? ABSENT : { found: true, value: node };
}

/** True when `condition` holds for `state` (journeys.md §3). */
export function evaluateCondition(condition: Condition, state: Record<string, unknown>): boolean {
  if ('all' in condition) return condition.all.every((c) => evaluateCondition(c, state));
  if ('any' in condition) return condition.any.some((c) => evaluateCondition(c, state));
  if ('not' in condition) return !evaluateCondition(condition.not, state);
  return evaluatePath(condition, state);
}

function evaluatePath(condition: PathCondition, state: Record<string, unknown>): boolean {
  const left = readPointer(state, condition.path);
  const right = resolveValue(condition.value, state);
  const fold = condition.ignoreCase === true;
  switch (condition.op) {
    case 'eq':
      return isEqual(left, right, fold);
    case 'neq':
      return !isEqual(left, right, fold);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const order = left.found && right.found ? compareOrdered(left.value, right.value) : null;
      if (order === null) return false;
      return condition.op === 'gt' ? order > 0 : condition.op === 'gte' ? order >= 0 : condition.op === 'lt' ? order < 0 : order <= 0;
    }
    case 'in':
      return isIn(left, right, fold);
    case 'nin':
      return !isIn(left, right, fold);
    case 'exists': {
      const present = left.found && left.value !== null;
      return right.found && right.value === false ? !present : present;
    }
    case 'contains':
      if (!left.found || !right.found) return false;
      if (typeof left.value === 'string') {
        return typeof right.value === 'string' && foldIf(left.value, fold).includes(foldIf(right.value, fold));
      }
      return Array.isArray(left.value) && left.value.some((item) => jsonEquals(item, right.value, fold));
    case 'startsWith':
      return left.found && right.found && typeof left.value === 'string' && typeof right.value === 'string' && foldIf(left.value, fold).startsWith(foldIf(right.value, fold));
    default:
      return false;
  }
}

/** A `{ "$state": p }` value is read from the state; any other value is a literal. */
function resolveValue(value: unknown, state: Record<string, unknown>): PointerRead {
  if (value === undefined) return ABSENT;
  if (isPlainObject(value) && typeof value.$state === 'string' && Object.keys(value).length === 1) return readPointer(state, value.$state);
  return { found: true, value };
}

function isEqual(left: PointerRead, right: PointerRead, fold: boolean): boolean {
  return left.found && right.found && jsonEquals(left.value, right.value, fold);
}

function isIn(left: PointerRead, right: PointerRead, fold: boolean): boolean {
  return left.found && right.found && Array.isArray(right.value) && right.value.some((item) => jsonEquals(left.value, item, fold));
}

/** Numbers by value, strings that are both ISO-8601 date-times by instant; anything else is not ordered. */
function compareOrdered(a: unknown, b: unknown): number | null {
  if (typeof a === 'number' && typeof b === 'number') {
    return a < b ? -1 : a > b ? 1 : a === b ? 0 : null;
  }
  if (typeof a === 'string' && typeof b === 'string') {
    const x = parseDateTime(a);
    const y = parseDateTime(b);
    return x === null || y === null ? null : Math.sign(x - y);
  }
  return null;
}

/**
 * Deep equality of JSON values without coercion: same type, numbers by value, arrays in order,
 * objects with the same members in any order. With `fold`, strings (at any depth, not member
 * names) compare case-insensitively.
 */
export function jsonEquals(a: unknown, b: unknown, fold = false): boolean {
  if (typeof a === 'string' && typeof b === 'string') return fold ? foldCase(a) === foldCase(b) : a === b;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEquals(item, b[i], fold));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && jsonEquals(x[k], y[k], fold));
}

/**
 * Case folding approximated by upper- then lower-casing, which also equates forms that plain
 * lower-casing keeps apart (`ß`/`SS`, final `ς`/`σ`).
 */
export function foldCase(text: string): string {
  return text.toUpperCase().toLowerCase();
}

function foldIf(text: string, fold: boolean): string {
  return fold ? foldCase(text) : text;
}
