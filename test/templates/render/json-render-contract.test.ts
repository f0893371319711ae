/**
 * What the renderer relies on from @json-render/core 0.21.4, pinned so an upgrade that changes it
 * fails here first: how `$state` / `$item` / `$index` / `$cond` / `$template` resolve (including
 * missing paths, which json-render turns into undefined or "" without telling anyone — hence our
 * own missingPaths tracking), visibility conditions, and repeat visibility splitting. A
 * differential test checks that our compiled evaluators agree with `resolvePropValue` wherever
 * the spec does not ask for something different.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  evaluateVisibility,
  getByPath,
  resolvePropValue,
  splitRepeatVisibility,
  VisibilityConditionStrictSchema,
  type PropResolutionContext,
} from '@json-render/core';
import { compileText } from '../../../src/modules/templates/render/compile-value.js';
import type { RenderRun } from '../../../src/modules/templates/render/plan.js';

const state = { event: { orderId: 'o1', n: 3, zero: 0, nil: null, obj: { a: 1 }, list: [1, 2], items: [{ name: 'A' }, { name: 'B' }] }, profile: {} };
const ctx: PropResolutionContext = { stateModel: state };

test('json-render: pointer lookups; a missing path is undefined, never an error', () => {
  assert.equal(getByPath(state, '/event/orderId'), 'o1');
  assert.equal(getByPath(state, '/event/items/1/name'), 'B');
  assert.equal(getByPath(state, '/profile/firstName'), undefined);
  assert.equal(getByPath(state, '/event/orderId/length'), undefined, 'no property access on strings');
  assert.equal(getByPath(state, '/event/list/length'), undefined, 'no "length" of arrays');
  assert.equal(getByPath(state, '/event/__proto__'), undefined, 'own properties only');
  assert.equal(getByPath(state, '/event/nil/x'), undefined);
  assert.equal(resolvePropValue({ $state: '/profile/firstName' }, ctx), undefined);
  assert.equal(resolvePropValue({ $state: '/event/nil' }, ctx), null);
});

test('json-render: $template turns missing and null into "", but objects into "[object Object]" (so we interpolate ourselves)', () => {
  assert.equal(resolvePropValue({ $template: 'Hi ${/profile/firstName}!' }, ctx), 'Hi !');
  assert.equal(resolvePropValue({ $template: '${/event/nil}|${/event/zero}|${/event/n}' }, ctx), '|0|3');
  assert.equal(resolvePropValue({ $template: '${/event/obj}' }, ctx), '[object Object]');
  assert.equal(resolvePropValue({ $template: '${/event/list}' }, ctx), '1,2');
  assert.equal(resolvePropValue({ $template: '${}' }, ctx), '${}', 'an empty placeholder is literal text');
});

test('json-render: $item / $index resolve only inside a repeat scope', () => {
  assert.equal(resolvePropValue({ $item: 'name' }, ctx), undefined);
  assert.equal(resolvePropValue({ $index: true }, ctx), undefined);
  const item: PropResolutionContext = { stateModel: state, repeatItem: { name: 'A', tags: ['x'] }, repeatIndex: 4, repeatBasePath: '/event/items/4' };
  assert.equal(resolvePropValue({ $item: 'name' }, item), 'A');
  assert.equal(resolvePropValue({ $item: '/name' }, item), 'A');
  assert.equal(resolvePropValue({ $item: 'tags/0' }, item), 'x');
  assert.deepEqual(resolvePropValue({ $item: '' }, item), { name: 'A', tags: ['x'] });
  assert.equal(resolvePropValue({ $index: true }, item), 4);
  assert.equal(resolvePropValue({ $item: 'missing' }, item), undefined);
});

test('json-render: $cond and visibility conditions; missing paths are falsy', () => {
  assert.equal(resolvePropValue({ $cond: { $state: '/event/n', gt: 2 }, $then: 'big', $else: 'small' }, ctx), 'big');
  assert.equal(resolvePropValue({ $cond: { $state: '/profile/x' }, $then: 'yes', $else: { $state: '/event/orderId' } }, ctx), 'o1');
  const visible = (condition: unknown) => evaluateVisibility(condition as never, ctx);
  assert.equal(visible(undefined), true);
  assert.equal(visible({ $state: '/profile/firstName' }), false);
  assert.equal(visible({ $state: '/profile/firstName', not: true }), true);
  assert.equal(visible({ $state: '/event/orderId', eq: 'o1' }), true);
  assert.equal(visible({ $state: '/event/orderId', eq: { $state: '/event/orderId' } }), true);
  assert.equal(visible({ $state: '/event/n', gte: 3 }), true);
  assert.equal(visible({ $state: '/event/orderId', gt: 1 }), false, 'ordering compares numbers only');
  assert.equal(visible([{ $state: '/event/n' }, { $state: '/event/zero' }]), false);
  assert.equal(visible({ $or: [{ $state: '/event/zero' }, { $state: '/event/n' }] }), true);
  assert.equal(visible({ $and: [true, { $state: '/event/n', lt: 3 }] }), false);
});

test('json-render: the strict condition schema and repeat visibility splitting', () => {
  const valid = (c: unknown) => VisibilityConditionStrictSchema.safeParse(c).success;
  assert.equal(valid({ $state: '/a', eq: 1, not: true }), true);
  assert.equal(valid({ $and: [{ $or: [true, { $item: 'x' }] }, { $index: true, lt: 2 }] }), true);
  assert.equal(valid({ $state: '/a', $item: 'x' }), false);
  assert.equal(valid({ $state: '/a', foo: 1 }), false);
  assert.equal(valid({ $state: '/a', gt: 'x' }), false);
  assert.equal(valid('yes'), false);
  assert.deepEqual(splitRepeatVisibility([{ $state: '/a' }, { $item: 'x' }]), { container: { $and: [{ $state: '/a' }] }, itemFilter: { $and: [{ $item: 'x' }] } });
  assert.deepEqual(splitRepeatVisibility({ $state: '/a' }), { container: { $state: '/a' }, itemFilter: undefined });
});

test('our compiled text values agree with resolvePropValue for scalars, and differ only where the spec says', () => {
  const run = (): RenderRun => ({ missing: new Set(), locale: 'en', html: '', text: [], nodes: 0 });
  const item: PropResolutionContext = { stateModel: state, repeatItem: { name: 'A' }, repeatIndex: 1, repeatBasePath: '/event/items/1' };
  const agree = [
    { $state: '/event/orderId' },
    { $state: '/event/n' },
    { $template: 'Order ${/event/orderId} of ${/event/n} (${/event/zero})' },
    { $cond: { $state: '/event/n', eq: 3 }, $then: { $template: '#${/event/orderId}' }, $else: 'none' },
    { $cond: [{ $state: '/event/zero' }], $then: 'a', $else: { $state: '/event/n' } },
    { $item: 'name' },
    { $index: true },
    'literal',
  ];
  for (const value of agree) {
    const ours = compileText(value)(run(), item);
    const theirs = resolvePropValue(value, item);
    assert.equal(ours, String(theirs), JSON.stringify(value));
  }
  // Where we differ on purpose (§4 Str, §6.3): objects and arrays are "" and recorded, null is "".
  const r = run();
  assert.equal(compileText({ $template: '[${/event/obj}][${/event/list}]' })(r, ctx), '[][]');
  assert.equal(compileText({ $state: '/event/nil' })(r, ctx), '');
  assert.deepEqual([...r.missing], ['/event/obj', '/event/list', '/event/nil']);
});
