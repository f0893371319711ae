/**
 * Rendering behaviour (templates.md §3–§6): missing paths (acceptance example 5), repeat with
 * $item/$index and its cap, the bounds, $computed functions, the unsubscribe footer, the text
 * part, and determinism.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeDefinition } from '../../../src/modules/templates/render/definition.js';
import { htmlToPlainText } from '../../../src/modules/templates/render/plain-text.js';
import { compileTemplate, renderTemplate } from '../../../src/modules/templates/render/render.js';
import { content, emailWith, render } from './support.js';

test('acceptance example 5: header values are plain text, HTML is escaped, missing paths are reported', () => {
  const out = render({
    definition: emailWith(['t'], { t: { type: 'Text', props: { text: { $template: 'Order ${/event/orderId} for ${/profile/firstName}' } } } }, {
      subject: { $template: 'Order ${/event/orderId}' },
    }),
    state: { event: { orderId: '<b>1</b>' } },
  });
  assert.equal(out.subject, 'Order <b>1</b>');
  assert.ok(out.html.includes('Order &lt;b&gt;1&lt;/b&gt; for '));
  assert.deepEqual(out.missingPaths, ['/profile/firstName']);
});

test('missingPaths: unique, first-encounter order, objects in text positions, nothing for tests of presence', () => {
  const out = render({
    definition: emailWith(
      ['a', 'b', 'c', 'd', 'e'],
      {
        a: { type: 'Heading', props: { text: { $state: '/data/obj' } } },
        b: { type: 'Text', props: { text: { $template: '${/data/none}${/data/obj}${/data/arr}${/data/nil}' } } },
        c: { type: 'Text', props: { text: { $state: '/data/hidden' } }, visible: { $state: '/data/flag' } },
        d: { type: 'Text', props: { text: { $cond: { $state: '/data/flag2' }, $then: { $state: '/data/then' }, $else: { $state: '/data/else' } } } },
        e: { type: 'Text', props: { text: { $computed: 'default', args: { value: { $state: '/data/nick' }, fallback: { $state: '/profile/firstName' } } } } },
      },
      { subject: { $template: '${/profile/firstName} ${/data/none}' }, text: { $template: '${/data/textOnly} ${/data/none}' } },
    ),
    state: { data: { obj: { a: 1 }, arr: [1], nil: null } },
  });
  assert.deepEqual(out.missingPaths, ['/profile/firstName', '/data/none', '/data/obj', '/data/arr', '/data/nil', '/data/else', '/data/textOnly']);
  assert.equal(out.text, '');
});

test('variables: renderVariables are defaults overlaid key by key; the state roots are all addressable', () => {
  const out = render({
    definition: emailWith(
      ['t'],
      { t: { type: 'Text', props: { text: { $template: '${/variables/a}-${/variables/b}-${/waited/step1/x}-${/brand/name}-${/unsubscribeUrl}-${/preferencesUrl}' } } } },
      { renderVariables: { a: 'A', b: 'B' } },
    ),
    state: { variables: { b: 'b2' }, waited: { step1: { x: 'w' } }, brand: { name: 'Brand' }, unsubscribeUrl: 'https://u.test', preferencesUrl: 'https://p.test' },
  });
  assert.equal(out.text, 'A-b2-w-Brand-https://u.test-https://p.test');
  assert.deepEqual(out.missingPaths, []);
  const defaults = render({ definition: emailWith(['t'], { t: { type: 'Text', props: { text: { $template: '${/variables/a}|${/brand/name}|${/unsubscribeUrl}' } } } }, { renderVariables: { a: 'A' } }) });
  assert.equal(defaults.text, 'A||', 'an absent brand is empty values; absent URLs are ""');
  assert.deepEqual(defaults.missingPaths, []);
});

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `item${i}`, qty: i, show: i % 2 === 0 }));

test('repeat: children once per item with $item / $index, a per-item filter, nested repeats', () => {
  const out = render({
    definition: emailWith(['list', 'sec'], {
      list: { type: 'List', props: { ordered: true }, repeat: { statePath: '/event/items' }, children: ['li'], visible: [{ $state: '/event/show' }, { $item: 'show', eq: true }] },
      li: { type: 'ListItem', props: { text: { $template: '${/event/prefix}' } }, children: ['ln'] },
      ln: { type: 'Link', props: { text: { $item: 'name' }, href: { $template: 'https://x.test/${/event/prefix}' } } },
      sec: { type: 'Section', props: {}, repeat: { statePath: '/event/groups' }, children: ['g'] },
      g: { type: 'Text', props: { text: { $cond: { $index: true, eq: 0 }, $then: { $item: 'title' }, $else: { $computed: 'upper', args: { value: { $item: 'title' } } } } } },
    }),
    state: { event: { show: true, prefix: 'P', items: items(4), groups: [{ title: 'first' }, { title: 'second' }, {}] } },
  });
  assert.equal(out.text, '1. P item0 (https://x.test/P)\n2. P item2 (https://x.test/P)\n\nfirst\n\nSECOND');
  assert.deepEqual(out.missingPaths, ['/event/groups/2/title']);
  assert.equal((out.html.match(/<li /g) ?? []).length, 2);
  assert.ok(out.html.includes('<ol '));
});

test('repeat: at most 500 items (the rest ignored, not a failure); a missing array renders nothing and is reported', () => {
  const out = render({
    definition: emailWith(['list', 'none'], {
      list: { type: 'List', props: {}, repeat: { statePath: '/event/items' }, children: ['li'] },
      li: { type: 'ListItem', props: { text: { $template: '#${/event/x}' } } },
      none: { type: 'List', props: {}, repeat: { statePath: '/event/missing' }, children: ['li2'] },
      li2: { type: 'ListItem', props: { text: 'never' } },
    }),
    state: { event: { items: items(600), x: 1 } },
  });
  assert.equal((out.html.match(/<li /g) ?? []).length, 500);
  assert.equal(out.html.includes('never'), false);
  assert.deepEqual(out.missingPaths, ['/event/missing']);
});

test('Table: rows from state (≤ 500), header, footer, missing cells reported with their pointer', () => {
  const out = render({
    definition: emailWith(['tbl'], {
      tbl: {
        type: 'Table',
        props: {
          columns: [{ header: 'Item', path: '/name' }, { header: { $template: 'Qty (${/event/unit})' }, path: '/qty', align: 'right' }, { header: 'Note', path: '/note/text' }],
          rows: { $state: '/event/items' },
          footer: [{ label: 'Total', value: { $state: '/event/total' } }],
        },
      },
    }),
    state: { event: { unit: 'pcs', total: 3, items: [{ name: 'a', qty: 1, note: { text: 'n' } }, { name: 'b', qty: 2 }] } },
  });
  assert.equal(out.text, 'Item\tQty (pcs)\tNote\na\t1\tn\nb\t2\t\nTotal\t3');
  assert.deepEqual(out.missingPaths, ['/event/items/1/note/text']);
  const many = render({
    definition: emailWith(['tbl'], { tbl: { type: 'Table', props: { columns: [{ header: 'n', path: '/name' }], rows: { $state: '/event/items' }, showHeader: false } } }),
    state: { event: { items: items(700) } },
  });
  assert.equal((many.html.match(/<tr><td align="left" style="padding:8px/g) ?? []).length, 500);
  assert.equal(many.html.includes('<thead>'), false);
});

test('bounds: more than 500 elements, 10,000 rendered nodes or 2 MiB of HTML fail the render', () => {
  const many = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`e${i}`, { type: 'Divider', props: {} }]));
  const tooMany = renderTemplate(compileTemplate(normalizeDefinition({ body: { root: 'e0', elements: many } }), { purpose: 'General', language: 'en' }), {});
  assert.deepEqual(tooMany, { ok: false, error: { type: 'render_failed', reason: 'too_many_elements' } });

  const nested = emailWith(['outer'], {
    outer: { type: 'Section', props: {}, repeat: { statePath: '/event/rows' }, children: ['inner'] },
    inner: { type: 'Section', props: {}, repeat: { statePath: '/event/cols' }, children: ['cell'] },
    cell: { type: 'Text', props: { text: { $item: 'v' } } },
  });
  const compiled = compileTemplate(normalizeDefinition(nested), { purpose: 'Transactional', language: 'en' });
  const grid = (n: number) => Array.from({ length: n }, (_, i) => ({ v: i }));
  assert.deepEqual(renderTemplate(compiled, { event: { rows: grid(200), cols: grid(100) } }), { ok: false, error: { type: 'render_failed', reason: 'too_many_nodes' } });
  assert.equal(renderTemplate(compiled, { event: { rows: grid(40), cols: grid(100) } }).ok, true, '40 × (1 + 100) nodes fit');

  const big = compileTemplate(normalizeDefinition(emailWith(['t'], { t: { type: 'Text', props: { text: { $state: '/data/big' } } } })), { purpose: 'Transactional', language: 'en' });
  assert.deepEqual(renderTemplate(big, { data: { big: 'x'.repeat(2 * 1024 * 1024) } }), { ok: false, error: { type: 'render_failed', reason: 'html_too_large' } });
  assert.deepEqual(renderTemplate(big, { data: { big: '<'.repeat(600 * 1024) } }), { ok: false, error: { type: 'render_failed', reason: 'html_too_large' } }, 'escaping counts');
  assert.deepEqual(renderTemplate(big, { data: { big: 'é'.repeat(1024 * 1024 + 1) } }), { ok: false, error: { type: 'render_failed', reason: 'html_too_large' } }, 'bytes, not characters');
  assert.equal(renderTemplate(big, { data: { big: 'x'.repeat(1024 * 1024) } }).ok, true);
});

test('$computed functions format with Intl in the template language; invalid input yields ""', () => {
  const fn = (name: string, args: Record<string, unknown>) => ({ $computed: name, args });
  const cases: [unknown, string][] = [
    [fn('formatNumber', { value: 1234.5 }), '1,234.5'],
    [fn('formatNumber', { value: '1234.5', decimals: 2, locale: 'de-DE' }), '1.234,50'],
    [fn('formatNumber', { value: 'abc' }), ''],
    [fn('formatNumber', { value: 1, locale: { $state: '/data/badLocale' } }), ''],
    [fn('formatCurrency', { value: 12.5, currency: 'EUR' }), '€12.50'],
    [fn('formatCurrency', { value: 12.5, currency: 'usd', locale: 'en-US' }), '$12.50'],
    [fn('formatCurrency', { value: 12.5, currency: { $state: '/data/badCurrency' } }), ''],
    [fn('formatDate', { value: '2026-05-30T08:00:00.000Z' }), 'May 30, 2026'],
    [fn('formatDate', { value: 1780128000000, style: 'datetime', timeZone: 'America/New_York' }), 'May 30, 2026, 4:00 AM'],
    [fn('formatDate', { value: '2026-05-30T08:00:00Z', style: 'time', locale: 'de-DE', timeZone: 'Europe/Berlin' }), '10:00'],
    [fn('formatDate', { value: '2026-02-30T08:00:00Z' }), ''],
    [fn('formatDate', { value: '2026-05-30', timeZone: { $state: '/data/badZone' } }), ''],
    [fn('default', { value: { $state: '/data/empty' }, fallback: 'there' }), 'there'],
    [fn('default', { value: 'Sam', fallback: 'there' }), 'Sam'],
    [fn('upper', { value: 'straße' }), 'STRASSE'],
    [fn('lower', { value: 'ABC' }), 'abc'],
    [fn('upper', { value: { $state: '/data/list' } }), ''],
    [fn('join', { value: { $state: '/data/list' } }), 'a, b, 3'],
    [fn('join', { value: { $state: '/data/list' }, separator: ' / ' }), 'a / b / 3'],
    [fn('join', { value: 'not an array' }), ''],
  ];
  const elements = Object.fromEntries(cases.map(([text], i) => [`t${i}`, { type: 'Text', props: { text } }]));
  const out = render({
    definition: emailWith(Object.keys(elements), elements),
    state: { data: { empty: '', list: ['a', 'b', 3, null, { x: 1 }], badLocale: 'not a locale!', badCurrency: 'EURO', badZone: 'Mars/Base' } },
  });
  const texts = content(out.html).match(/<p [^>]*>([^<]*)<\/p>/g)!.map((p) => p.replace(/<[^>]+>/g, ''));
  assert.deepEqual(texts, cases.map(([, expected]) => expected.replace('€', '€')));
  const german = render({
    definition: emailWith(['n'], { n: { type: 'Text', props: { text: fn('formatNumber', { value: 1234.5 }) } } }),
    language: 'de',
  });
  assert.ok(german.html.includes('>1.234,5</p>'));
  assert.ok(german.html.includes('<html lang="de">'));
});

test('unsubscribe footer: non-transactional mail without the unsubscribe link gets one; transactional never', () => {
  const definition = emailWith(['t'], { t: { type: 'Text', props: { text: 'Hello' } } });
  const state = { unsubscribeUrl: 'https://u.test/u?t=1&s=2', preferencesUrl: 'https://u.test/p', brand: { footerText: 'Example Inc., 1 Main St' } };
  const general = render({ definition, state, purpose: 'Newsletter' });
  assert.ok(general.html.includes('<a href="https://u.test/u?t=1&amp;s=2" target="_blank" rel="noopener" style="color:#71717a;text-decoration:underline;">Unsubscribe</a>'));
  assert.ok(general.html.includes('Manage preferences'));
  assert.ok(general.html.includes('Example Inc., 1 Main St<br>'));
  assert.equal(general.text, 'Hello\n\nExample Inc., 1 Main St\nUnsubscribe (https://u.test/u?t=1&s=2)\nManage preferences (https://u.test/p)');

  assert.equal(render({ definition, state, purpose: 'Transactional' }).html.includes('Unsubscribe'), false);

  const linked = emailWith(['t', 'u'], { t: { type: 'Text', props: { text: 'Hello' } }, u: { type: 'Link', props: { text: 'Leave', href: { $template: '${/unsubscribeUrl}' } } } });
  const own = render({ definition: linked, state, purpose: 'Promotional' });
  assert.equal(own.html.includes('>Unsubscribe<'), false, 'the template links the unsubscribe URL itself');

  const viaOptions = render({
    definition: { ...linked, text: 'Plain body' },
    purpose: 'General',
    options: { unsubscribeFooter: { unsubscribeUrl: 'https://o.test/u', preferencesUrl: 'https://o.test/p', footerText: 'Opt text' } },
  });
  assert.ok(viaOptions.html.includes('href="https://o.test/u"'), '/unsubscribeUrl defaults to the footer option');
  assert.equal(viaOptions.html.includes('Opt text'), false);
  const footered = render({ definition: { ...definition, text: 'Plain body' }, purpose: 'General', options: { unsubscribeFooter: { unsubscribeUrl: 'https://o.test/u', preferencesUrl: 'https://o.test/p', footerText: 'Opt text' } } });
  assert.ok(footered.html.includes('Opt text<br>'));
  assert.equal(footered.text, 'Plain body\n\nOpt text\nUnsubscribe (https://o.test/u)\nManage preferences (https://o.test/p)');
  assert.equal(render({ definition, purpose: 'General' }).html.includes('Unsubscribe'), false, 'no URL, no footer');
});

test('document: a non-Email root is wrapped in a default Email; an empty body renders an empty email', () => {
  const wrapped = render({ definition: { subject: 'S', preheader: 'Pre', body: { root: 'h', elements: { h: { type: 'Heading', props: { text: 'Alone' } } } } } });
  assert.ok(wrapped.html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
  assert.ok(wrapped.html.includes('<title>S</title>'));
  assert.ok(wrapped.html.includes('width="600"'));
  assert.match(wrapped.html, /<body [^>]*>\n<div class="sf-preheader" [^>]*>Pre<\/div>/);
  assert.ok(content(wrapped.html).includes('>Alone</h1>'));
  const empty = render({ definition: {} });
  assert.equal(content(empty.html), '');
  assert.equal(empty.text, '');
  assert.equal(empty.html.includes('sf-preheader'), false);
});

test('plain text: definition.text when present; otherwise derived, matching html-to-text of the HTML', () => {
  const definition = emailWith(['h', 't', 'b', 'img', 'list', 'tbl', 'html', 'cols'], {
    h: { type: 'Heading', props: { text: 'Welcome' } },
    t: { type: 'Text', props: { text: 'Line one\nline two' }, children: ['l'] },
    l: { type: 'Link', props: { text: 'docs', href: 'https://x.test/docs' } },
    b: { type: 'Button', props: { label: 'Start', href: 'https://x.test/start' } },
    img: { type: 'Image', props: { src: 'https://x.test/i.png', alt: 'A picture' } },
    list: { type: 'List', props: {}, children: ['li1', 'li2'] },
    li1: { type: 'ListItem', props: { text: 'first' } },
    li2: { type: 'ListItem', props: { text: 'second' } },
    tbl: { type: 'Table', props: { columns: [{ header: 'A', path: '/a' }, { header: 'B', path: '/b' }], rows: [{ a: 1, b: 2 }] } },
    html: { type: 'Html', props: { html: '<p>Raw <a href="https://x.test/raw">raw link</a></p>' } },
    cols: { type: 'Columns', props: {}, children: ['c1', 'c2'] },
    c1: { type: 'Column', props: {}, children: ['ct1'] },
    c2: { type: 'Column', props: {}, children: ['ct2'] },
    ct1: { type: 'Text', props: { text: 'left' } },
    ct2: { type: 'Text', props: { text: 'right' } },
  });
  const out = render({ definition });
  assert.equal(
    out.text,
    'Welcome\n\nLine one\nline two docs (https://x.test/docs)\n\nStart (https://x.test/start)\n\nA picture\n\n- first\n- second\n\nA\tB\n1\t2\n\nRaw raw link (https://x.test/raw)\n\nleft\n\nright',
  );
  const words = (s: string) => s.replace(/^\s*(?:- |\* )/gm, '').split(/\s+/).filter(Boolean);
  assert.deepEqual(words(out.text), words(htmlToPlainText(out.html)));
  const explicit = render({ definition: { ...definition, text: { $template: 'Hi ${/profile/name}\n\nBye' } }, state: { profile: { name: 'Sam' } } });
  assert.equal(explicit.text, 'Hi Sam\n\nBye');
});

test('brand primary color is the default link and button color', () => {
  const out = render({
    definition: emailWith(['b', 'l'], { b: { type: 'Button', props: { label: 'Go', href: 'https://x.test' } }, l: { type: 'Link', props: { text: 'x', href: 'https://x.test' } } }),
    state: { brand: { colors: { primary: '#ff0066' } } },
  });
  assert.ok(out.html.includes('bgcolor="#ff0066"'));
  assert.ok(out.html.includes('style="color:#ff0066;text-decoration:underline;"'));
});

test('determinism: two renders are byte-identical and neither the plan nor the state is modified', () => {
  const definition = normalizeDefinition(
    emailWith(['t', 'list'], {
      t: { type: 'Text', props: { text: { $computed: 'formatDate', args: { value: { $state: '/event/at' }, style: 'datetime' } } } },
      list: { type: 'List', props: {}, repeat: { statePath: '/event/items' }, children: ['li'] },
      li: { type: 'ListItem', props: { text: { $item: 'name' } } },
    }),
  );
  const freeze = <T>(value: T): T => {
    if (value && typeof value === 'object') {
      Object.values(value).forEach(freeze);
      Object.freeze(value);
    }
    return value;
  };
  const compiled = freeze(compileTemplate(freeze(definition), { purpose: 'General', language: 'en' }));
  const state = freeze({ event: { at: '2026-05-30T08:00:00Z', items: items(3) }, unsubscribeUrl: 'https://u.test' });
  const a = renderTemplate(compiled, state);
  const b = renderTemplate(compiled, state);
  const c = renderTemplate(compileTemplate(definition, { purpose: 'General', language: 'en' }), structuredClone(state));
  assert.ok(a.ok && b.ok && c.ok);
  assert.equal(a.value.html, b.value.html);
  assert.equal(a.value.html, c.value.html);
  assert.deepEqual(a.value, b.value);
});

test('defensive rendering: an unvalidated definition with cycles, unknown types and junk props still terminates', () => {
  const out = render({
    invalid: true,
    definition: {
      subject: { $template: 5 } as never,
      body: {
        root: 'email',
        elements: {
          email: { type: 'Email', props: { width: 'wide' }, children: ['a', 'a', 'x', 'li', 7] } as never,
          a: { type: 'Section', props: [] as never, children: ['b'] },
          b: { type: 'Section', props: {}, children: ['a', 'c'], visible: { $nonsense: 1 } as never },
          c: { type: 'Text', props: { text: { $bindState: '/event/x' } } },
          x: { type: 'Marquee', props: {} },
          li: { type: 'ListItem', props: { text: 'orphaned item' } },
        },
      },
    },
  });
  assert.equal(out.subject, '');
  assert.ok(out.html.includes('width="600"'));
  assert.equal(out.html.includes('orphaned'), false);
  assert.equal((content(out.html).match(/<table /g) ?? []).length, 1, 'section a once; b is hidden by its invalid condition');
});
