/**
 * stateRootsRead: which render-state roots a definition may read (the delivery worker loads a
 * journey run's /event, /variables and /waited only when the template reads them).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stateRootsRead } from '../../../src/modules/templates/render/state-pointers.js';

test('pointers in $state, $template placeholders, repeat paths and conditions, at any depth', () => {
  const definition = {
    subject: { $template: 'Order ${/event/orderId} for ${/profile/firstName}' },
    body: {
      root: 'e',
      elements: {
        e: { type: 'Email', props: {}, children: ['r', 'b'] },
        r: { type: 'Section', props: {}, children: [], repeat: { statePath: '/waited/w/items' } },
        b: { type: 'Button', props: { label: 'Go', href: { $state: '/variables/url' } }, visible: { path: '/data/show', op: 'exists' } },
      },
    },
  };
  assert.deepEqual([...stateRootsRead(definition)].sort(), ['data', 'event', 'profile', 'variables', 'waited']);
});

test('plain text, unknown roots and invalid pointers add nothing', () => {
  assert.deepEqual([...stateRootsRead({ subject: 'Hello', text: 'a/b ${nope} ${/unknown/x} /', n: 5, ok: true, none: null })], []);
  assert.deepEqual([...stateRootsRead({ subject: { $template: '${/event}' } })], ['event']);
});
