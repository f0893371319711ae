/**
 * Authentication of inbound delivery webhooks (emails.md §8.5). The generic route is signed:
 * `Segmentflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
 * accepted within ±300 s of our clock; several `v1` values may be given (any one may match).
 * Provider adapters that cannot sign use HTTP Basic with the secret as the password. Every
 * comparison is constant-time.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'segmentflow-signature';
export const SIGNATURE_TOLERANCE_MS = 300_000;
const MAX_HEADER_LENGTH = 2048;

/** A new secret: `whsec_` + 32 random bytes, hex. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('hex')}`;
}

function hmacHex(secret: string, timestamp: string, body: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The header value a sender computes (used by tests and documented for integrators). */
export function signWebhookBody(secret: string, body: Buffer | string, unixSeconds: number): string {
  const t = String(Math.floor(unixSeconds));
  return `t=${t},v1=${hmacHex(secret, t, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'))}`;
}

function equalHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when the header carries a fresh timestamp and a matching v1 signature of `body`. */
export function verifyWebhookSignature(secret: string, header: string | undefined, body: Buffer, nowMs: number): boolean {
  if (header === undefined || header.length > MAX_HEADER_LENGTH) return false;
  let timestamp: string | null = null;
  const signatures: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1') signatures.push(value);
  }
  if (timestamp === null || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) return false;
  if (Math.abs(nowMs - Number(timestamp) * 1000) > SIGNATURE_TOLERANCE_MS) return false;
  const expected = hmacHex(secret, timestamp, body);
  let ok = false;
  for (const signature of signatures) ok = equalHex(expected, signature) || ok;
  return ok;
}

/** True when an `Authorization: Basic` header carries `secret` as the password (any user name). */
export function verifyBasicPassword(header: string | undefined, secret: string): boolean {
  if (header === undefined || header.length > MAX_HEADER_LENGTH) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Hashing first makes the comparison constant-time whatever the lengths.
  const given = createHash('sha256').update(decoded.slice(colon + 1)).digest();
  const expected = createHash('sha256').update(secret).digest();
  return timingSafeEqual(given, expected);
}
