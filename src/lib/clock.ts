/**
 * Time is a dependency (STYLE.md habit 5): code asks a Clock, tests move a FakeClock instead of
 * sleeping. Times are epoch milliseconds everywhere inside the process and in the database.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class FakeClock implements Clock {
  #now: number;
  constructor(start: number | string = '2026-05-31T12:00:00.000Z') {
    this.#now = typeof start === 'number' ? start : Date.parse(start);
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
  set(ms: number | string): void {
    this.#now = typeof ms === 'number' ? ms : Date.parse(ms);
  }
}

/** ISO-8601 UTC with milliseconds, the one timestamp format of every response. */
export function toIso(ms: number): string {
  return new Date(ms).toISOString();
}
