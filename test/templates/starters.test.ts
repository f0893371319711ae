/** The starter templates are valid definitions and render completely with the data they document. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingForPublish, normalizeDefinition, validateDefinition } from '../../src/modules/templates/render/definition.js';
import { compileTemplate, renderTemplate } from '../../src/modules/templates/render/render.js';
import { STARTER_TEMPLATES } from '../../src/modules/templates/starters.js';

const SAMPLE = {
  profile: { firstName: 'Sam', email: 'sam@example.com' },
  data: {
    orderId: 'ord_1',
    total: '$42.00',
    orderUrl: 'https://shop.example/orders/ord_1',
    items: [{ name: 'Mug', quantity: 2, price: '$21.00' }],
    startUrl: 'https://app.example/start',
    resetUrl: 'https://app.example/reset?token=abc',
  },
};

for (const [name, starter] of Object.entries(STARTER_TEMPLATES)) {
  test(`starter ${name} validates, is complete with a sender, and renders without missing paths`, () => {
    assert.deepEqual(validateDefinition(starter.definition), []);
    const def = normalizeDefinition(starter.definition);
    assert.deepEqual(missingForPublish(def, true), []);
    const rendered = renderTemplate(compileTemplate(def, { purpose: starter.purpose ?? 'General', language: 'en' }), { ...SAMPLE, variables: def.renderVariables });
    assert.ok(rendered.ok);
    assert.deepEqual(rendered.value.missingPaths, []);
    assert.notEqual(rendered.value.subject, '');
    assert.match(rendered.value.html, /^<!DOCTYPE html>/);
  });
}

test('order confirmation shows the order lines and the link', () => {
  const def = normalizeDefinition(STARTER_TEMPLATES['order-confirmation'].definition);
  const rendered = renderTemplate(compileTemplate(def, { purpose: 'Transactional', language: 'en' }), SAMPLE);
  assert.ok(rendered.ok);
  assert.equal(rendered.value.subject, 'Order ord_1 confirmed');
  assert.ok(rendered.value.html.includes('Mug'));
  assert.ok(rendered.value.html.includes('href="https://shop.example/orders/ord_1"'));
  assert.ok(rendered.value.text.includes('Mug'));
});
