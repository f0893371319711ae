/** The closed list of API key scopes (conventions.md §3). */
export const SCOPES = [
  'profiles:read',
  'profiles:write',
  'templates:read',
  'templates:write',
  'assets:read',
  'assets:write',
  'brand-kit:read',
  'brand-kit:write',
  'events:write',
  'emails:write',
  'emails:read',
  'events:read',
  'journeys:read',
  'journeys:write',
  'journeys:trigger',
  'segments:read',
  'segments:write',
  'broadcasts:read',
  'broadcasts:write',
  'broadcasts:send',
  'senders:read',
  'senders:write',
  'subscriptions:read',
  'subscriptions:write',
  'api-keys:admin',
] as const;

export type Scope = (typeof SCOPES)[number];

const scopeSet: ReadonlySet<string> = new Set(SCOPES);

export function isScope(value: string): value is Scope {
  return scopeSet.has(value);
}
