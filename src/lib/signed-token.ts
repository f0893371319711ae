/**
 * Signed public-link tokens (emails.md §9): `base64url(payload) "." base64url(HMAC-SHA256(secret,
 * payload))`. Used by unsubscribe, preferences and click links; a forged or malformed token
 * decodes to null.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signToken(secret: string, payload: object): string {
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

export function verifyToken(secret: string, token: string): Record<string, unknown> | null {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 4096) return null;
  const body = token.slice(0, dot);
  const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('base64url'));
  const given = Buffer.from(token.slice(dot + 1));
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  try {
    const payload: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
