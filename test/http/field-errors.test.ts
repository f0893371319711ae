/**
 * ajv errors → field errors (conventions.md §4.4): anyOf reports the branch the value's type
 * selects, with the pointer of the bad element; shared patterns get readable messages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from 'typebox';
import { bodyAjv, fieldErrorsFromAjv } from '../../src/http/validation.js';
import { NO_CONTROL_CHARS, NO_CR_LF_NUL } from '../../src/http/patterns.js';
import { UUID_PATTERN } from '../../src/lib/ids.js';

const Address = Type.String({ minLength: 1, pattern: NO_CR_LF_NUL });
const Schema = Type.Object({
  id: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
  name: Type.Optional(Type.String({ pattern: NO_CONTROL_CHARS })),
  cc: Type.Optional(Type.Union([Address, Type.Array(Address, { maxItems: 2 })])),
  who: Type.Optional(Type.Union([Type.Object({ a: Type.String() }, { required: ['a'] }), Type.Object({ b: Type.String() }, { required: ['b'] })])),
});
const validate = bodyAjv.compile(Schema);
const errorsOf = (body: unknown) => {
  assert.equal(validate(body), false);
  return fieldErrorsFromAjv(validate.errors ?? [], 'body').map(({ pointer, message }) => [pointer, message]);
};

test('anyOf: the branch of the value\'s type is reported, down to the bad array element', () => {
  assert.deepEqual(errorsOf({ cc: ['ok@example.com', 'x@example.com\nBcc: y'] }), [['/cc/1', 'must not contain CR, LF or NUL characters']]);
  assert.deepEqual(errorsOf({ cc: 'x@example.com\r\nBcc: y' }), [['/cc', 'must not contain CR, LF or NUL characters']]);
  assert.deepEqual(errorsOf({ cc: ['a', 'b', 'c'] }), [['/cc', 'must NOT have more than 2 items']]);
});

test('anyOf: a value no branch accepts by type, or one several branches accept, collapses to one error', () => {
  assert.deepEqual(errorsOf({ cc: 5 }), [['/cc', 'does not match any allowed form']]);
  assert.deepEqual(errorsOf({ who: {} }), [['/who', 'does not match any allowed form']]);
});

test('shared patterns have readable messages; the regex is never shown', () => {
  assert.deepEqual(errorsOf({ id: 'nope', name: 'a\tb' }), [
    ['/id', 'must be a UUID'],
    ['/name', 'must not contain control characters'],
  ]);
});
