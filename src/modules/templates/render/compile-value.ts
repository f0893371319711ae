/**
 * Compiles prop values into evaluators once per template, so a render only runs closures. The
 * json-render semantics are kept by delegating to it: `$state`, `$item` and `$index` leaves are
 * resolved with `resolvePropValue`, `$cond` conditions with `evaluateVisibility`. What json-render
 * cannot express is done here: recording missing pointers, the position-dependent handling of
 * `$template` placeholders (plain text, percent-encoded in URLs, HTML-escaped in `Html`), and the
 * `$computed` functions of §4.3. Malformed values compile to "nothing" instead of throwing.
 */
import { evaluateVisibility, resolvePropValue, VisibilityConditionStrictSchema, type VisibilityCondition } from '@json-render/core';
import { computedFunction, isEmptyForDefault } from './computed.js';
import { encodeUrlComponent, escapeHtml, safeUrl } from './escape.js';
import type { Evaluator } from './plan.js';
import { splitTemplate } from './state-pointers.js';
import { isDynamicValue, isPlainObject, isValidItemPath, MAX_EXPRESSION_DEPTH } from './validate-expression.js';

/**
 * Where a value lands. `text` and `url` record a pointer that resolves to nothing or to an
 * object/array; `raw` (data for a function or a table) records only nothing; `html` escapes
 * `$template` placeholders; `url` percent-encodes them.
 */
type Position = 'text' | 'raw' | 'url' | 'html';

const NOTHING: Evaluator<undefined> = () => undefined;

export function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/** The Str rule: scalars become text, everything else "". */
export function toText(value: unknown): string {
  return typeof value === 'string' ? value : isScalar(value) ? String(value) : '';
}

function isNothing(value: unknown, position: Position): boolean {
  return value === undefined || value === null || (position !== 'raw' && typeof value === 'object');
}

/** Compiles a condition; one json-render's strict schema rejects never holds. */
export function compileCondition(condition: unknown): VisibilityCondition {
  return VisibilityConditionStrictSchema.safeParse(condition).success ? (condition as VisibilityCondition) : false;
}

export function compileValue(value: unknown, position: Position, depth = 0): Evaluator<unknown> {
  if (depth > MAX_EXPRESSION_DEPTH) return NOTHING;
  if (isDynamicValue(value)) return compileExpression(value, position, depth);
  if (Array.isArray(value) && value.some(containsDynamic)) {
    const items = value.map((item) => compileValue(item, 'raw', depth + 1));
    return (run, scope) => items.map((item) => item(run, scope));
  }
  if (isPlainObject(value) && containsDynamic(value)) {
    const members = Object.entries(value).map(([k, v]) => [k, compileValue(v, 'raw', depth + 1)] as const);
    return (run, scope) => Object.fromEntries(members.map(([k, member]) => [k, member(run, scope)]));
  }
  return () => value;
}

function containsDynamic(value: unknown): boolean {
  if (isDynamicValue(value)) return true;
  if (Array.isArray(value)) return value.some(containsDynamic);
  return isPlainObject(value) && Object.values(value).some(containsDynamic);
}

function compileExpression(value: Record<string, unknown>, position: Position, depth: number): Evaluator<unknown> {
  if (typeof value.$state === 'string') {
    const pointer = value.$state;
    const leaf = { $state: pointer };
    return (run, scope) => {
      const resolved = resolvePropValue(leaf, scope);
      if (isNothing(resolved, position)) run.missing.add(pointer);
      return resolved;
    };
  }
  if (typeof value.$template === 'string') return compileTemplateText(value.$template, position);
  if ('$item' in value && isValidItemPath(value.$item)) {
    const path = value.$item;
    const leaf = { $item: path };
    const suffix = path === '' ? '' : path.startsWith('/') ? path : '/' + path;
    return (run, scope) => {
      const resolved = resolvePropValue(leaf, scope);
      if (isNothing(resolved, position) && scope.repeatBasePath !== undefined) run.missing.add(scope.repeatBasePath + suffix);
      return resolved;
    };
  }
  if (value.$index === true) return (_run, scope) => scope.repeatIndex;
  if ('$cond' in value && '$then' in value && '$else' in value) {
    const condition = compileCondition(value.$cond);
    const then = compileValue(value.$then, position, depth + 1);
    const otherwise = compileValue(value.$else, position, depth + 1);
    return (run, scope) => (evaluateVisibility(condition, scope) ? then(run, scope) : otherwise(run, scope));
  }
  if (typeof value.$computed === 'string') return compileComputed(value.$computed, value.args, position, depth);
  return NOTHING; // $bindState, $bindItem and unknown `$` keys render as nothing
}

function compileComputed(name: string, rawArgs: unknown, position: Position, depth: number): Evaluator<unknown> {
  const fn = computedFunction(name);
  const args = isPlainObject(rawArgs) ? rawArgs : {};
  if (!fn) return NOTHING;
  if (name === 'default') {
    // The value's missing pointers count only when it is used: a fallback is what `default` is for.
    const valueOf = compileValue(args.value, position, depth + 1);
    const fallbackOf = compileValue(args.fallback, position, depth + 1);
    return (run, scope) => {
      const outer = run.missing;
      const attempted = new Set<string>();
      run.missing = attempted;
      let value: unknown;
      try {
        value = valueOf(run, scope);
      } finally {
        run.missing = outer;
      }
      if (isEmptyForDefault(value) || (position !== 'raw' && !isScalar(value))) return fallbackOf(run, scope);
      for (const pointer of attempted) outer.add(pointer);
      return value;
    };
  }
  const compiled = Object.entries(args).map(([k, v]) => [k, compileValue(v, 'raw', depth + 1)] as const);
  return (run, scope) => {
    const resolved: Record<string, unknown> = {};
    for (const [k, arg] of compiled) resolved[k] = arg(run, scope);
    return fn.run(resolved, run.locale);
  };
}

/** `$template`: literal text around placeholders; each placeholder is a state pointer resolved by json-render. */
function compileTemplateText(text: string, position: Position): Evaluator<string> {
  const { literals, pointers } = splitTemplate(text);
  if (pointers.length === 0) return () => text;
  const wholeUrl = position === 'url' && pointers.length === 1 && literals[0]!.trim() === '' && literals[1]!.trim() === '';
  const encode = position === 'html' ? escapeHtml : position === 'url' && !wholeUrl ? encodeUrlComponent : undefined;
  const leaves = pointers.map((pointer) => ({ pointer, leaf: pointer.startsWith('/') ? { $state: pointer } : undefined }));
  return (run, scope) => {
    let out = literals[0]!;
    for (let i = 0; i < leaves.length; i++) {
      const { pointer, leaf } = leaves[i]!;
      const resolved = leaf ? resolvePropValue(leaf, scope) : undefined;
      let piece = '';
      if (isNothing(resolved, 'text')) run.missing.add(pointer);
      else piece = toText(resolved);
      out += (encode ? encode(piece) : piece) + literals[i + 1]!;
    }
    return out;
  };
}

/** A Str prop or header field: always a string. Literals are converted once. */
export function compileText(value: unknown): Evaluator<string> {
  if (!isDynamicValue(value)) {
    const text = toText(value);
    return () => text;
  }
  const evaluate = compileValue(value, 'text');
  return (run, scope) => toText(evaluate(run, scope));
}

/** A Url prop: the URL when it passes the allow-list, else undefined (the link or image is dropped). */
export function compileUrl(value: unknown, allowMailto: boolean): Evaluator<string | undefined> {
  if (!isDynamicValue(value)) {
    const url = safeUrl(value, allowMailto);
    return () => url;
  }
  const evaluate = compileValue(value, 'url');
  return (run, scope) => safeUrl(evaluate(run, scope), allowMailto);
}

/** A scalar prop (color, size, flag…): the coerced value, or undefined so the caller uses its default. */
export function compileScalar<T>(value: unknown, accept: (v: unknown) => T | undefined): Evaluator<T | undefined> {
  if (value === undefined) return NOTHING;
  if (!isDynamicValue(value)) {
    const accepted = accept(value);
    return () => accepted;
  }
  const evaluate = compileValue(value, 'raw');
  return (run, scope) => accept(evaluate(run, scope));
}

/** Raw data (table rows): resolved values, no text coercion. */
export function compileData(value: unknown): Evaluator<unknown> {
  return compileValue(value, 'raw');
}

/** The `Html` prop: a trusted literal, or a `$template` whose placeholders are HTML-escaped. */
export function compileTrustedHtml(value: unknown): Evaluator<string> {
  if (typeof value === 'string') return () => value;
  if (isPlainObject(value) && typeof value.$template === 'string') return compileTemplateText(value.$template, 'html');
  return () => '';
}

