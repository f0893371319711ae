/** Condition validation (journeys.md §3): shape, operators, values per operator, limits, pointer syntax and roots. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CANDIDATE_FILTER_ROOTS,
  ENTRY_FILTER_ROOTS,
  RUN_STATE_ROOTS,
  validateCondition,
  type Condition,
} from '../../../src/modules/journeys/definition/condition.js';

const pointers = (value: unknown, roots: Parameters<typeof validateCondition>[2] = null): string[] =>
  validateCondition(value, '/c', roots).map((e) => e.pointer);

const leaf: Condition = { path: '/event/x', op: 'eq', value: 1 };

test('valid conditions of every form and operator have no errors', () => {
  const valid: unknown[] = [
    leaf,
    { all: [leaf] },
    { any: [leaf, { not: leaf }] },
    { path: '/event/x', op: 'neq', value: null, ignoreCase: true },
    { path: '/event/x', op: 'gt', value: 1.5 },
    { path: '/event/x', op: 'gte', value: '2026-06-02T10:00:00Z' },
    { path: '/event/x', op: 'lt', value: { $state: '/variables/max' } },
    { path: '/event/x', op: 'lte', value: -3 },
    { path: '/event/x', op: 'in', value: [] },
    { path: '/event/x', op: 'nin', value: Array.from({ length: 1000 }, (_, i) => i) },
    { path: '/event/x', op: 'exists' },
    { path: '/event/x', op: 'exists', value: false },
    { path: '/event/x', op: 'contains', value: { a: 1 } },
    { path: '/event/x', op: 'startsWith', value: '', ignoreCase: false },
    { path: '/event/a~1b/~0c', op: 'eq', value: { $state: '/waited/s/x' } },
    { path: '/event/x', op: 'eq', value: { nested: { $state: 'not a reference at depth' } } },
  ];
  for (const c of valid) assert.deepEqual(validateCondition(c, '/c', null), [], JSON.stringify(c));
});

test('shape: not an object, unknown forms, unknown fields, groups of 1–50', () => {
  assert.deepEqual(pointers('x'), ['/c']);
  assert.deepEqual(pointers(null), ['/c']);
  assert.deepEqual(pointers([leaf]), ['/c']);
  assert.deepEqual(pointers({}), ['/c']);
  assert.deepEqual(pointers({ some: [leaf] }), ['/c']);
  assert.deepEqual(pointers({ all: [leaf], extra: 1 }), ['/c/extra']);
  assert.deepEqual(pointers({ all: [leaf], any: [leaf] }), ['/c/any']);
  assert.deepEqual(pointers({ ...leaf, note: 'x' }), ['/c/note']);
  assert.deepEqual(pointers({ all: [] }), ['/c/all']);
  assert.deepEqual(pointers({ any: Array.from({ length: 51 }, () => leaf) }), ['/c/any']);
  assert.deepEqual(pointers({ all: leaf }), ['/c/all']);
  assert.deepEqual(pointers({ all: [leaf, 'x', { not: 3 }] }), ['/c/all/1', '/c/all/2/not']);
});

test('path and op: JSON Pointer syntax, closed list of operators', () => {
  assert.deepEqual(pointers({ op: 'eq', value: 1 }), ['/c/path']);
  assert.deepEqual(pointers({ path: 'event/x', op: 'eq', value: 1 }), ['/c/path']);
  assert.deepEqual(pointers({ path: '', op: 'eq', value: 1 }), ['/c/path']);
  assert.deepEqual(pointers({ path: '/event/~2', op: 'eq', value: 1 }), ['/c/path']);
  assert.deepEqual(pointers({ path: 3, op: 'eq', value: 1 }), ['/c/path']);
  assert.deepEqual(pointers({ path: '/event/' + 'x'.repeat(1024), op: 'eq', value: 1 }), ['/c/path']);
  assert.deepEqual(pointers({ path: '/event/x', value: 1 }), ['/c/op']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'equals', value: 1 }), ['/c/op']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'EQ', value: 1 }), ['/c/op']);
});

test('value per operator', () => {
  assert.deepEqual(pointers({ path: '/event/x', op: 'eq' }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'contains' }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'gt', value: '5' }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'gt', value: true }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'lt', value: '2026-02-30T10:00:00Z' }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'in', value: 'Pro' }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'nin', value: Array.from({ length: 1001 }, () => 1) }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'startsWith', value: 1 }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'exists', value: 'yes' }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'exists', value: { $state: '/event/y' } }), ['/c/value']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'eq', ignoreCase: 'yes', value: 1 }), ['/c/ignoreCase']);
});

test('$state values: exactly {"$state": pointer}', () => {
  assert.deepEqual(pointers({ path: '/event/x', op: 'eq', value: { $state: 'event/y' } }), ['/c/value/$state']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'eq', value: { $state: 7 } }), ['/c/value/$state']);
  assert.deepEqual(pointers({ path: '/event/x', op: 'eq', value: { $state: '/event/y', extra: 1 } }), ['/c/value/extra']);
});

test('depth ≤ 10 and ≤ 200 nodes', () => {
  let nine: unknown = leaf;
  for (let i = 0; i < 9; i++) nine = { not: nine };
  assert.deepEqual(validateCondition(nine, '/c', null), []);
  const eleven = { not: nine };
  const errors = validateCondition(eleven, '/c', null);
  assert.deepEqual(errors.map((e) => e.pointer), ['/c' + '/not'.repeat(10)]);
  assert.match(errors[0]!.message, /10 levels/);

  const items = (n: number): Condition[] => Array.from({ length: n }, () => leaf);
  // 1 + 4 groups × (1 + 49 leaves) = 201 nodes; 1 + 4 × (1 + 48) + 3 = 200 nodes.
  const over = { all: [{ all: items(49) }, { all: items(49) }, { all: items(49) }, { all: items(49) }] };
  const at = { all: [{ all: items(48) }, { all: items(48) }, { all: items(48) }, { all: items(48) }, ...items(3)] };
  assert.deepEqual(validateCondition(at, '/c', null), []);
  const nodes = validateCondition(over, '/c', null);
  assert.deepEqual(nodes.map((e) => e.pointer), ['/c']);
  assert.match(nodes[0]!.message, /200 nodes/);
});

test('pointer roots are checked only when roots are given, for paths and $state values', () => {
  const c = { all: [{ path: '/variables/x', op: 'eq', value: { $state: '/candidate/y' } }, { path: '/profile/plan', op: 'exists' }] };
  assert.deepEqual(pointers(c), []);
  assert.deepEqual(pointers(c, ENTRY_FILTER_ROOTS), ['/c/all/0/path', '/c/all/0/value/$state']);
  assert.deepEqual(pointers(c, RUN_STATE_ROOTS), ['/c/all/0/value/$state']);
  assert.deepEqual(pointers(c, CANDIDATE_FILTER_ROOTS), []);
  assert.deepEqual(pointers({ path: '/', op: 'exists' }, CANDIDATE_FILTER_ROOTS), ['/c/path']);
  assert.deepEqual(pointers({ path: '/brand/x', op: 'exists' }, CANDIDATE_FILTER_ROOTS), ['/c/path']);
  assert.deepEqual(pointers({ path: '/profile/x', op: 'exists' }, ['profile']), []);
  const [error] = validateCondition({ path: '/variables/x', op: 'exists' }, '/c', ENTRY_FILTER_ROOTS);
  assert.match(error!.message, /\/event, \/profile/);
});
