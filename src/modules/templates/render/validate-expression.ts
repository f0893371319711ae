/**
 * Save-time checks of dynamic prop values and json-render conditions (templates.md §3):
 * `$state`, `$template`, `$cond`, `$item`, `$index` and `$computed` with their pointers, scope and
 * function names; `$bindState` / `$bindItem` and unknown `$` keys are rejected. Condition shapes
 * are checked with json-render's own strict schema; pointers and scope are checked here.
 */
import { VisibilityConditionStrictSchema } from '@json-render/core';
import { escapeToken, isValidPointer } from '../../../lib/json-pointer.js';
import { computedFunction, COMPUTED_FUNCTIONS } from './computed.js';
import { splitTemplate, statePointerProblem } from './state-pointers.js';

export interface ExpressionScope {
  /** True inside the children of an element with `repeat`, where `$item` / `$index` have a value. */
  readonly inRepeat: boolean;
  readonly report: (pointer: string, message: string) => void;
}

/** Deeper nesting of dynamic values or conditions is rejected (and ignored when rendering). */
export const MAX_EXPRESSION_DEPTH = 32;

const EXPRESSION_KEYS = ['$state', '$template', '$cond', '$item', '$index', '$computed'] as const;
type ExpressionKey = (typeof EXPRESSION_KEYS)[number];
const ALLOWED_KEYS: Record<ExpressionKey, readonly string[]> = {
  $state: ['$state'],
  $template: ['$template'],
  $cond: ['$cond', '$then', '$else'],
  $item: ['$item'],
  $index: ['$index'],
  $computed: ['$computed', 'args'],
};
const COMPARISONS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'] as const;

const at = (pointer: string, token: string | number): string => pointer + '/' + escapeToken(String(token));

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A dynamic value is an object with a `$`-prefixed key; anything else is a literal. */
export function isDynamicValue(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'));
}

/** A `$item` path is relative to the current item: "" (the item) or pointer tokens, with or without a leading "/". */
export function isValidItemPath(path: unknown): path is string {
  return typeof path === 'string' && (path === '' || isValidPointer(path.startsWith('/') ? path : '/' + path));
}

/** Validates a prop value (literal or dynamic), descending into literal arrays and objects. */
export function validateValue(value: unknown, pointer: string, scope: ExpressionScope, depth = 0): void {
  if (depth > MAX_EXPRESSION_DEPTH) return scope.report(pointer, `nested more than ${MAX_EXPRESSION_DEPTH} levels deep`);
  if (isDynamicValue(value)) return validateExpression(value, pointer, scope, depth);
  if (Array.isArray(value)) value.forEach((item, i) => validateValue(item, at(pointer, i), scope, depth + 1));
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) validateValue(v, at(pointer, k), scope, depth + 1);
}

/** Validates the text of a `$template`: every `${…}` must hold a state pointer. */
export function validateTemplateText(text: unknown, pointer: string, report: ExpressionScope['report']): void {
  if (typeof text !== 'string') return report(pointer, '$template must be a string');
  for (const placeholder of splitTemplate(text).pointers) {
    const problem = statePointerProblem(placeholder);
    if (problem) report(pointer, `placeholder \${${placeholder}}: ${problem}`);
  }
}

function validateExpression(value: Record<string, unknown>, pointer: string, scope: ExpressionScope, depth: number): void {
  const keys = Object.keys(value);
  for (const bind of ['$bindState', '$bindItem']) {
    if (keys.includes(bind)) return scope.report(at(pointer, bind), `${bind} is not allowed: emails have no two-way bindings`);
  }
  const kinds = EXPRESSION_KEYS.filter((k) => keys.includes(k));
  if (kinds.length !== 1) {
    const message = kinds.length === 0 ? `unknown dynamic value; expected one of ${EXPRESSION_KEYS.join(', ')}` : `combines ${kinds.join(' and ')}; use one`;
    return scope.report(pointer, message);
  }
  const kind = kinds[0]!;
  for (const key of keys) if (!ALLOWED_KEYS[kind].includes(key)) scope.report(at(pointer, key), `unexpected key in a ${kind} value`);
  switch (kind) {
    case '$state': {
      const problem = statePointerProblem(value.$state);
      if (problem) scope.report(at(pointer, '$state'), problem);
      return;
    }
    case '$template':
      return validateTemplateText(value.$template, at(pointer, '$template'), scope.report);
    case '$item':
      if (!isValidItemPath(value.$item)) scope.report(at(pointer, '$item'), '$item must be a path into the current item ("" for the item itself)');
      else if (!scope.inRepeat) scope.report(at(pointer, '$item'), '$item is only allowed inside a repeat');
      return;
    case '$index':
      if (value.$index !== true) scope.report(at(pointer, '$index'), '$index must be true');
      else if (!scope.inRepeat) scope.report(at(pointer, '$index'), '$index is only allowed inside a repeat');
      return;
    case '$cond':
      if (!('$then' in value) || !('$else' in value)) scope.report(pointer, '$cond needs both $then and $else');
      validateCondition(value.$cond, at(pointer, '$cond'), scope, depth + 1);
      if ('$then' in value) validateValue(value.$then, at(pointer, '$then'), scope, depth + 1);
      if ('$else' in value) validateValue(value.$else, at(pointer, '$else'), scope, depth + 1);
      return;
    case '$computed':
      return validateComputed(value, pointer, scope, depth);
  }
}

function validateComputed(value: Record<string, unknown>, pointer: string, scope: ExpressionScope, depth: number): void {
  const name = value.$computed;
  const fn = typeof name === 'string' ? computedFunction(name) : undefined;
  if (!fn) {
    return scope.report(at(pointer, '$computed'), `unknown function; expected one of ${Object.keys(COMPUTED_FUNCTIONS).join(', ')}`);
  }
  const args = value.args ?? {};
  if (!isPlainObject(args)) return scope.report(at(pointer, 'args'), 'args must be an object');
  const argsPointer = at(pointer, 'args');
  for (const required of fn.required) if (!(required in args)) scope.report(at(argsPointer, required), `${String(name)} requires ${required}`);
  for (const [arg, argValue] of Object.entries(args)) {
    const argPointer = at(argsPointer, arg);
    if (!fn.required.includes(arg) && !fn.optional.includes(arg)) {
      scope.report(argPointer, `unknown argument of ${String(name)}`);
      continue;
    }
    const literalCheck = fn.literal[arg];
    if (literalCheck && !isDynamicValue(argValue)) {
      const problem = literalCheck(argValue);
      if (problem) scope.report(argPointer, problem);
    } else {
      validateValue(argValue, argPointer, scope, depth + 1);
    }
  }
}

const CONDITION_FORMS =
  'invalid condition; expected true, false, {"$state": pointer} with at most one of eq, neq, gt, gte, lt, lte and optional "not": true, an array of those, {"$and": [...]} or {"$or": [...]}';

/** Validates a `visible` / `$cond` condition: json-render's strict shape, then pointers and scope. */
export function validateCondition(condition: unknown, pointer: string, scope: ExpressionScope, depth = 0): void {
  if (depth > MAX_EXPRESSION_DEPTH) return scope.report(pointer, `nested more than ${MAX_EXPRESSION_DEPTH} levels deep`);
  if (!VisibilityConditionStrictSchema.safeParse(condition).success) return scope.report(pointer, CONDITION_FORMS);
  walkCondition(condition, pointer, scope, depth);
}

function walkCondition(condition: unknown, pointer: string, scope: ExpressionScope, depth: number): void {
  if (depth > MAX_EXPRESSION_DEPTH) return scope.report(pointer, `nested more than ${MAX_EXPRESSION_DEPTH} levels deep`);
  if (Array.isArray(condition)) return condition.forEach((c, i) => walkCondition(c, at(pointer, i), scope, depth + 1));
  if (!isPlainObject(condition)) return;
  for (const group of ['$and', '$or'] as const) {
    const parts = condition[group];
    if (Array.isArray(parts)) return parts.forEach((c, i) => walkCondition(c, at(at(pointer, group), i), scope, depth + 1));
  }
  if ('$state' in condition) {
    const problem = statePointerProblem(condition.$state);
    if (problem) scope.report(at(pointer, '$state'), problem);
  } else if ('$item' in condition) {
    if (!isValidItemPath(condition.$item)) scope.report(at(pointer, '$item'), '$item must be a path into the current item');
    else if (!scope.inRepeat) scope.report(at(pointer, '$item'), '$item is only allowed inside a repeat');
  } else if ('$index' in condition && !scope.inRepeat) {
    scope.report(at(pointer, '$index'), '$index is only allowed inside a repeat');
  }
  const used = COMPARISONS.filter((op) => condition[op] !== undefined);
  if (used.length > 1) scope.report(pointer, `use one comparison operator, not ${used.join(' and ')}`);
  for (const op of used) {
    const operand = condition[op];
    if (isPlainObject(operand) && typeof operand.$state === 'string') {
      const problem = statePointerProblem(operand.$state);
      if (problem) scope.report(at(at(pointer, op), '$state'), problem);
    } else if (operand !== null && typeof operand === 'object') {
      scope.report(at(pointer, op), 'comparison value must be a string, number, boolean, null or {"$state": pointer}');
    }
  }
}
