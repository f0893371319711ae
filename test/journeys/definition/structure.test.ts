/** Structure rules of a journey definition (journeys.md §2, §4 → 400): each error with its pointer. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateDefinitionStructure } from '../../../src/modules/journeys/definition/definition.js';
import { abandonedCart, GROUP_ID, loose, TEMPLATE_ID } from './support.js';

const pointers = (value: unknown): string[] => validateDefinitionStructure(value).map((e) => e.pointer);

test('the abandoned-cart example of §2 is structurally valid', () => {
  assert.deepEqual(validateDefinitionStructure(abandonedCart()), []);
});

test('every step type in its valid forms, and an API entry', () => {
  const def = {
    entry: { type: 'api' },
    eligibility: { reEntry: 'once', maxActiveRunsPerProfile: 100 },
    start: 'a',
    steps: {
      a: { type: 'delay', duration: 'P1DT12H', next: 'b' },
      b: { type: 'delay', until: '/variables/renewsOn', offset: '-P7D', next: 'c' },
      c: { type: 'delay', until: '/profile/birthday' },
      d: { type: 'branch', condition: { path: '/variables/plan', op: 'eq', value: 'Pro' }, then: 'e', else: 'f' },
      e: { type: 'update_profile', properties: { stage: 'nurtured', score: 5, tags: ['a'], meta: { x: null }, copied: { $state: '/variables/plan' } }, next: 'f' },
      f: { type: 'send_email', templateId: TEMPLATE_ID.toUpperCase(), subscriptionGroupId: GROUP_ID, senderProfileId: '00000000-0000-0000-0000-000000000000' },
      'G_h-9': { type: 'wait_for_event', event: 'x', timeout: 'PT1S', onEvent: 'f', onTimeout: 'a' },
      z: { type: 'exit' },
    },
  };
  assert.deepEqual(validateDefinitionStructure(def), []);
});

test('top level: object, required fields, unknown fields', () => {
  assert.deepEqual(pointers(null), ['']);
  assert.deepEqual(pointers([]), ['']);
  assert.deepEqual(pointers({}), ['/entry', '/start', '/steps']);
  const def = loose();
  def.name = 'x';
  def['a/b'] = 1;
  assert.deepEqual(pointers(def), ['/a~1b', '/name']);
});

test('entry: type, event name 1–255 without control characters, filter shape, no filter on API entry', () => {
  const cases: [unknown, string[]][] = [
    ['event', ['/entry']],
    [{ type: 'webhook' }, ['/entry/type']],
    [{ type: 'event' }, ['/entry/event']],
    [{ type: 'event', event: '' }, ['/entry/event']],
    [{ type: 'event', event: 'x'.repeat(256) }, ['/entry/event']],
    [{ type: 'event', event: 'é'.repeat(255) }, []],
    [{ type: 'event', event: 'a\nb' }, ['/entry/event']],
    [{ type: 'event', event: 'a', filter: { path: '/event/x', op: 'like', value: 1 } }, ['/entry/filter/op']],
    [{ type: 'event', event: 'a', extra: 1 }, ['/entry/extra']],
    [{ type: 'api', filter: { path: '/event/x', op: 'exists' } }, ['/entry/filter']],
    [{ type: 'api', event: 'a' }, ['/entry/event']],
  ];
  for (const [entry, expected] of cases) {
    const def = loose();
    def.entry = entry;
    if (typeof entry === 'object' && (entry as { type: string }).type === 'api') delete def.eligibility;
    assert.deepEqual(pointers(def), expected, JSON.stringify(entry));
  }
});

test('eligibility: reEntry policy, key pointer syntax, maxActiveRunsPerProfile 1–100, unknown fields', () => {
  const cases: [unknown, string[]][] = [
    [[], ['/eligibility']],
    [{}, ['/eligibility/reEntry']],
    [{ reEntry: 'twice' }, ['/eligibility/reEntry']],
    [{ reEntry: 'once_per_key', key: 'event/cartId' }, ['/eligibility/key']],
    [{ reEntry: 'always', maxActiveRunsPerProfile: 0 }, ['/eligibility/maxActiveRunsPerProfile']],
    [{ reEntry: 'always', maxActiveRunsPerProfile: 101 }, ['/eligibility/maxActiveRunsPerProfile']],
    [{ reEntry: 'always', maxActiveRunsPerProfile: 1.5 }, ['/eligibility/maxActiveRunsPerProfile']],
    [{ reEntry: 'always', maxActiveRunsPerProfile: '2' }, ['/eligibility/maxActiveRunsPerProfile']],
    [{ reEntry: 'after_exit', maxActiveRunsPerProfile: 1 }, []],
    [{ reEntry: 'always', window: 'P1D' }, ['/eligibility/window']],
  ];
  for (const [eligibility, expected] of cases) {
    const def = loose();
    def.eligibility = eligibility;
    assert.deepEqual(pointers(def), expected, JSON.stringify(eligibility));
  }
});

test('exitOn: array of at most 20 {event, filter?}', () => {
  const def = loose();
  def.exitOn = Array.from({ length: 21 }, () => ({ event: 'x' }));
  assert.deepEqual(pointers(def), ['/exitOn']);
  def.exitOn = [{ event: 'x', filter: { any: [] } }, { filter: { path: '/candidate/x', op: 'exists' } }, 'x', { event: 'y', when: 1 }];
  assert.deepEqual(pointers(def), ['/exitOn/0/filter/any', '/exitOn/1/event', '/exitOn/2', '/exitOn/3/when']);
  def.exitOn = {};
  assert.deepEqual(pointers(def), ['/exitOn']);
});

test('steps: 1–200, id pattern, object steps with a known type, unknown fields', () => {
  const def = loose();
  def.steps = {};
  assert.deepEqual(pointers(def), ['/steps']);
  def.steps = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`s${i}`, { type: 'exit' }]));
  assert.deepEqual(pointers(def), ['/steps']);
  def.steps = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`s${i}`, { type: 'exit' }]));
  assert.deepEqual(pointers(def), []);

  const bad = loose();
  bad.steps['1st'] = { type: 'exit' };
  bad.steps['has space'] = { type: 'exit' };
  bad.steps['a'.repeat(65)] = { type: 'exit' };
  bad.steps['a'.repeat(64)] = { type: 'exit' };
  bad.steps['sl/ash'] = { type: 'exit' };
  bad.steps.weird = { type: 'sms' };
  bad.steps.notobj = 'exit';
  bad.steps.done.next = 'remind';
  assert.deepEqual(pointers(bad), ['/steps/1st', '/steps/' + 'a'.repeat(65), '/steps/done/next', '/steps/has space', '/steps/notobj', '/steps/sl~1ash', '/steps/weird/type']);
  bad.start = 7;
  assert.ok(pointers(bad).includes('/start'));
});

test('send_email: templateId required, uuids by pattern, next is a string', () => {
  const def = loose();
  def.steps.remind = { type: 'send_email', subscriptionGroupId: 'not-a-uuid', senderProfileId: '0190f3e0-0000-9000-8000-000000000001', next: 3 };
  assert.deepEqual(pointers(def), ['/steps/remind/next', '/steps/remind/senderProfileId', '/steps/remind/subscriptionGroupId', '/steps/remind/templateId']);
  def.steps.remind = { type: 'send_email', templateId: 'ffffffff-ffff-ffff-ffff-ffffffffffff', subscriptionGroupId: null };
  assert.deepEqual(pointers(def), ['/steps/remind/subscriptionGroupId']);
});

test('delay: exactly one of duration or until, Durations, offset only with until', () => {
  const cases: [Record<string, unknown>, string[]][] = [
    [{}, ['/steps/d']],
    [{ duration: 'PT1H', until: '/event/at' }, ['/steps/d']],
    [{ duration: 'P1Y' }, ['/steps/d/duration']],
    [{ duration: 'P401D' }, ['/steps/d/duration']],
    [{ duration: 'PT' }, ['/steps/d/duration']],
    [{ duration: 3600 }, ['/steps/d/duration']],
    [{ duration: 'PT1H', offset: 'PT1H' }, ['/steps/d/offset']],
    [{ until: 'event/at' }, ['/steps/d/until']],
    [{ until: '/event/at', offset: '-PT1H' }, []],
    [{ until: '/event/at', offset: 'PT1H' }, []],
    [{ until: '/event/at', offset: '-P1M' }, ['/steps/d/offset']],
    [{ until: '/event/at', offset: '+PT1H' }, ['/steps/d/offset']],
  ];
  for (const [fields, expected] of cases) {
    const def = loose();
    def.steps.remind.next = 'd';
    def.steps.d = { type: 'delay', ...fields, next: 'done' };
    assert.deepEqual(pointers(def), expected, JSON.stringify(fields));
  }
});

test('wait_for_event: event, filter shape, timeout Duration ≥ PT1S, onEvent and onTimeout required', () => {
  const def = loose();
  def.steps.wait_order = { type: 'wait_for_event', filter: { path: '/candidate/x' }, timeout: 'PT0S' };
  assert.deepEqual(pointers(def), ['/steps/wait_order/event', '/steps/wait_order/filter/op', '/steps/wait_order/onEvent', '/steps/wait_order/onTimeout', '/steps/wait_order/timeout']);
  def.steps.wait_order = { type: 'wait_for_event', event: 'x', timeout: 'P2W', onEvent: 'done', onTimeout: 'remind', next: 'done' };
  assert.deepEqual(pointers(def), ['/steps/wait_order/next']);
  def.steps.wait_order = { type: 'wait_for_event', event: 'x', onEvent: 'done', onTimeout: 'remind' };
  assert.deepEqual(pointers(def), ['/steps/wait_order/timeout']);
  def.steps.wait_order.timeout = 'PT1H30';
  assert.deepEqual(pointers(def), ['/steps/wait_order/timeout']);
});

test('branch: condition, then and else required', () => {
  const def = loose();
  def.steps.b = { type: 'branch' };
  assert.deepEqual(pointers(def), ['/steps/b/condition', '/steps/b/else', '/steps/b/then']);
  def.steps.b = { type: 'branch', condition: { all: [{ path: '/event/x', op: 'in', value: 'x' }] }, then: 'done', else: 'done', next: 'done' };
  assert.deepEqual(pointers(def), ['/steps/b/condition/all/0/value', '/steps/b/next']);
});

test('update_profile: 1–50 keys, literal JSON or exactly {"$state": pointer}', () => {
  const def = loose();
  def.steps.u = { type: 'update_profile' };
  assert.deepEqual(pointers(def), ['/steps/u/properties']);
  def.steps.u = { type: 'update_profile', properties: {} };
  assert.deepEqual(pointers(def), ['/steps/u/properties']);
  def.steps.u = { type: 'update_profile', properties: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) };
  assert.deepEqual(pointers(def), ['/steps/u/properties']);
  def.steps.u = { type: 'update_profile', properties: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])) };
  assert.deepEqual(pointers(def), []);
  def.steps.u = {
    type: 'update_profile',
    properties: { ok: { $state: '/event/x' }, bad: { $state: 'event/x' }, extra: { $state: '/event/x', fallback: 1 }, '': 1, big: 'x'.repeat(33 * 1024) },
  };
  assert.deepEqual(pointers(def), ['/steps/u/properties/', '/steps/u/properties/bad/$state', '/steps/u/properties/big', '/steps/u/properties/extra/fallback']);
});

test('exit takes no fields; all errors come at once, sorted, at most 50', () => {
  const def = loose();
  def.steps.done = { type: 'exit', next: 'remind' };
  assert.deepEqual(pointers(def), ['/steps/done/next']);
  def.steps = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`s${String(i).padStart(2, '0')}`, { type: 'exit', extra: 1 }]));
  const errors = pointers(def);
  assert.equal(errors.length, 50);
  assert.deepEqual(errors, [...errors].sort());
  assert.equal(errors[0], '/steps/s00/extra');
});
