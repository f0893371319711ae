/**
 * Durations (conventions.md §6): the ISO-8601 subset `PnW` or `P[nD][T[nH][nM][nS]]` with
 * non-negative integers, at least one component, total at most 400 days. Years and months are
 * refused because their length depends on the calendar; every accepted duration is a fixed
 * number of milliseconds.
 */

const DURATION = /^P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)$/;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

export const MAX_DURATION_MS = 400 * DAY;

/** The duration in milliseconds, or null when `text` is not an accepted Duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  const [, weeks, days, hours, minutes, seconds] = m;
  // "P" and "PT" match the pattern with no component; "P1DT" has a T without a time component.
  if ([weeks, days, hours, minutes, seconds].every((c) => c === undefined)) return null;
  if (text.endsWith('T')) return null;
  const ms = n(weeks) * WEEK + n(days) * DAY + n(hours) * HOUR + n(minutes) * MINUTE + n(seconds) * SECOND;
  return ms <= MAX_DURATION_MS ? ms : null;
}

/** A Duration with an optional leading `-` (delay `offset`): negative milliseconds when signed. */
export function parseSignedDuration(text: string): number | null {
  const negative = text.startsWith('-');
  const ms = parseDuration(negative ? text.slice(1) : text);
  if (ms === null) return null;
  return negative && ms !== 0 ? -ms : ms;
}

function n(component: string | undefined): number {
  // Long digit strings become huge (or Infinity) and fail the 400-day limit, as they should.
  return component === undefined ? 0 : Number(component);
}
