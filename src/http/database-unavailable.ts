/**
 * Recognises failures that mean "the database cannot be reached or cannot work right now" (as
 * opposed to a bug), so the error handler answers 503 `service_unavailable` with `Retry-After`
 * (conventions.md §4.2) and clients retry with the same Idempotency-Key. Only connection-level
 * and resource-level conditions count; constraint violations, syntax errors and the like stay
 * 500 `internal_error`.
 */

/** Node socket errors seen by pg while connecting or on a broken connection. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * PostgreSQL SQLSTATEs: class 08 connection exception, class 53 insufficient resources (53300 too
 * many connections, disk full, out of memory), 57P01–57P03 admin/crash shutdown and "cannot
 * connect now" (starting up or in recovery).
 */
const PG_STATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[123])$/;
/**
 * SQLite result codes (better-sqlite3 puts the extended code in `code`): still locked after the
 * busy timeout, the file cannot be opened, I/O error, disk full.
 */
const SQLITE_CODE = /^SQLITE_(BUSY|CANTOPEN|IOERR|FULL)(_|$)/;
/** pg reports a dropped connection or a pool connect timeout without a code. */
const PG_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 3) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_STATE.test(code) || SQLITE_CODE.test(code))) return true;
  if (typeof code !== 'string' && PG_MESSAGE.test(error.message)) return true;
  // Node reports a failed connect to several addresses (localhost → ::1 and 127.0.0.1) as one AggregateError.
  if (error instanceof AggregateError && error.errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true;
  return isDatabaseUnavailable(error.cause, depth + 1);
}
