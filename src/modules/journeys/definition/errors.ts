/**
 * The error item every journey-definition check returns (journeys.md §4): a JSON Pointer relative
 * to the checked value and a human message. Callers prefix the pointer with where the value sits
 * in the request (`/definition`) and answer with all of them at once.
 */
import { escapeToken } from '../../../lib/json-pointer.js';
import { compareStrings } from '../../../lib/compare.js';

export interface DefinitionError {
  pointer: string;
  message: string;
}

export const MAX_DEFINITION_ERRORS = 50;

/** `pointer` extended by one reference token, escaped. */
export function at(pointer: string, token: string | number): string {
  return pointer + '/' + escapeToken(String(token));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Duplicates removed, sorted by pointer (then message) so answers are stable, at most 50. */
export function sortAndCap(errors: readonly DefinitionError[]): DefinitionError[] {
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const id = e.pointer + '\u0000' + e.message;
    return seen.has(id) ? false : (seen.add(id), true);
  });
  unique.sort((a, b) => compareStrings(a.pointer, b.pointer) || compareStrings(a.message, b.message));
  return unique.slice(0, MAX_DEFINITION_ERRORS);
}
