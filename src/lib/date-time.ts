/** ISO-8601 date-time inputs (conventions.md §6), validated against the calendar. */

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-](\d{2}):(\d{2}))$/;

/** ISO-8601 calendar date-time checked against the calendar (2026-02-30 is rejected). */
export function parseDateTime(value: string): number | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  // Extra fraction digits are truncated to milliseconds.
  const fraction = (m[7] ?? '').slice(0, 3).padEnd(3, '0');
  const zone = m[8] === 'Z' ? 'Z' : m[8]!;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${String(second).padStart(2, '0')}.${fraction}${zone}`);
  return Number.isNaN(ms) ? null : ms;
}
