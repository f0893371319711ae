/**
 * API key secrets (conventions.md §2.1): `sk_live_` + 32 base62 characters + 6 base62 characters
 * of the CRC32 of the preceding part. The checksum lets a mistyped or forged `sk_live_` value be
 * rejected without a database lookup. Only the SHA-256 of a secret is ever stored.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const API_KEY_PREFIX = 'sk_live_';

export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: rejecting bytes above it keeps every character equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

function base62Fixed(value: number, width: number): string {
  let out = '';
  let n = value;
  for (let i = 0; i < width; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function generateApiKeySecret(): string {
  const body = API_KEY_PREFIX + randomBase62(32);
  return body + base62Fixed(crc32(body), 6);
}

/** False for an `sk_live_` value whose checksum does not match (any other format is looked up). */
export function hasPlausibleChecksum(secret: string): boolean {
  if (!secret.startsWith(API_KEY_PREFIX)) return true;
  if (secret.length !== 46) return false;
  const body = secret.slice(0, 40);
  return base62Fixed(crc32(body), 6) === secret.slice(40);
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
