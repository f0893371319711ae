/**
 * When a `delay` step is due (journeys.md §6.4), shared by the run engine and the simulator:
 * `duration` from now, or the instant read at `until` (an ISO date-time, or `YYYY-MM-DD` as 00:00
 * UTC) plus `offset`. An absent or unparsable value is `until_invalid`; an instant already past
 * is `until_past`.
 */
import { parseDateTime } from '../../../lib/date-time.js';
import { parseDuration, parseSignedDuration } from '../../../lib/duration.js';
import type { DelayStep } from './model.js';

export type DelayDue = { kind: 'wait'; due: number } | { kind: 'until_invalid' } | { kind: 'until_past'; due: number };

function untilInstant(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return parseDateTime(`${value}T00:00:00Z`);
  return parseDateTime(value);
}

/** `untilValue` is the value at `step.until` in the run's state (ignored for a duration). */
export function delayDue(step: DelayStep, now: number, untilValue: unknown): DelayDue {
  if (step.duration !== undefined) {
    const ms = parseDuration(step.duration);
    if (ms === null) throw new Error(`delay duration ${step.duration} is not a Duration`);
    return { kind: 'wait', due: now + ms };
  }
  const instant = untilInstant(untilValue);
  const offset = step.offset === undefined ? 0 : parseSignedDuration(step.offset);
  if (instant === null || offset === null) return { kind: 'until_invalid' };
  const due = instant + offset;
  return due <= now ? { kind: 'until_past', due } : { kind: 'wait', due };
}
