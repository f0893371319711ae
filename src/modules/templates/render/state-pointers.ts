/**
 * The pointers a template may read (templates.md §3, §5): RFC 6901 pointers whose first token is
 * a render-state root, and the `${…}` placeholders of `$template` strings. The placeholder syntax
 * is json-render's (`${` up to the first `}`), so splitting here agrees with its interpolation.
 */
import { isValidPointer, parsePointer } from '../../../lib/json-pointer.js';

export const STATE_ROOTS = ['event', 'data', 'profile', 'variables', 'waited', 'brand', 'unsubscribeUrl', 'preferencesUrl'] as const;
export type StateRoot = (typeof STATE_ROOTS)[number];

const ROOTS: ReadonlySet<string> = new Set(STATE_ROOTS);

/** Why `pointer` cannot address the render state, or undefined when it can. */
export function statePointerProblem(pointer: unknown): string | undefined {
  if (typeof pointer !== 'string') return 'must be a JSON Pointer string';
  if (!pointer.startsWith('/') || !isValidPointer(pointer)) return `"${pointer}" is not a valid JSON Pointer (RFC 6901, starting with "/")`;
  const root = parsePointer(pointer)[0]!;
  if (!ROOTS.has(root)) return `"${pointer}" must start with one of ${STATE_ROOTS.map((r) => '/' + r).join(', ')}`;
  return undefined;
}

/** A `$template` string split into literal text around its placeholders: `literals.length === pointers.length + 1`. */
export interface TemplateParts {
  readonly literals: readonly string[];
  readonly pointers: readonly string[];
}

const PLACEHOLDER = /\$\{([^}]+)\}/g;

export function splitTemplate(text: string): TemplateParts {
  const literals: string[] = [];
  const pointers: string[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    literals.push(text.slice(last, match.index));
    pointers.push(match[1]!);
    last = match.index + match[0].length;
  }
  literals.push(text.slice(last));
  return { literals, pointers };
}

/**
 * The render-state roots a template definition may read: the first token of every string that is
 * a state pointer, and of every `${…}` placeholder, anywhere in it. An over-approximation (a
 * literal string that looks like a pointer counts too), so a caller that loads only these roots
 * never misses one the render needs.
 */
export function stateRootsRead(definition: unknown, into: Set<StateRoot> = new Set()): Set<StateRoot> {
  if (typeof definition === 'string') {
    const candidates = definition.startsWith('/') ? [definition, ...splitTemplate(definition).pointers] : splitTemplate(definition).pointers;
    for (const pointer of candidates) {
      if (statePointerProblem(pointer) === undefined) into.add(parsePointer(pointer)[0] as StateRoot);
    }
  } else if (Array.isArray(definition)) {
    for (const item of definition) stateRootsRead(item, into);
  } else if (typeof definition === 'object' && definition !== null) {
    for (const value of Object.values(definition)) stateRootsRead(value, into);
  }
  return into;
}
