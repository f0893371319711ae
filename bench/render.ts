/**
 * `npm run bench:render`: template renders per second on one core. A 12-element spec with 10
 * `$state` bindings (plus 3 `${…}` placeholders and a `visible` condition) is compiled once, as a
 * cached published snapshot is, and rendered many times with varying state; each render produces
 * subject, preheader, HTML, plain text and missingPaths. Target (from the issue): ≥ 10,000/s.
 *
 * Two references from the same run put the figure in proportion:
 *   - json-render alone: `evaluateVisibility` + `resolveElementProps` over the same 12 elements,
 *     i.e. prop resolution with no HTML, text, escaping or missing-path tracking;
 *   - html-to-text of the rendered HTML: what deriving the text part from the finished HTML on
 *     every render would cost (the renderer derives it while rendering instead).
 *
 * Environment: BENCH_SECONDS (default 3) per measurement after a 1 s warm-up; BENCH_STRICT=1 exits 1
 * when the target is missed.
 */
import { evaluateVisibility, resolveElementProps, type PropResolutionContext, type VisibilityCondition } from '@json-render/core';
import { normalizeDefinition, validateDefinition } from '../src/modules/templates/render/definition.js';
import { htmlToPlainText } from '../src/modules/templates/render/plain-text.js';
import { compileTemplate, renderTemplate, type RenderState } from '../src/modules/templates/render/render.js';

const TARGET_PER_SECOND = 10_000;
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

const definition = normalizeDefinition({
  subject: { $template: 'Order ${/event/orderId} confirmed' },
  preheader: { $template: 'Hi ${/profile/firstName}, thanks for your order' },
  renderVariables: { supportEmail: 'help@example.com' },
  body: {
    root: 'email',
    elements: {
      email: { type: 'Email', props: {}, children: ['header', 'main', 'footer'] },
      header: { type: 'Section', props: { padding: '24px', align: 'center', backgroundColor: { $state: '/brand/colors/background' } }, children: ['logo'] },
      logo: { type: 'Image', props: { src: { $state: '/brand/logoUrl' }, alt: { $state: '/brand/name' }, width: 120 } },
      main: { type: 'Section', props: {}, children: ['title', 'intro', 'cta', 'divider', 'note'] },
      title: { type: 'Heading', props: { text: { $state: '/profile/firstName' } } },
      intro: { type: 'Text', props: { text: { $state: '/event/message' } }, visible: { $state: '/event/message' } },
      cta: { type: 'Button', props: { label: { $state: '/event/ctaLabel' }, href: { $template: 'https://shop.example/orders/${/event/orderId}' } } },
      divider: { type: 'Divider', props: {} },
      note: { type: 'Text', props: { text: { $state: '/event/note' }, fontSize: 14 } },
      footer: { type: 'Section', props: { padding: '16px 24px' }, children: ['support', 'address'] },
      support: { type: 'Text', props: { text: { $state: '/variables/supportEmail' }, fontSize: 12 } },
      address: { type: 'Text', props: { text: { $state: '/brand/address' }, fontSize: 12, color: { $state: '/brand/colors/text' } } },
    },
  },
});

const problems = validateDefinition(definition);
if (problems.length > 0) throw new Error(`the benchmark definition is invalid: ${JSON.stringify(problems)}`);

function stateFor(i: number): RenderState {
  return {
    event: { orderId: `ord_${i}`, message: `Your order #${i} is on its way.`, ctaLabel: i % 3 ? 'View order' : 'Track parcel', note: i % 2 ? 'Gift wrapped' : 'Standard' },
    profile: { firstName: `Sam${i % 100}` },
    brand: { name: 'Example Shop', logoUrl: 'https://cdn.example/logo.png', address: '1 Main St, Springfield', colors: { background: '#f4f4f5', text: '#52525b' } },
  };
}

const STATES = Array.from({ length: 256 }, (_, i) => stateFor(i));

/** Runs `once(state)` over the varying states for `durationMs`; returns operations per second. */
function perSecond(durationMs: number, once: (state: RenderState) => void): { rate: number; count: number; ms: number } {
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs) {
    for (const state of STATES) once(state);
    count += STATES.length;
    now = performance.now();
  }
  return { rate: (count / (now - start)) * 1000, count, ms: now - start };
}

const compiled = compileTemplate(definition, { purpose: 'Transactional', language: 'en' });
let sink = 0;
const render = (state: RenderState): void => {
  const result = renderTemplate(compiled, state);
  if (!result.ok) throw new Error(`render failed: ${result.error.reason}`);
  sink += result.value.html.length + result.value.text.length;
};

const elements = Object.values(definition.body.elements);
const jsonRenderOnly = (state: RenderState): void => {
  const ctx: PropResolutionContext = { stateModel: { variables: definition.renderVariables, ...state } };
  for (const element of elements) {
    if (evaluateVisibility(element.visible as VisibilityCondition | undefined, ctx)) sink += Object.keys(resolveElementProps(element.props, ctx)).length;
  }
};

const sample = renderTemplate(compiled, STATES[1]!);
if (!sample.ok) throw new Error('sample render failed');
const sampleHtml = sample.value.html;
const htmlToText = (): void => {
  sink += htmlToPlainText(sampleHtml).length;
};

const duration = seconds * 1000;
perSecond(1000, render); // warm-up: JIT, Intl caches
const ours = perSecond(duration, render);
perSecond(500, jsonRenderOnly);
const reference = perSecond(duration, jsonRenderOnly);
perSecond(500, htmlToText);
const derive = perSecond(duration, htmlToText);
if (sink === 0) throw new Error('nothing rendered');

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const us = (rate: number) => (1e6 / rate).toFixed(1);
console.log(`renderTemplate        ${fmt(ours.rate).padStart(9)} renders/s on one core, ${us(ours.rate)} µs/render (${fmt(ours.count)} renders in ${(ours.ms / 1000).toFixed(1)} s; ${Buffer.byteLength(sampleHtml)} bytes of HTML, ${sample.value.text.length} chars of text)`);
console.log(`json-render props only ${fmt(reference.rate).padStart(8)} /s, ${us(reference.rate)} µs (renderTemplate = ${(ours.rate / reference.rate).toFixed(2)}× of it)`);
console.log(`html-to-text of HTML  ${fmt(derive.rate).padStart(9)} /s, ${us(derive.rate)} µs (would add ${((ours.rate / derive.rate) * 100).toFixed(0)}% to each render)`);
console.log(`target ≥ ${fmt(TARGET_PER_SECOND)} renders/s: ${ours.rate >= TARGET_PER_SECOND ? 'met' : 'MISSED'} (${(ours.rate / TARGET_PER_SECOND).toFixed(2)}×)`);
if (ours.rate < TARGET_PER_SECOND && process.env.BENCH_STRICT === '1') process.exit(1);
