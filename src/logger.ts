/**
 * The process logger (pino, JSON). Request bodies are never logged; headers that carry secrets
 * and any field named like an email address are redacted.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/** Logs go to stderr: stdout is kept for the human-readable start-up lines and --json output. */
export function createLogger(level: LogLevel, destination: number = 2): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers["x-api-key"]',
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["idempotency-key"]',
        '*.email',
        '*.key',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  }, pino.destination({ fd: destination, sync: false }));
}
