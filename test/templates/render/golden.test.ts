/**
 * Golden HTML for every component (templates.md §4, §4.1). The expected documents live in
 * golden/*.html; `UPDATE_GOLDEN=1` rewrites them, after which they are read (and looked at in a
 * browser) before being committed.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import type { TemplateDefinitionInput } from '../../../src/modules/templates/render/definition.js';
import type { RenderState } from '../../../src/modules/templates/render/render.js';
import { emailWith, render } from './support.js';

const GOLDEN_DIR = new URL('./golden/', import.meta.url);

function golden(name: string, definition: TemplateDefinitionInput, state: RenderState = {}, purpose = 'Transactional'): void {
  test(`golden: ${name}`, () => {
    const { html, text } = render({ definition, state, purpose });
    const file = new URL(`${name}.html`, GOLDEN_DIR);
    const textFile = new URL(`${name}.txt`, GOLDEN_DIR);
    if (process.env.UPDATE_GOLDEN === '1') {
      writeFileSync(file, html);
      writeFileSync(textFile, text + '\n');
    }
    assert.equal(html, readFileSync(file, 'utf8'));
    assert.equal(text + '\n', readFileSync(textFile, 'utf8'));
  });
}

const lorem = 'Thanks for shopping with us. Your order is being prepared and will ship soon.';

golden('email-props', {
  subject: 'Email props',
  preheader: 'A custom shell',
  body: {
    root: 'email',
    elements: {
      email: { type: 'Email', props: { backgroundColor: '#0f172a', contentBackgroundColor: '#fefce8', width: 480, fontFamily: 'Georgia, "Times New Roman", serif', textColor: '#422006', linkColor: '#b45309' }, children: ['s'] },
      s: { type: 'Section', props: {}, children: ['t'] },
      t: { type: 'Text', props: { text: 'Narrow, warm, serif.' }, children: ['l'] },
      l: { type: 'Link', props: { text: 'A link', href: 'https://example.com' } },
    },
  },
});

golden('section', emailWith(['plain', 'colored'], {
  plain: { type: 'Section', props: { padding: '8 16' }, children: ['t1'] },
  t1: { type: 'Text', props: { text: 'Default section, padding "8 16".' } },
  colored: { type: 'Section', props: { backgroundColor: '#eff6ff', padding: '32px', align: 'center' }, children: ['h', 't2', 'b'] },
  h: { type: 'Heading', props: { text: 'Centered', level: 2 } },
  t2: { type: 'Text', props: { text: 'Blocks inherit the section alignment.' } },
  b: { type: 'Button', props: { label: 'Centered button', href: 'https://example.com' } },
}));

golden('columns', emailWith(['cols', 'fixed'], {
  cols: { type: 'Columns', props: {}, children: ['c1', 'c2', 'c3'] },
  c1: { type: 'Column', props: { backgroundColor: '#fef2f2', padding: '12px' }, children: ['t1'] },
  c2: { type: 'Column', props: { backgroundColor: '#f0fdf4', padding: '12px', verticalAlign: 'middle' }, children: ['t2'] },
  c3: { type: 'Column', props: { backgroundColor: '#eff6ff', padding: '12px', verticalAlign: 'bottom' }, children: ['t3'] },
  t1: { type: 'Text', props: { text: 'One\ntwo\nthree' } },
  t2: { type: 'Text', props: { text: 'Middle' } },
  t3: { type: 'Text', props: { text: 'Bottom' } },
  fixed: { type: 'Columns', props: { gap: 0, stackOnMobile: false }, children: ['f1', 'f2'] },
  f1: { type: 'Column', props: { width: '30%' }, children: ['img'] },
  f2: { type: 'Column', props: { width: '70%', padding: '0 0 0 12px' }, children: ['t4'] },
  img: { type: 'Image', props: { src: 'https://placehold.co/160x120.png', alt: 'Product', width: 160 } },
  t4: { type: 'Text', props: { text: 'No gap, no stacking: 30% / 70%.' } },
}));

golden('heading', emailWith(['h1', 'h2', 'h3'], {
  h1: { type: 'Heading', props: { text: { $template: 'Hello, ${/profile/firstName}!' } } },
  h2: { type: 'Heading', props: { text: 'Level two, right, colored', level: 2, align: 'right', color: '#7c3aed' } },
  h3: { type: 'Heading', props: { text: 'Level three & <escaped>', level: 3, align: 'center' } },
}), { profile: { firstName: 'Sam' } });

golden('text', emailWith(['t1', 't2', 't3'], {
  t1: { type: 'Text', props: { text: `${lorem}\nSecond line after a break.` }, children: ['l1', 'l2'] },
  l1: { type: 'Link', props: { text: 'Track order', href: 'https://example.com/track?o=1&x=2' } },
  l2: { type: 'Link', props: { text: 'Help', href: 'mailto:help@example.com', color: '#dc2626' } },
  t2: { type: 'Text', props: { text: 'Small, bold, grey, centered.', fontSize: 12, fontWeight: 'bold', color: '#71717a', align: 'center' } },
  t3: { type: 'Text', props: { text: { $state: '/event/message' } } },
}), { event: { message: 'From state: <b>not bold</b>' } });

golden('button', emailWith(['b1', 'b2', 'b3', 'b4'], {
  b1: { type: 'Button', props: { label: 'View order', href: { $template: 'https://shop.example/orders/${/event/orderId}' } } },
  b2: { type: 'Button', props: { label: 'Full width, custom colors', href: 'https://example.com', backgroundColor: '#16a34a', textColor: '#f0fdf4', fullWidth: true } },
  b3: { type: 'Button', props: { label: 'Right aligned mailto', href: 'mailto:help@example.com', align: 'right' } },
  b4: { type: 'Button', props: { label: 'Dropped URL (no link)', href: 'javascript:alert(1)', align: 'center' } },
}), { event: { orderId: 'ord 1/2' } });

golden('image', emailWith(['i1', 'i2', 'i3', 'i4'], {
  i1: { type: 'Image', props: { src: 'https://placehold.co/600x200.png', alt: 'Full-width banner' } },
  i2: { type: 'Image', props: { src: 'https://placehold.co/120x40.png', alt: 'Linked logo', width: 120, height: 40, href: 'https://example.com', align: 'center' } },
  i3: { type: 'Image', props: { src: { $state: '/data/img' }, alt: 'omitted: data URL' } },
  i4: { type: 'Image', props: { src: 'https://placehold.co/80x80.png', alt: '', width: 80, align: 'right' } },
}), { data: { img: 'data:image/png;base64,AAAA' } });

golden('link', emailWith(['l1', 'l2', 'l3'], {
  l1: { type: 'Link', props: { text: 'Read the announcement', href: 'https://example.com/news' } },
  l2: { type: 'Link', props: { text: '', href: 'https://example.com/empty-text', color: '#059669' } },
  l3: { type: 'Link', props: { text: 'Relative URL dropped', href: '/relative' } },
}));

golden('divider-spacer', emailWith(['t1', 'd1', 't2', 'd2', 't3', 's1', 't4'], {
  t1: { type: 'Text', props: { text: 'Above the default divider' } },
  d1: { type: 'Divider', props: {} },
  t2: { type: 'Text', props: { text: 'Above a thick red divider with no margin' } },
  d2: { type: 'Divider', props: { color: '#ef4444', thickness: 4, margin: 0 } },
  t3: { type: 'Text', props: { text: 'Above a 48px spacer' } },
  s1: { type: 'Spacer', props: { height: 48 } },
  t4: { type: 'Text', props: { text: 'Below the spacer' } },
}));

golden('list', emailWith(['ul', 'ol'], {
  ul: { type: 'List', props: {}, children: ['a', 'b'] },
  a: { type: 'ListItem', props: { text: 'Unordered one' } },
  b: { type: 'ListItem', props: { text: 'Unordered two with a link' }, children: ['bl'] },
  bl: { type: 'Link', props: { text: 'details', href: 'https://example.com/details' } },
  ol: { type: 'List', props: { ordered: true }, repeat: { statePath: '/event/steps' }, children: ['step'] },
  step: { type: 'ListItem', props: { text: { $template: '${/event/prefix}' } }, children: ['stepLink'] },
  stepLink: { type: 'Link', props: { text: { $item: 'title' }, href: { $item: 'url' } } },
}), { event: { prefix: 'Step:', steps: [{ title: 'Create an account', url: 'https://example.com/1' }, { title: 'Verify email', url: 'https://example.com/2' }, { title: 'Done', url: 'ftp://dropped' }] } });

golden('table', emailWith(['tbl', 'literal'], {
  tbl: {
    type: 'Table',
    props: {
      columns: [
        { header: 'Item', path: '/name', width: '60%' },
        { header: 'Qty', path: '/qty', align: 'center' },
        { header: 'Price', path: '/price', align: 'right' },
      ],
      rows: { $state: '/event/lines' },
      footer: [
        { label: 'Subtotal', value: { $computed: 'formatCurrency', args: { value: { $state: '/event/subtotal' }, currency: 'EUR' } } },
        { label: 'Total', value: { $computed: 'formatCurrency', args: { value: { $state: '/event/total' }, currency: 'EUR' } } },
      ],
    },
  },
  literal: { type: 'Table', props: { columns: [{ header: 'Key', path: '/k' }, { header: 'Value', path: '/v' }], rows: [{ k: 'Literal', v: 'rows' }, { k: 'No', v: 'header' }], showHeader: false } },
}), { event: { subtotal: 40, total: 45.5, lines: [{ name: 'Blue mug', qty: 2, price: '€20.00' }, { name: 'Tea <sampler>', qty: 1, price: '€20.00' }] } });

golden('html', emailWith(['h'], {
  h: { type: 'Html', props: { html: { $template: '<div style="padding:12px;border:1px dashed #a1a1aa;"><strong>Trusted markup</strong> with an escaped value: ${/profile/name}</div>' } } },
}), { profile: { name: '<script>x</script>' } });

golden('newsletter-footer', emailWith(['h', 't'], {
  h: { type: 'Heading', props: { text: 'Monthly news' } },
  t: { type: 'Text', props: { text: lorem } },
}, { subject: 'News', preheader: 'What happened this month' }), {
  unsubscribeUrl: 'https://sf.example/u/abc?sig=1&x=2',
  preferencesUrl: 'https://sf.example/p/abc',
  brand: { name: 'Example', footerText: 'Example Inc. · 1 Main Street · Springfield', colors: { primary: '#9333ea' } },
}, 'Newsletter');

golden('order-confirmation', {
  subject: { $template: 'Order ${/event/orderId} confirmed' },
  preheader: 'Thanks for your order',
  renderVariables: { supportEmail: 'help@example.com' },
  body: {
    root: 'email',
    elements: {
      email: { type: 'Email', props: {}, children: ['header', 'main', 'footer'] },
      header: { type: 'Section', props: { padding: '24px', align: 'center', backgroundColor: '#18181b' }, children: ['logo'] },
      logo: { type: 'Image', props: { src: { $state: '/brand/logoUrl' }, alt: { $state: '/brand/name' }, width: 140, align: 'center' } },
      main: { type: 'Section', props: { padding: '32px 24px' }, children: ['title', 'intro', 'lines', 'cta', 'divider', 'addr'] },
      title: { type: 'Heading', props: { text: { $template: 'Thanks, ${/profile/firstName}!' } } },
      intro: { type: 'Text', props: { text: { $template: 'We received order ${/event/orderId} on ${/event/placedAt}.' } } },
      lines: {
        type: 'Table',
        props: {
          columns: [{ header: 'Item', path: '/name' }, { header: 'Qty', path: '/qty', align: 'right' }],
          rows: { $state: '/event/items' },
          footer: [{ label: 'Total', value: { $computed: 'formatCurrency', args: { value: { $state: '/event/total' }, currency: { $state: '/event/currency' } } } }],
        },
      },
      cta: { type: 'Button', props: { label: 'View your order', href: { $template: 'https://shop.example/orders/${/event/orderId}' }, align: 'center' } },
      divider: { type: 'Divider', props: {} },
      addr: { type: 'Text', props: { text: { $template: 'Ship to:\n${/event/address/line1}\n${/event/address/city}' }, fontSize: 14 } },
      footer: { type: 'Section', props: { padding: '16px 24px', backgroundColor: '#f4f4f5', align: 'center' }, children: ['help'] },
      help: { type: 'Text', props: { text: { $template: 'Questions? Write to ${/variables/supportEmail}' }, fontSize: 12, color: '#52525b' } },
    },
  },
}, {
  event: { orderId: 'A-1001', placedAt: '30 May 2026', total: 45.5, currency: 'EUR', items: [{ name: 'Blue mug', qty: 2 }, { name: 'Tea sampler', qty: 1 }], address: { line1: '1 Main Street', city: 'Springfield' } },
  profile: { firstName: 'Sam' },
  brand: { name: 'Example Shop', logoUrl: 'https://placehold.co/140x40/18181b/ffffff.png?text=Example' },
});
