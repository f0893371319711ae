/** Durations (conventions.md §6): the accepted ISO-8601 subset, its limit, and the signed form of delay.offset. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DURATION_MS, parseDuration, parseSignedDuration } from '../../../src/lib/duration.js';

const S = 1000;
const H = 3600 * S;
const D = 24 * H;

test('the documented examples parse to milliseconds', () => {
  assert.equal(parseDuration('PT2H'), 2 * H);
  assert.equal(parseDuration('P1DT12H'), D + 12 * H);
  assert.equal(parseDuration('P30D'), 30 * D);
  assert.equal(parseDuration('P2W'), 14 * D);
  assert.equal(parseDuration('PT1S'), S);
  assert.equal(parseDuration('PT90M'), 90 * 60 * S);
  assert.equal(parseDuration('P1DT2H3M4S'), D + 2 * H + 3 * 60 * S + 4 * S);
  assert.equal(parseDuration('P0D'), 0);
});

test('400 days is the limit', () => {
  assert.equal(parseDuration('P400D'), MAX_DURATION_MS);
  assert.equal(parseDuration('P401D'), null);
  assert.equal(parseDuration('P400DT1S'), null);
  assert.equal(parseDuration('P58W'), null);
  assert.equal(parseDuration('PT9600H'), 400 * D);
  assert.equal(parseDuration('PT9601H'), null);
  assert.equal(parseDuration('P99999999999999999999999D'), null);
});

test('years, months, empty forms, fractions, signs and mixed weeks are rejected', () => {
  for (const text of ['P1Y', 'P1M', 'P1Y2D', 'PT', 'P', '', 'P1DT', 'PT1.5H', 'P1.5D', '-PT1H', '+PT1H', 'PT-1H', 'P1W2D', 'pt1h', 'PT1H ', ' PT1H', 'P1H', 'PT1D', 'PT1S1M', 'T1H']) {
    assert.equal(parseDuration(text), null, text);
  }
});

test('signed durations accept an optional leading minus', () => {
  assert.equal(parseSignedDuration('-PT1H'), -H);
  assert.equal(parseSignedDuration('PT1H'), H);
  assert.equal(parseSignedDuration('-P1D'), -D);
  assert.equal(Object.is(parseSignedDuration('-P0D'), 0), true);
  for (const text of ['--PT1H', '+PT1H', '-', '-P401D', '-P1Y', '- PT1H']) assert.equal(parseSignedDuration(text), null, text);
});
