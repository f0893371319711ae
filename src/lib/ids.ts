/**
 * Every id we generate is a lowercase UUID version 7 (conventions.md §6): time-ordered, so
 * "newest first" is "id descending" and cursors can encode an id.
 */
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

export type IdGenerator = () => string;

/**
 * uuid's own v7 fetches 16 random bytes through WebCrypto on every call (~2 % of a busy
 * worker's CPU); here they come from a pool refilled 4 KiB at a time. Given its random bytes,
 * uuid keeps no state, so the monotonic counter of RFC 9562 §6.2 (method 1) is kept here as uuid
 * keeps it: a new millisecond seeds a random 31-bit counter, the same one increments it, and an
 * overflow borrows the next millisecond — ids are strictly increasing within this process.
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;
let lastMs = -Infinity;
let sequence = 0;

function randomBytes16(): Uint8Array {
  if (poolOffset === POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

export const uuidV7: IdGenerator = () => {
  const random = randomBytes16();
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    sequence = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    sequence = (sequence + 1) | 0;
    if (sequence === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq: sequence });
};

/** Accepted id inputs: versions 1–8 with the RFC variant, plus nil and max. */
export const UUID_PATTERN =
  '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$';

const uuidRegex = new RegExp(UUID_PATTERN);

export function isUuid(value: string): boolean {
  return uuidRegex.test(value);
}
