/**
 * Redaction of event data (events.md §5): `/event/<rest>` addresses `/<rest>` inside `data`.
 * Runs on the parsed request before fingerprinting, storing or logging anything, so the
 * redacted values exist only in the memory of the request.
 */
import { isValidPointer, removePointers } from '../../lib/json-pointer.js';

const EVENT_ROOT = '/event';

/**
 * Removes the listed paths from `data` in place. Returns the well-formed paths requested (without
 * duplicates): the UserEvent keeps that list, never the values.
 */
export function redactEventData(data: unknown, redactedDataPaths: readonly unknown[]): string[] {
  const valid = [
    ...new Set(redactedDataPaths.filter((p): p is string => typeof p === 'string' && p.startsWith(EVENT_ROOT + '/') && isValidPointer(p))),
  ];
  if (valid.length > 0 && data !== null && typeof data === 'object') {
    removePointers(data, valid.map((p) => p.slice(EVENT_ROOT.length)));
  }
  return valid;
}

/**
 * Redacts a raw (possibly invalid) events.track body in place, best effort: whatever paths are
 * well-formed are applied, so even a request that fails validation never has its secret hashed
 * into a fingerprint.
 */
export function redactTrackBody(body: unknown): string[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [];
  const { data, redactedDataPaths } = body as { data?: unknown; redactedDataPaths?: unknown };
  return Array.isArray(redactedDataPaths) ? redactEventData(data, redactedDataPaths) : [];
}
