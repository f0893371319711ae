/**
 * The load of bench/events-track.ts: autocannon connections sending `POST /api/v1/events`, each
 * request with a fresh Idempotency-Key and a body drawn from a fixed pool of profiles (so early
 * requests create Profiles and later ones update them and their properties).
 *
 * Every key is remembered until its response arrives. A request still in flight when autocannon
 * stops is abandoned (the socket is destroyed) although the server may still commit it; those
 * keys are returned so the verification can look them up instead of guessing.
 */
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  apiKey: string;
  connections: number;
  seconds: number;
  /** Distinct profile emails to draw from. */
  profiles: number;
}

export interface LoadTally {
  /** Responses by status code, over every phase run with this tally. */
  statuses: Map<number, number>;
  /** Keys sent (or built) whose response never arrived. */
  unanswered: Set<string>;
  errors: number;
  timeouts: number;
}

export interface PhaseResult {
  seconds: number;
  requestsPerSecond: number;
  completed: number;
  p50: number;
  p99: number;
  mean: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export function newTally(): LoadTally {
  return { statuses: new Map(), unanswered: new Set(), errors: 0, timeouts: 0 };
}

const EVENTS = ['order.created', 'order.paid', 'trial.started', 'page.viewed'] as const;
const PLANS = ['Free', 'Pro', 'Team', 'Enterprise'] as const;
const runId = randomBytes(4).toString('hex');
let sequence = 0;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

/** One events.track body: a profile from the pool, a property update and a small order payload. */
function eventBody(profiles: number, n: number): string {
  const user = Math.floor(Math.random() * profiles);
  const total = Math.round(Math.random() * 50_000) / 100;
  return JSON.stringify({
    event: pick(EVENTS),
    profile: { email: `u${user}@example.com`, properties: { plan: pick(PLANS), lastOrderTotal: total } },
    data: { orderId: `o${n}`, total, currency: 'EUR', items: [{ sku: `sku-${n % 97}`, quantity: 1 + (n % 3) }] },
  });
}

/** Runs one phase (warm-up or measurement) against `url`, counting into `tally`. */
export async function runPhase(options: LoadOptions, tally: LoadTally): Promise<PhaseResult> {
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    pipelining: 1,
    timeout: 10,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': options.apiKey },
    requests: [
      {
        method: 'POST',
        path: '/api/v1/events',
        setupRequest: (request, context) => {
          const n = ++sequence;
          const key = `bench-${runId}-${n}`;
          context.key = key;
          tally.unanswered.add(key);
          request.headers = { ...request.headers, 'idempotency-key': key };
          request.body = eventBody(options.profiles, n);
          return request;
        },
        onResponse: (status, _body, context) => {
          tally.unanswered.delete(context.key as string);
          tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
        },
      },
    ],
  });
  const result = await instance;
  tally.errors += result.errors;
  tally.timeouts += result.timeouts;
  return {
    seconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    completed: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.mean,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

export function countStatus(tally: LoadTally, predicate: (status: number) => boolean): number {
  let total = 0;
  for (const [status, count] of tally.statuses) if (predicate(status)) total += count;
  return total;
}
