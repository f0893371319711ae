/** Semantic rules of a journey definition (journeys.md §4 → 422): graph, references, roots per context, eligibility key, publication. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  entryKeyText,
  publicationReasonOf,
  referencedIds,
  validateDefinitionSemantics,
  validateDefinitionStructure,
  type JourneyDefinition,
} from '../../../src/modules/journeys/definition/definition.js';
import { abandonedCart, GROUP_ID, loose, organization, SENDER_ID, TEMPLATE_ID, TRANSACTIONAL_TEMPLATE_ID } from './support.js';

const draft = { requirePublished: false };
const active = { requirePublished: true };

/** Checks the structure is clean first, as the API does, then returns the semantic errors. */
function semantic(def: Record<string, unknown> | JourneyDefinition, refs = organization(), options = draft) {
  assert.deepEqual(validateDefinitionStructure(def), [], 'structure must be valid for a semantic test');
  return validateDefinitionSemantics(def as JourneyDefinition, refs, options);
}
const pointers = (def: Record<string, unknown>, refs = organization(), options = draft): string[] => semantic(def, refs, options).map((e) => e.pointer);

test('the abandoned-cart example of §2 validates clean, also for activation', () => {
  assert.deepEqual(semantic(abandonedCart()), []);
  assert.deepEqual(semantic(abandonedCart(), organization(), active), []);
});

test('acceptance §10.2: a dangling next and an unreachable step, both reported, sorted by pointer', () => {
  const def = loose();
  def.steps.remind.next = 'nowhere';
  def.steps.orphan = { type: 'exit' };
  const errors = semantic(def);
  assert.deepEqual(errors.map((e) => e.pointer), ['/steps/orphan', '/steps/remind/next']);
  assert.match(errors[1]!.message, /"nowhere" is not a step/);
  assert.match(errors[0]!.message, /not reachable/);
});

test('start must name a step (and reachability is then not reported)', () => {
  const def = loose();
  def.start = 'begin';
  assert.deepEqual(pointers(def), ['/start']);
});

test('every link field is checked for dangling ids', () => {
  const def = loose();
  def.start = 'b';
  def.steps = {
    b: { type: 'branch', condition: { path: '/event/total', op: 'gt', value: 1 }, then: 'w', else: 'x-else' },
    w: { type: 'wait_for_event', event: 'e', timeout: 'PT1H', onEvent: 'x-onEvent', onTimeout: 'w2' },
    w2: { type: 'wait_for_event', event: 'e', timeout: 'PT1H', onEvent: 'u', onTimeout: 'x-onTimeout' },
    u: { type: 'update_profile', properties: { a: 1 }, next: 'b2' },
    b2: { type: 'branch', condition: { path: '/event/total', op: 'gt', value: 2 }, then: 'x-then', else: 'remind' },
    remind: { type: 'send_email', templateId: TEMPLATE_ID, subscriptionGroupId: GROUP_ID, next: 'REMIND' },
  };
  assert.deepEqual(pointers(def), ['/steps/b/else', '/steps/b2/then', '/steps/remind/next', '/steps/w/onEvent', '/steps/w2/onTimeout']);
});

test('unreachable steps: every step not reachable from start, including chains behind it', () => {
  const def = loose();
  def.steps.island = { type: 'delay', duration: 'PT1M', next: 'island2' };
  def.steps.island2 = { type: 'exit' };
  assert.deepEqual(pointers(def), ['/steps/island', '/steps/island2']);
});

test('a cycle is reported at the link that closes it, with the cycle in the message', () => {
  const def = loose();
  def.steps.remind.next = 'pause';
  def.steps.pause = { type: 'delay', duration: 'P1D', next: 'wait_order' };
  const errors = semantic(def);
  assert.deepEqual(errors.map((e) => e.pointer), ['/steps/pause/next']);
  assert.equal(errors[0]!.message, 'creates a cycle: wait_order → remind → pause → wait_order');
});

test('self loops, branch cycles and cycles among unreachable steps are all found', () => {
  const def = loose();
  def.steps.remind.next = 'remind';
  assert.deepEqual(pointers(def), ['/steps/remind/next']);

  const branchy = loose();
  branchy.steps.remind.next = 'check';
  branchy.steps.check = { type: 'branch', condition: { path: '/profile/plan', op: 'exists' }, then: 'done', else: 'wait_order' };
  assert.deepEqual(pointers(branchy), ['/steps/check/else']);

  const islands = loose();
  islands.steps.a = { type: 'delay', duration: 'PT1M', next: 'b' };
  islands.steps.b = { type: 'delay', duration: 'PT1M', next: 'a' };
  const errors = semantic(islands);
  assert.deepEqual(errors.map((e) => e.pointer), ['/steps/a', '/steps/b', '/steps/b/next']);
  assert.match(errors[2]!.message, /a → b → a/);
});

test('a diamond (two paths to one step) is not a cycle', () => {
  const def = loose();
  def.steps.wait_order.onEvent = 'remind';
  assert.deepEqual(pointers(def), []);
});

test('references: template, subscription group and sender profile must exist (ids compared case-insensitively)', () => {
  const def = loose();
  def.steps.remind.templateId = '0190f400-0000-7000-8000-00000000dead';
  def.steps.remind.subscriptionGroupId = '0190f3f0-0000-7000-8000-00000000dead';
  def.steps.remind.senderProfileId = '0190f3e0-0000-7000-8000-00000000dead';
  assert.deepEqual(pointers(def), ['/steps/remind/senderProfileId', '/steps/remind/subscriptionGroupId', '/steps/remind/templateId']);

  const upper = loose();
  upper.steps.remind.templateId = TEMPLATE_ID.toUpperCase();
  upper.steps.remind.subscriptionGroupId = GROUP_ID.toUpperCase();
  upper.steps.remind.senderProfileId = SENDER_ID.toUpperCase();
  assert.deepEqual(pointers(upper), []);
});

test('a non-transactional template needs a subscriptionGroupId; a transactional one does not', () => {
  const def = loose();
  delete def.steps.remind.subscriptionGroupId;
  const errors = semantic(def);
  assert.deepEqual(errors.map((e) => e.pointer), ['/steps/remind/subscriptionGroupId']);
  assert.match(errors[0]!.message, /General/);
  def.steps.remind.templateId = TRANSACTIONAL_TEMPLATE_ID;
  assert.deepEqual(pointers(def), []);
});

test('requirePublished: unpublished and archived templates, with their reason in the message', () => {
  const unpublished = semantic(abandonedCart(), organization({ published: false }), active);
  assert.deepEqual(unpublished.map((e) => e.pointer), ['/steps/remind/templateId']);
  assert.equal(publicationReasonOf(unpublished[0]!), 'template_not_published');
  const archived = semantic(abandonedCart(), organization({ published: true, archived: true }), active);
  assert.equal(publicationReasonOf(archived[0]!), 'template_archived');
  assert.match(archived[0]!.message, /^template_archived: /);
  // Drafts may refer to unpublished or archived templates.
  assert.deepEqual(semantic(abandonedCart(), organization({ published: false, archived: true }), draft), []);
  assert.equal(publicationReasonOf({ pointer: '/start', message: '"x" is not a step' }), null);
});

test('entry.filter roots: /event and /profile only', () => {
  const def = loose();
  def.entry.filter = { any: [{ path: '/variables/x', op: 'exists' }, { path: '/profile/plan', op: 'eq', value: { $state: '/waited/w/x' } }, { path: '/candidate/x', op: 'exists' }] };
  assert.deepEqual(pointers(def), ['/entry/filter/any/0/path', '/entry/filter/any/1/value/$state', '/entry/filter/any/2/path']);
});

test('branch, update_profile $state and delay.until roots: /event, /profile, /variables, /waited — not /candidate', () => {
  const def = loose();
  def.steps.remind.next = 'b';
  def.steps.b = {
    type: 'branch',
    condition: { all: [{ path: '/waited/wait_order/cartId', op: 'exists' }, { path: '/candidate/cartId', op: 'exists' }, { path: '/variables/x', op: 'eq', value: { $state: '/brand/x' } }] },
    then: 'u',
    else: 'd',
  };
  def.steps.u = { type: 'update_profile', properties: { ok: { $state: '/variables/x' }, bad: { $state: '/candidate/x' }, literal: { state: '/candidate/x' } }, next: 'done' };
  def.steps.d = { type: 'delay', until: '/candidate/renewsOn', next: 'd2' };
  def.steps.d2 = { type: 'delay', until: '/profile/renewsOn', offset: '-P1D', next: 'done' };
  assert.deepEqual(pointers(def), ['/steps/b/condition/all/1/path', '/steps/b/condition/all/2/value/$state', '/steps/d/until', '/steps/u/properties/bad/$state']);
});

test('wait_for_event.filter and exitOn filters may also use /candidate, nothing else', () => {
  const def = loose();
  def.exitOn = [{ event: 'account.closed', filter: { all: [{ path: '/candidate/reason', op: 'eq', value: { $state: '/variables/reason' } }, { path: '/data/x', op: 'exists' }] } }];
  def.steps.wait_order.filter = { any: [{ path: '/candidate/cartId', op: 'eq', value: { $state: '/waited/x/y' } }, { path: '/profile/x', op: 'exists' }, { path: '/brand/x', op: 'exists' }] };
  assert.deepEqual(pointers(def), ['/exitOn/0/filter/all/1/path', '/steps/wait_order/filter/any/2/path']);
});

test('eligibility key: required with once_per_key, only with once_per_key, root per entry type', () => {
  const missing = loose();
  delete missing.eligibility.key;
  assert.deepEqual(pointers(missing), ['/eligibility/key']);

  const extra = loose();
  extra.eligibility = { reEntry: 'once', key: '/event/cartId' };
  assert.deepEqual(pointers(extra), ['/eligibility/key']);

  const wrongRoot = loose();
  wrongRoot.eligibility.key = '/variables/cartId';
  assert.deepEqual(pointers(wrongRoot), ['/eligibility/key']);
  wrongRoot.eligibility.key = '/event';
  assert.deepEqual(pointers(wrongRoot), ['/eligibility/key']);

  const api = loose();
  api.entry = { type: 'api' };
  assert.deepEqual(pointers(api), ['/eligibility/key']);
  api.eligibility.key = '/variables/cartId';
  assert.deepEqual(pointers(api), []);

  const defaults = loose();
  delete defaults.eligibility;
  assert.deepEqual(pointers(defaults), []);
});

test('all semantic errors at once, sorted by pointer, at most 50', () => {
  const def = loose();
  for (let i = 0; i < 60; i++) def.steps[`o${String(i).padStart(2, '0')}`] = { type: 'exit' };
  def.steps.remind.next = 'nowhere';
  const errors = pointers(def);
  assert.equal(errors.length, 50);
  assert.deepEqual(errors, [...errors].sort());
  assert.equal(errors[0], '/steps/o00');
});

test('referencedIds lists each id once, lower-cased and sorted', () => {
  const def = loose();
  def.steps.remind.next = 'again';
  def.steps.again = { type: 'send_email', templateId: TEMPLATE_ID.toUpperCase(), subscriptionGroupId: GROUP_ID, senderProfileId: SENDER_ID, next: 'tx' };
  def.steps.tx = { type: 'send_email', templateId: TRANSACTIONAL_TEMPLATE_ID, next: 'done' };
  assert.deepEqual(referencedIds(def as JourneyDefinition), {
    templateIds: [TEMPLATE_ID, TRANSACTIONAL_TEMPLATE_ID],
    subscriptionGroupIds: [GROUP_ID],
    senderProfileIds: [SENDER_ID],
  });
  assert.deepEqual(referencedIds({ entry: { type: 'api' }, start: 'x', steps: { x: { type: 'exit' } } }), { templateIds: [], subscriptionGroupIds: [], senderProfileIds: [] });
});

test('entryKeyText: strings as is, numbers and booleans in JSON notation, anything else missing', () => {
  const def = abandonedCart();
  assert.deepEqual(entryKeyText(def, { cartId: 'c1' }), { ok: true, key: 'c1' });
  assert.deepEqual(entryKeyText(def, { cartId: '' }), { ok: true, key: '' });
  assert.deepEqual(entryKeyText(def, { cartId: 42 }), { ok: true, key: '42' });
  assert.deepEqual(entryKeyText(def, { cartId: 4.5 }), { ok: true, key: '4.5' });
  assert.deepEqual(entryKeyText(def, { cartId: 1e21 }), { ok: true, key: '1e+21' });
  assert.deepEqual(entryKeyText(def, { cartId: true }), { ok: true, key: 'true' });
  for (const cartId of [null, ['c1'], { id: 'c1' }, undefined]) {
    assert.deepEqual(entryKeyText(def, cartId === undefined ? {} : { cartId }), { ok: false, reason: 'entry_key_missing' }, JSON.stringify(cartId));
  }
  const api: JourneyDefinition = { entry: { type: 'api' }, eligibility: { reEntry: 'once_per_key', key: '/variables/order/id' }, start: 'x', steps: { x: { type: 'exit' } } };
  assert.deepEqual(entryKeyText(api, { order: { id: 7 } }), { ok: true, key: '7' });
  assert.deepEqual(entryKeyText({ ...api, eligibility: { reEntry: 'always' } }, { order: { id: 7 } }), { ok: false, reason: 'entry_key_missing' });
});
