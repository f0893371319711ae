/**
 * Reads `SEGMENTFLOW_SMTP_URL` (emails.md §6): `smtp://user:pass@host:587` (STARTTLS when the
 * server offers it) or `smtps://user:pass@host:465` (implicit TLS), with query options `pool`
 * (default true), `maxConnections` (5), `rejectUnauthorized` (true), `requireTLS` (false), and
 * ours: `connectionTimeout`, `greetingTimeout`, `socketTimeout` in milliseconds (nodemailer's
 * defaults when absent). Unknown options are errors, so a misspelt option is not silently ignored.
 * Every problem is reported at once, for start-up to print.
 */
import { err, ok, type Result } from '../lib/result.js';

export interface SmtpSettings {
  /** True for smtps:// (TLS from the first byte). */
  secure: boolean;
  host: string;
  port: number;
  auth: { user: string; pass: string } | null;
  pool: boolean;
  maxConnections: number;
  rejectUnauthorized: boolean;
  requireTLS: boolean;
  connectionTimeoutMs: number | null;
  greetingTimeoutMs: number | null;
  socketTimeoutMs: number | null;
}

const KNOWN_OPTIONS = new Set([
  'pool',
  'maxConnections',
  'rejectUnauthorized',
  'requireTLS',
  'connectionTimeout',
  'greetingTimeout',
  'socketTimeout',
]);

export function parseSmtpUrl(raw: string): Result<SmtpSettings, string[]> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return err(['not a valid URL']);
  }
  const problems: string[] = [];
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') problems.push('scheme must be smtp:// or smtps://');
  const secure = url.protocol === 'smtps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') problems.push('host is missing');
  if (url.pathname !== '' && url.pathname !== '/') problems.push('a path is not allowed');

  const decode = (value: string, what: string): string => {
    try {
      return decodeURIComponent(value);
    } catch {
      problems.push(`${what} is not valid percent-encoding`);
      return '';
    }
  };
  const user = decode(url.username, 'user');
  const pass = decode(url.password, 'password');

  for (const key of url.searchParams.keys()) {
    if (!KNOWN_OPTIONS.has(key)) problems.push(`unknown option ${key}`);
  }
  const flag = (name: string, fallback: boolean): boolean => {
    const value = url.searchParams.get(name);
    if (value === null) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    problems.push(`${name} must be true or false`);
    return fallback;
  };
  const count = (name: string, min: number, max: number): number | null => {
    const value = url.searchParams.get(name);
    if (value === null) return null;
    if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
      problems.push(`${name} must be an integer ${min}–${max}`);
      return null;
    }
    return Number(value);
  };

  const settings: SmtpSettings = {
    secure,
    host,
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    auth: user === '' && pass === '' ? null : { user, pass },
    pool: flag('pool', true),
    maxConnections: count('maxConnections', 1, 1000) ?? 5,
    rejectUnauthorized: flag('rejectUnauthorized', true),
    requireTLS: flag('requireTLS', false),
    connectionTimeoutMs: count('connectionTimeout', 1, 3_600_000),
    greetingTimeoutMs: count('greetingTimeout', 1, 3_600_000),
    socketTimeoutMs: count('socketTimeout', 1, 3_600_000),
  };
  return problems.length > 0 ? err(problems) : ok(settings);
}
