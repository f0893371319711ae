/**
 * Every id we generate is a lowercase UUID version 7 (conventions.md §6): time-ordered, so
 * "newest first" is "id descending" and cursors can encode an id.
 */
import { v7 } from 'uuid';

export type IdGenerator = () => string;

export const uuidV7: IdGenerator = () => v7();

/** Accepted id inputs: versions 1–8 with the RFC variant, plus nil and max. */
export const UUID_PATTERN =
  '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$';

const uuidRegex = new RegExp(UUID_PATTERN);

export function isUuid(value: string): boolean {
  return uuidRegex.test(value);
}
