/** Condition semantics (journeys.md §3): every operator, absent vs null, no coercion, instants, ignoreCase, $state values. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateCondition, readPointer, type Condition, type ConditionOp } from '../../../src/modules/journeys/definition/condition.js';

const state = {
  event: {
    total: 80,
    cartId: 'c1',
    count: '1',
    nothing: null,
    name: 'Straße Mueller',
    tags: ['vip', 'Beta', 3, { k: 1 }, null],
    at: '2026-06-02T10:00:00.000Z',
    atOffset: '2026-06-02T12:00:00+02:00',
    notDate: 'yesterday',
    day: '2026-06-02',
    nested: { a: [1, { b: 'x' }], 'sl/ash': 1, 'ti~lde': 2 },
    obj: { x: 1, y: [1, 2] },
    flag: false,
    zero: 0,
    empty: '',
  },
  profile: { plan: 'Pro', email: 'sam@example.com' },
  variables: { limit: 50, plans: ['Pro', 'Team'], want: 'c1', max: '2026-07-01T00:00:00Z' },
  waited: { wait_order: { cartId: 'c1' } },
  candidate: { cartId: 'c1' },
};

const leaf = (path: string, op: ConditionOp, value?: unknown, ignoreCase?: boolean): Condition => {
  const c: Condition = { path, op };
  if (value !== undefined) c.value = value;
  if (ignoreCase !== undefined) c.ignoreCase = ignoreCase;
  return c;
};
const check = (c: Condition, expected: boolean): void => {
  assert.equal(evaluateCondition(c, state), expected, JSON.stringify(c));
};

test('readPointer: found values, absent paths, null is found, escaped tokens, array indexes', () => {
  assert.deepEqual(readPointer(state, '/event/total'), { found: true, value: 80 });
  assert.deepEqual(readPointer(state, '/event/nothing'), { found: true, value: null });
  assert.deepEqual(readPointer(state, '/event/missing'), { found: false, value: undefined });
  assert.deepEqual(readPointer(state, '/event/total/x'), { found: false, value: undefined });
  assert.deepEqual(readPointer(state, '/event/nested/a/1/b'), { found: true, value: 'x' });
  assert.deepEqual(readPointer(state, '/event/nested/sl~1ash'), { found: true, value: 1 });
  assert.deepEqual(readPointer(state, '/event/nested/ti~0lde'), { found: true, value: 2 });
  assert.equal(readPointer(state, '/event/nested/a/01').found, false);
  assert.equal(readPointer(state, '/event/nested/a/2').found, false);
  assert.equal(readPointer(state, '/event/nested/a/-').found, false);
  assert.equal(readPointer(state, '/event/constructor').found, false);
  assert.equal(readPointer(state, '/event/total/toString').found, false);
  assert.equal(readPointer(state, '/nope/x').found, false);
  assert.equal(readPointer(state, 'event/total').found, false);
  assert.equal(readPointer(state, '/event/~2').found, false);
  assert.deepEqual(readPointer(state, '/waited/wait_order'), { found: true, value: { cartId: 'c1' } });
});

test('eq: deep equality without coercion; false when absent', () => {
  check(leaf('/event/total', 'eq', 80), true);
  check(leaf('/event/total', 'eq', 80.0), true);
  check(leaf('/event/total', 'eq', '80'), false);
  check(leaf('/event/count', 'eq', 1), false);
  check(leaf('/event/count', 'eq', '1'), true);
  check(leaf('/event/zero', 'eq', false), false);
  check(leaf('/event/empty', 'eq', 0), false);
  check(leaf('/event/flag', 'eq', false), true);
  check(leaf('/event/nothing', 'eq', null), true);
  check(leaf('/event/missing', 'eq', null), false);
  check(leaf('/event/obj', 'eq', { y: [1, 2], x: 1 }), true);
  check(leaf('/event/obj', 'eq', { x: 1, y: [2, 1] }), false);
  check(leaf('/event/obj', 'eq', { x: 1 }), false);
  check(leaf('/event/obj', 'eq', { x: 1, y: [1, 2], z: null }), false);
  check(leaf('/event/nested/a', 'eq', [1, { b: 'x' }]), true);
  check(leaf('/event/tags', 'eq', { 0: 'vip' }), false);
});

test('neq is not eq: true when absent, false when equal, true across types', () => {
  check(leaf('/event/missing', 'neq', 1), true);
  check(leaf('/event/missing', 'neq', null), true);
  check(leaf('/event/nothing', 'neq', null), false);
  check(leaf('/event/total', 'neq', 80), false);
  check(leaf('/event/total', 'neq', '80'), true);
  check(leaf('/profile/plan', 'neq', 'pro', true), false);
  check(leaf('/profile/plan', 'neq', 'pro'), true);
});

test('gt/gte/lt/lte: numbers numerically', () => {
  check(leaf('/event/total', 'gt', 20), true);
  check(leaf('/event/total', 'gt', 80), false);
  check(leaf('/event/total', 'gte', 80), true);
  check(leaf('/event/total', 'lt', 80), false);
  check(leaf('/event/total', 'lte', 80), true);
  check(leaf('/event/total', 'lt', 100.5), true);
  check(leaf('/event/zero', 'gte', -1), true);
});

test('gt/gte/lt/lte: date-time strings as instants, across offsets', () => {
  check(leaf('/event/at', 'gt', '2026-06-02T09:59:59.999Z'), true);
  check(leaf('/event/at', 'lt', '2026-06-02T10:00:00.001Z'), true);
  // Same instant written with a different offset: equal, not ordered by text.
  check(leaf('/event/atOffset', 'gte', '2026-06-02T10:00:00Z'), true);
  check(leaf('/event/atOffset', 'lte', '2026-06-02T10:00:00Z'), true);
  check(leaf('/event/atOffset', 'gt', '2026-06-02T10:00:00Z'), false);
  // Textually greater, earlier as an instant.
  check(leaf('/event/atOffset', 'lt', '2026-06-02T11:00:00+00:00'), true);
});

test('gt/gte/lt/lte: anything else is false (no string ordering, no coercion, absent, null)', () => {
  check(leaf('/event/notDate', 'gt', 'a'), false);
  check(leaf('/event/notDate', 'lt', 'z'), false);
  check(leaf('/event/day', 'lt', '2026-06-03T00:00:00Z'), false);
  check(leaf('/event/count', 'gte', 0), false);
  check(leaf('/event/total', 'gt', '1'), false);
  check(leaf('/event/at', 'gt', 0), false);
  check(leaf('/event/missing', 'lt', 1), false);
  check(leaf('/event/nothing', 'lt', 1), false);
  check(leaf('/event/flag', 'lt', true), false);
  check(leaf('/event/at', 'gt', '2026-02-30T10:00:00Z'), false);
});

test('in / nin: membership by eq, absent never in', () => {
  check(leaf('/profile/plan', 'in', ['Pro', 'Team']), true);
  check(leaf('/profile/plan', 'in', ['Free']), false);
  check(leaf('/profile/plan', 'in', []), false);
  check(leaf('/event/count', 'in', [1, 2]), false);
  check(leaf('/event/obj', 'in', [{ x: 1, y: [1, 2] }]), true);
  check(leaf('/event/nothing', 'in', [null]), true);
  check(leaf('/event/missing', 'in', [null]), false);
  check(leaf('/profile/plan', 'nin', ['Free']), true);
  check(leaf('/profile/plan', 'nin', ['Pro']), false);
  check(leaf('/event/missing', 'nin', ['x']), true);
  check(leaf('/profile/plan', 'in', ['pro', 'team'], true), true);
  check(leaf('/profile/plan', 'nin', ['PRO'], true), false);
  check(leaf('/profile/plan', 'in', 'Pro'), false);
});

test('exists: present and not null; value false inverts', () => {
  check(leaf('/event/total', 'exists'), true);
  check(leaf('/event/flag', 'exists'), true);
  check(leaf('/event/empty', 'exists'), true);
  check(leaf('/event/nothing', 'exists'), false);
  check(leaf('/event/missing', 'exists'), false);
  check(leaf('/event/total', 'exists', true), true);
  check(leaf('/event/total', 'exists', false), false);
  check(leaf('/event/nothing', 'exists', false), true);
  check(leaf('/event/missing', 'exists', false), true);
});

test('contains: substring for strings, eq item for arrays, otherwise false', () => {
  check(leaf('/profile/email', 'contains', '@example.'), true);
  check(leaf('/profile/email', 'contains', 'EXAMPLE'), false);
  check(leaf('/profile/email', 'contains', 'EXAMPLE', true), true);
  check(leaf('/profile/email', 'contains', ''), true);
  check(leaf('/event/tags', 'contains', 'vip'), true);
  check(leaf('/event/tags', 'contains', 'vi'), false);
  check(leaf('/event/tags', 'contains', 'beta'), false);
  check(leaf('/event/tags', 'contains', 'beta', true), true);
  check(leaf('/event/tags', 'contains', 3), true);
  check(leaf('/event/tags', 'contains', '3'), false);
  check(leaf('/event/tags', 'contains', { k: 1 }), true);
  check(leaf('/event/tags', 'contains', null), true);
  check(leaf('/event/total', 'contains', 8), false);
  check(leaf('/event/count', 'contains', 1), false);
  check(leaf('/event/obj', 'contains', 1), false);
  check(leaf('/event/missing', 'contains', 'x'), false);
});

test('startsWith: string prefix only', () => {
  check(leaf('/profile/email', 'startsWith', 'sam@'), true);
  check(leaf('/profile/email', 'startsWith', 'SAM'), false);
  check(leaf('/profile/email', 'startsWith', 'SAM', true), true);
  check(leaf('/profile/email', 'startsWith', 'example'), false);
  check(leaf('/event/total', 'startsWith', '8'), false);
  check(leaf('/event/tags', 'startsWith', 'vip'), false);
  check(leaf('/event/missing', 'startsWith', ''), false);
});

test('ignoreCase folds strings for eq (also inside arrays and objects, not member names) and beyond ASCII', () => {
  check(leaf('/profile/plan', 'eq', 'PRO'), false);
  check(leaf('/profile/plan', 'eq', 'PRO', true), true);
  check(leaf('/profile/plan', 'eq', 'PRO', false), false);
  check(leaf('/event/name', 'eq', 'STRASSE MUELLER', true), true);
  check(leaf('/event/obj', 'eq', { X: 1, y: [1, 2] }, true), false);
  check(leaf('/waited/wait_order', 'eq', { cartId: 'C1' }, true), true);
  // Folding never makes different types equal.
  check(leaf('/event/count', 'eq', 1, true), false);
});

test('$state values are read from the same state; an absent one matches nothing', () => {
  check(leaf('/candidate/cartId', 'eq', { $state: '/event/cartId' }), true);
  check(leaf('/candidate/cartId', 'eq', { $state: '/waited/wait_order/cartId' }), true);
  check(leaf('/candidate/cartId', 'eq', { $state: '/variables/want' }), true);
  check(leaf('/candidate/cartId', 'eq', { $state: '/event/missing' }), false);
  check(leaf('/candidate/cartId', 'neq', { $state: '/event/missing' }), true);
  check(leaf('/event/total', 'lt', { $state: '/variables/limit' }), false);
  check(leaf('/event/total', 'gt', { $state: '/variables/limit' }), true);
  check(leaf('/event/at', 'lt', { $state: '/variables/max' }), true);
  check(leaf('/profile/plan', 'in', { $state: '/variables/plans' }), true);
  check(leaf('/profile/plan', 'nin', { $state: '/variables/missing' }), true);
  check(leaf('/profile/plan', 'in', { $state: '/variables/missing' }), false);
  check(leaf('/event/nothing', 'eq', { $state: '/event/missing' }), false);
  check(leaf('/event/tags', 'contains', { $state: '/waited/wait_order/cartId' }), false);
});

test('all, any and not combine; a missing root reads as absent', () => {
  const pro: Condition = { path: '/profile/plan', op: 'eq', value: 'Pro' };
  const big: Condition = { path: '/event/total', op: 'gte', value: 100 };
  check({ all: [pro, { path: '/event/total', op: 'gte', value: 20 }] }, true);
  check({ all: [pro, big] }, false);
  check({ any: [big, pro] }, true);
  check({ any: [big, { not: pro }] }, false);
  check({ not: big }, true);
  check({ not: { not: pro } }, true);
  check({ all: [{ any: [big, { not: { path: '/event/missing', op: 'exists' } }] }, pro] }, true);
  assert.equal(evaluateCondition({ path: '/candidate/cartId', op: 'exists' }, { event: {} }), false);
  assert.equal(evaluateCondition({ path: '/candidate/cartId', op: 'neq', value: 'c1' }, { event: {} }), true);
});
