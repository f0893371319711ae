/**
 * The one configuration object, parsed once from environment variables (cli.md §4). Every
 * variable has its default here; every problem is collected so start-up can report all of them
 * together and exit 2 without touching the database.
 */
import { isIP } from 'node:net';
import { err, ok, type Result } from './lib/result.js';
import { parseSmtpUrl } from './mail/smtp-url.js';

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export type DatabaseConfig =
  | { dialect: 'sqlite'; path: string; synchronous: 'FULL' | 'NORMAL' }
  | { dialect: 'postgres'; url: string };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  database: DatabaseConfig;
  databaseUrl: string;
  port: number;
  host: string;
  publicUrl: string;
  mailTransport: 'capture' | 'smtp';
  smtpUrl: string | null;
  bootstrapApiKey: string | null;
  logLevel: LogLevel;
  secret: string | null;
  bodyLimitBytes: number;
  idempotencyTtlHours: number;
  workerConcurrency: number;
  emailMaxAttempts: number;
  /** Days entry decisions are kept (journeys.md §5). */
  entryDecisionRetentionDays: number;
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseConfig(env: NodeJS.ProcessEnv): Result<Config, ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const problem = (variable: string, message: string) => problems.push({ variable, message });
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const integer = (name: string, fallback: number, min: number, max: number, what: string): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problem(name, `${what} (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return Number(raw);
  };

  const port = integer('PORT', 3001, 0, 65535, 'not a port number (0–65535)');
  const host = value('HOST') ?? '0.0.0.0';
  if (!isIP(host) && !HOSTNAME.test(host)) problem('HOST', 'must be an IP address or a host name');

  const databaseUrl = value('SEGMENTFLOW_DATABASE_URL') ?? 'sqlite:./data/segmentflow.db';
  const synchronousRaw = (value('SEGMENTFLOW_SQLITE_SYNCHRONOUS') ?? 'FULL').toUpperCase();
  if (synchronousRaw !== 'FULL' && synchronousRaw !== 'NORMAL') {
    problem('SEGMENTFLOW_SQLITE_SYNCHRONOUS', 'must be FULL or NORMAL');
  }
  const synchronous = synchronousRaw === 'NORMAL' ? 'NORMAL' : 'FULL';
  let database: DatabaseConfig = { dialect: 'sqlite', path: './data/segmentflow.db', synchronous };
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    if (path === '') problem('SEGMENTFLOW_DATABASE_URL', 'sqlite: needs a file path, e.g. sqlite:./data/segmentflow.db');
    else database = { dialect: 'sqlite', path, synchronous };
  } else if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    try {
      new URL(databaseUrl);
      database = { dialect: 'postgres', url: databaseUrl };
    } catch {
      problem('SEGMENTFLOW_DATABASE_URL', 'not a valid postgres:// URL');
    }
  } else {
    problem('SEGMENTFLOW_DATABASE_URL', 'must start with sqlite: or postgres://');
  }

  const publicUrl = value('SEGMENTFLOW_PUBLIC_URL') ?? `http://localhost:${port}`;
  if (!/^https?:\/\//.test(publicUrl) || !URL.canParse(publicUrl)) {
    problem('SEGMENTFLOW_PUBLIC_URL', 'must be an http(s) URL');
  }

  const transportRaw = value('SEGMENTFLOW_MAIL_TRANSPORT') ?? 'capture';
  if (transportRaw !== 'capture' && transportRaw !== 'smtp') {
    problem('SEGMENTFLOW_MAIL_TRANSPORT', 'must be capture or smtp');
  }
  const mailTransport = transportRaw === 'smtp' ? 'smtp' : 'capture';
  const smtpUrl = value('SEGMENTFLOW_SMTP_URL') ?? null;
  if (mailTransport === 'smtp' && smtpUrl === null) {
    problem('SEGMENTFLOW_SMTP_URL', 'required with SEGMENTFLOW_MAIL_TRANSPORT=smtp');
  }
  if (smtpUrl !== null && (!/^smtps?:\/\//.test(smtpUrl) || !URL.canParse(smtpUrl))) {
    problem('SEGMENTFLOW_SMTP_URL', 'must be an smtp:// or smtps:// URL');
  } else if (smtpUrl !== null) {
    // Its options too (pool, TLS…), here rather than when the transport is built after bootstrap.
    const settings = parseSmtpUrl(smtpUrl);
    if (!settings.ok) problem('SEGMENTFLOW_SMTP_URL', settings.error.join('; '));
  }

  const bootstrapApiKey = value('SEGMENTFLOW_BOOTSTRAP_API_KEY') ?? null;
  if (bootstrapApiKey !== null && !/^[\x21-\x7e]{20,200}$/.test(bootstrapApiKey)) {
    problem('SEGMENTFLOW_BOOTSTRAP_API_KEY', 'must be 20–200 visible ASCII characters');
  }

  const logLevelRaw = value('SEGMENTFLOW_LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevelRaw as LogLevel)) {
    problem('SEGMENTFLOW_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const logLevel = LOG_LEVELS.includes(logLevelRaw as LogLevel) ? (logLevelRaw as LogLevel) : 'info';

  const secret = value('SEGMENTFLOW_SECRET') ?? null;
  if (secret !== null && secret.length < 32) problem('SEGMENTFLOW_SECRET', 'must be at least 32 characters');

  const config: Config = {
    database,
    databaseUrl,
    port,
    host,
    publicUrl: publicUrl.replace(/\/+$/, ''),
    mailTransport,
    smtpUrl,
    bootstrapApiKey,
    logLevel,
    secret,
    bodyLimitBytes: integer('SEGMENTFLOW_BODY_LIMIT_BYTES', 1_048_576, 1024, 1_073_741_824, 'must be a byte count ≥ 1024'),
    idempotencyTtlHours: integer('SEGMENTFLOW_IDEMPOTENCY_TTL_HOURS', 24, 1, 8760, 'must be a whole number of hours (1–8760)'),
    workerConcurrency: integer('SEGMENTFLOW_WORKER_CONCURRENCY', 8, 1, 256, 'must be an integer 1–256'),
    emailMaxAttempts: integer('SEGMENTFLOW_EMAIL_MAX_ATTEMPTS', 8, 1, 100, 'must be an integer 1–100'),
    entryDecisionRetentionDays: integer('SEGMENTFLOW_ENTRY_DECISION_RETENTION_DAYS', 30, 1, 3650, 'must be a whole number of days (1–3650)'),
  };
  return problems.length > 0 ? err(problems) : ok(config);
}

/** A config for tests and embedding: defaults with overrides, no environment involved. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error('default configuration is invalid');
  return { ...parsed.value, ...overrides };
}
