/**
 * Ids (conventions.md §6): lowercase UUID v7, time-ordered, strictly increasing within a process
 * even when many are made in the same millisecond (cursors and "newest first" rely on it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isUuid, uuidV7 } from '../../src/lib/ids.js';

test('uuidV7: valid version-7 ids, strictly increasing across many ids per millisecond', () => {
  const before = Date.now();
  const ids = Array.from({ length: 50_000 }, () => uuidV7());
  const after = Date.now();
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    assert.ok(isUuid(id), id);
    assert.equal(id, id.toLowerCase());
    assert.equal(id[14], '7', `version nibble of ${id}`);
    assert.ok('89ab'.includes(id[19]!), `variant of ${id}`);
    if (i > 0) assert.ok(id > ids[i - 1]!, `${ids[i - 1]} < ${id}`);
  }
  // The first 48 bits are the creation time (ms); a counter overflow may borrow a few ms ahead.
  const msOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  assert.ok(msOf(ids[0]!) >= before);
  assert.ok(msOf(ids.at(-1)!) <= after + 5);
});

test('uuidV7: the random part differs between consecutive ids (the pool is consumed, not reused)', () => {
  const tails = new Set(Array.from({ length: 1000 }, () => uuidV7().slice(-12)));
  assert.equal(tails.size, 1000);
});
