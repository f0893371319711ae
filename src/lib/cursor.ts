/**
 * Opaque pagination cursors (conventions.md §7): URL-safe, bound to a scope (organization +
 * route) and signed, so a cursor from another route or a tampered one is detected. A cursor
 * encodes a position (the last id seen), never an offset.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

function sign(secret: string, scope: string, position: string): string {
  return createHmac('sha256', secret).update(`${scope}\u0000${position}`).digest('base64url').slice(0, 22);
}

export function encodeCursor(secret: string, scope: string, position: string): string {
  return `${Buffer.from(position, 'utf8').toString('base64url')}.${sign(secret, scope, position)}`;
}

/** The position, or null when the cursor is malformed, forged, or from another scope. */
export function decodeCursor(secret: string, scope: string, cursor: string): string | null {
  const dot = cursor.indexOf('.');
  if (dot <= 0) return null;
  const position = Buffer.from(cursor.slice(0, dot), 'base64url').toString('utf8');
  const expected = Buffer.from(sign(secret, scope, position));
  const given = Buffer.from(cursor.slice(dot + 1));
  return expected.length === given.length && timingSafeEqual(expected, given) ? position : null;
}
