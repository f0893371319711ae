/**
 * The definition rules: defaults, what publishing needs (§1.2, acceptance examples 1–2) and
 * save-time validation with the pointer of every violation (§1.1, §3, §4, acceptance example 3).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingForPublish, normalizeDefinition, validateDefinition, type DefinitionError } from '../../../src/modules/templates/render/definition.js';

const body = (elements: Record<string, unknown>, root = 'email') => ({ subject: 'Hi', body: { root, elements } });
const pointers = (errors: DefinitionError[]) => errors.map((e) => e.pointer);
const email = (children: string[]) => ({ type: 'Email', props: {}, children });

test('normalizeDefinition fills every default and keeps given values', () => {
  assert.deepEqual(normalizeDefinition({}), {
    from: '',
    subject: '',
    body: { root: '', elements: {} },
    replyTo: '',
    preheader: '',
    renderVariables: {},
    sensitiveTransactionalVariablePaths: [],
  });
  const d = normalizeDefinition({ subject: { $template: 'Hi ${/profile/firstName}' }, body: { root: 'x' }, text: 'plain' });
  assert.deepEqual(d.subject, { $template: 'Hi ${/profile/firstName}' });
  assert.deepEqual(d.body, { root: 'x', elements: {} });
  assert.equal(d.text, 'plain');
  assert.equal('text' in normalizeDefinition({}), false);
});

test('missingForPublish: acceptance examples 1–2 and each requirement', () => {
  const empty = normalizeDefinition({});
  assert.deepEqual(missingForPublish(empty, true), ['subject', 'body']);
  assert.deepEqual(missingForPublish(empty, false), ['subject', 'sender', 'body']);
  const complete = normalizeDefinition({ subject: { $template: 'Order ${/event/id}' }, body: { root: 'email', elements: { email: { type: 'Email', props: {} } } } });
  assert.deepEqual(missingForPublish(complete, true), []);
  assert.deepEqual(missingForPublish({ ...complete, subject: { $template: '  ' } }, true), ['subject']);
  assert.deepEqual(missingForPublish({ ...complete, body: { root: 'nope', elements: {} } }, true), ['body']);
  assert.deepEqual(missingForPublish({ ...complete, body: { root: '', elements: { email: { type: 'Email', props: {} } } } }, true), ['body']);
});

test('a valid definition, a partial one and the defaults have no errors', () => {
  assert.deepEqual(validateDefinition({}), []);
  assert.deepEqual(validateDefinition(normalizeDefinition({})), []);
  const valid = {
    from: 'Shop <shop@example.com>',
    subject: { $template: 'Order ${/event/orderId} confirmed' },
    replyTo: { $template: '${/variables/replyTo}' },
    preheader: 'Thanks',
    text: { $template: 'Hi ${/profile/firstName}' },
    renderVariables: { supportEmail: 'help@example.com' },
    sensitiveTransactionalVariablePaths: ['/data/card/last4'],
    body: {
      root: 'email',
      elements: {
        email: { type: 'Email', props: { width: 640, fontFamily: '"Helvetica Neue", Arial, sans-serif', linkColor: '#0af' }, children: ['main', 'cols'] },
        main: { type: 'Section', props: { padding: '32px 24px', align: 'center' }, children: ['title', 'intro', 'items', 'table', 'html'] },
        title: { type: 'Heading', props: { text: { $template: 'Thanks, ${/profile/firstName}!' }, level: 2 } },
        intro: { type: 'Text', props: { text: { $state: '/event/message' } }, visible: { $state: '/event/message' }, children: ['more'] },
        more: { type: 'Link', props: { text: 'More', href: { $template: 'https://x.test/o/${/event/orderId}' } } },
        items: { type: 'List', props: { ordered: true }, repeat: { statePath: '/event/items', key: 'sku' }, children: ['item'], visible: { $item: 'shown', eq: true } },
        item: {
          type: 'ListItem',
          props: { text: { $cond: { $index: true, eq: 0 }, $then: { $computed: 'upper', args: { value: { $item: 'name' } } }, $else: { $item: 'name' } } },
        },
        table: {
          type: 'Table',
          props: {
            columns: [{ header: 'Item', path: '/name' }, { header: { $state: '/variables/priceLabel' }, path: '/price', align: 'right', width: '30%' }],
            rows: { $state: '/data/lines' },
            footer: [{ label: 'Total', value: { $computed: 'formatCurrency', args: { value: { $state: '/data/total' }, currency: 'EUR', locale: 'de-DE' } } }],
          },
        },
        html: { type: 'Html', props: { html: { $template: '<p>${/brand/name}</p>' } } },
        cols: { type: 'Columns', props: { gap: 8 }, children: ['c1', 'c2'] },
        c1: { type: 'Column', props: { width: '50%' }, children: ['img'] },
        c2: { type: 'Column', props: { verticalAlign: 'middle' }, children: ['btn'] },
        img: { type: 'Image', props: { src: { $state: '/brand/logoUrl' }, alt: '', width: 120 } },
        btn: { type: 'Button', props: { label: 'Go', href: 'mailto:help@example.com', fullWidth: true } },
        orphan: { type: 'Spacer', props: { height: 8 } },
      },
    },
  };
  assert.deepEqual(validateDefinition(valid), []);
});

test('acceptance example 3: unknown component and a dangling child', () => {
  const errors = validateDefinition(
    body({
      email: email(['main']),
      main: { type: 'Section', props: {}, children: ['a', 'b', 'missing'] },
      a: { type: 'Text', props: { text: 'a' } },
      b: { type: 'Text', props: { text: 'b' } },
      x: { type: 'Marquee', props: {} },
    }),
  );
  assert.deepEqual(pointers(errors), ['/body/elements/main/children/2', '/body/elements/x/type']);
  assert.match(errors[1]!.message, /unknown component "Marquee"/);
});

test('structure: keys, fields, parents, cycles, allowed children, element count', () => {
  const errors = validateDefinition(
    body({
      email: email(['main', 'dup']),
      main: { type: 'Section', props: {}, children: ['t', 't', 'li', 'loop'] },
      t: { type: 'Text', props: { text: 'x' }, children: ['h'] },
      h: { type: 'Heading', props: { text: 'h' }, children: ['dup'] },
      dup: { type: 'Text', props: { text: 'x' } },
      li: { type: 'ListItem', props: { text: 'x' } },
      loop: { type: 'Section', props: {}, children: ['loop2'] },
      loop2: { type: 'Section', props: {}, children: ['loop'] },
      'bad key!': { type: 'Divider', props: {} },
      acts: { type: 'Button', props: { label: 'x', href: 'https://x.test' }, on: { press: { action: 'x' } }, watch: {}, slots: {}, extra: 1 },
      cols: { type: 'Columns', props: {}, children: [] },
      noprops: { type: 'Divider' },
    }),
  );
  assert.deepEqual(
    errors.map((e) => [e.pointer, e.message.split(/[:;(]/)[0]]),
    [
      ['/body/elements/acts/extra', 'unknown field'],
      ['/body/elements/acts/on', 'on is not allowed'],
      ['/body/elements/acts/slots', 'slots is not allowed'],
      ['/body/elements/acts/watch', 'watch is not allowed'],
      ['/body/elements/bad key!', 'element key must match ^[A-Za-z0-9_-]{1,64}$'],
      ['/body/elements/cols/children', 'Columns takes 1–4 Column children'],
      ['/body/elements/h/children', 'Heading takes no children'],
      ['/body/elements/h/children/0', 'element "dup" already has a parent '],
      ['/body/elements/loop2/children/0', 'element "loop" already has a parent '],
      ['/body/elements/loop2/children/0', 'element "loop" is an ancestor of "loop2"'],
      ['/body/elements/main/children/1', 'element "t" already has a parent '],
      ['/body/elements/main/children/2', 'ListItem is not allowed here'],
      ['/body/elements/noprops/props', 'props must be an object'],
      ['/body/elements/t/children/0', 'Heading is not allowed here'],
    ],
  );
  const many = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`e${i}`, { type: 'Divider', props: {} }]));
  assert.deepEqual(pointers(validateDefinition(body(many, 'e0'))), ['/body/elements']);
  assert.deepEqual(pointers(validateDefinition(body({ c: { type: 'Column', props: {} } }, 'c'))), ['/body/root']);
  assert.deepEqual(pointers(validateDefinition(body({ email: email(['inner']), inner: email([]) }))), ['/body/elements/email/children/0']);
});

test('catalog: props of each component (bad literal values point at the prop)', () => {
  const errors = validateDefinition(
    body({
      email: { type: 'Email', props: { width: 900, fontFamily: 'x; background:url(https://evil.test)', textColor: 'red' }, children: [] },
      hero: { type: 'Heading', props: { text: 'x', level: 4, align: 'justify' } },
      text: { type: 'Text', props: { text: 5, fontSize: 9, fontWeight: 'heavy' } },
      btn: { type: 'Button', props: { label: 'x', href: 7, fullWidth: 'yes' } },
      img: { type: 'Image', props: { src: 'https://x.test/i.png', width: 1000 } },
      sec: { type: 'Section', props: { padding: '1em', backgroundColor: '#12345' } },
      col: { type: 'Column', props: { width: '50vw' } },
      sp: { type: 'Spacer', props: {} },
      div: { type: 'Divider', props: { thickness: 2.5, colour: '#000' } },
      html: { type: 'Html', props: { html: { $state: '/data/html' } } },
      tbl: { type: 'Table', props: { columns: [{ header: 'a', path: 'name', align: 'up', extra: 1 }], rows: [1], footer: [{ label: 'x' }] } },
    }),
  );
  assert.deepEqual(pointers(errors), [
    '/body/elements/btn/props/fullWidth',
    '/body/elements/btn/props/href',
    '/body/elements/col/props/width',
    '/body/elements/div/props/colour',
    '/body/elements/div/props/thickness',
    '/body/elements/email/props/fontFamily',
    '/body/elements/email/props/textColor',
    '/body/elements/email/props/width',
    '/body/elements/hero/props/align',
    '/body/elements/hero/props/level',
    '/body/elements/html/props/html',
    '/body/elements/img/props/alt',
    '/body/elements/img/props/width',
    '/body/elements/sec/props/backgroundColor',
    '/body/elements/sec/props/padding',
    '/body/elements/sp/props/height',
    '/body/elements/tbl/props/columns/0/align',
    '/body/elements/tbl/props/columns/0/extra',
    '/body/elements/tbl/props/columns/0/path',
    '/body/elements/tbl/props/footer/0/value',
    '/body/elements/tbl/props/rows/0',
    '/body/elements/text/props/fontSize',
    '/body/elements/text/props/fontWeight',
    '/body/elements/text/props/text',
  ]);
  assert.equal(errors.find((e) => e.pointer === '/body/elements/hero/props/level')!.message, 'must be one of 1, 2, 3');
  assert.equal(errors.find((e) => e.pointer === '/body/elements/img/props/alt')!.message, 'Image requires alt');
});

test('dynamic values: pointers, roots, scope, bindings, $computed names and arguments', () => {
  const errors = validateDefinition({
    subject: { $template: 'Hi ${/candidate/name} ${firstName}' },
    preheader: { $state: '/event/x' },
    body: {
      root: 'email',
      elements: {
        email: email(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'r']),
        a: { type: 'Text', props: { text: { $state: 'event/x' } } },
        b: { type: 'Text', props: { text: { $bindState: '/event/x' } } },
        c: { type: 'Text', props: { text: { $item: 'name' } }, visible: { $index: true, eq: 0 } },
        d: { type: 'Text', props: { text: { $computed: 'eval', args: {} } } },
        e: { type: 'Text', props: { text: { $computed: 'formatNumber', args: { decimals: 30, digits: 2 } } } },
        f: { type: 'Text', props: { text: { $cond: { $state: '/event/x', gt: 1, lt: 3 }, $then: 'a' } } },
        g: { type: 'Text', props: { text: { $state: '/event/~2', $template: 'x' } }, visible: { $state: '/event/x', $item: 'y' } },
        r: { type: 'List', props: {}, repeat: { statePath: '/nope/items' }, children: ['ri'] },
        ri: { type: 'ListItem', props: { text: { $template: '${/event/a}' } }, visible: { $state: '/event/ok', eq: { $item: 'x' } } },
      },
    },
  });
  const expected = [
      ['/body/elements/a/props/text/$state', '"event/x" is not a valid JSON Pointer (RF'],
      ['/body/elements/b/props/text/$bindState', '$bindState is not allowed: emails have n'],
      ['/body/elements/c/props/text/$item', '$item is only allowed inside a repeat'],
      ['/body/elements/c/visible/$index', '$index is only allowed inside a repeat'],
      ['/body/elements/d/props/text/$computed', 'unknown function; expected one of format'],
      ['/body/elements/e/props/text/args/decimals', 'must be an integer 0–20'],
      ['/body/elements/e/props/text/args/digits', 'unknown argument of formatNumber'],
      ['/body/elements/e/props/text/args/value', 'formatNumber requires value'],
      ['/body/elements/f/props/text', '$cond needs both $then and $else'],
      ['/body/elements/f/props/text/$cond', 'use one comparison operator, not gt and l'],
      ['/body/elements/g/props/text', 'combines $state and $template; use one'],
      ['/body/elements/g/visible', 'invalid condition; expected true, false, '],
      ['/body/elements/r/repeat/statePath', '"/nope/items" must start with one of /eve'],
      ['/body/elements/ri/visible/eq', 'comparison value must be a string, number'],
      ['/preheader', 'must be a string or {"$template": string}'],
      ['/subject/$template', 'placeholder ${/candidate/name}: "/candidate'],
      ['/subject/$template', 'placeholder ${firstName}: "firstName" is not'],
  ];
  assert.deepEqual(pointers(errors), expected.map(([p]) => p));
  errors.forEach((e, i) => assert.ok(e.message.startsWith(expected[i]![1]!), `${e.pointer}: ${e.message}`));
});

test('definition fields: types, limits, sensitive paths, unknown fields; sorted and capped at 50', () => {
  const errors = validateDefinition({
    from: 'x'.repeat(321),
    subject: { $template: 'x'.repeat(999) },
    replyTo: 5,
    preheader: 'p'.repeat(501),
    text: 'é'.repeat(60 * 1024),
    renderVariables: { big: 'x'.repeat(64 * 1024) },
    sensitiveTransactionalVariablePaths: ['/data/ok', '/event/x', '/data/~x'],
    colour: 'red',
  });
  assert.deepEqual(pointers(errors), [
    '/colour',
    '/from',
    '/preheader',
    '/renderVariables',
    '/replyTo',
    '/sensitiveTransactionalVariablePaths/1',
    '/sensitiveTransactionalVariablePaths/2',
    '/subject/$template',
    '/text',
  ]);
  assert.deepEqual(validateDefinition('nope'), [{ pointer: '', message: 'definition must be an object' }]);
  assert.deepEqual(pointers(validateDefinition({ renderVariables: [], sensitiveTransactionalVariablePaths: Array(51).fill('/data/x'), body: { root: 1, elements: [] } })), [
    '/body/elements',
    '/body/root',
    '/renderVariables',
    '/sensitiveTransactionalVariablePaths',
  ]);
  const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`e${String(i).padStart(2, '0')}`, { type: 'Nope', props: {} }]));
  const capped = validateDefinition(body(many, 'e00'));
  assert.equal(capped.length, 50);
  assert.deepEqual(pointers(capped), [...pointers(capped)].sort());
  assert.equal(capped[0]!.pointer, '/body/elements/e00/type');
});

test('deeply nested values are rejected, not a stack overflow', () => {
  let value: unknown = 'x';
  for (let i = 0; i < 5000; i++) value = { $cond: true, $then: value, $else: '' };
  const errors = validateDefinition(body({ email: email(['t']), t: { type: 'Text', props: { text: value } } }));
  assert.ok(errors.length >= 1 && errors.length <= 3);
  for (const e of errors) assert.match(e.message, /nested more than 32 levels/);
});
