/**
 * Rendering a template (templates.md §4–§6). `compileTemplate` does the state-independent work
 * once — the element tree, every prop compiled to an evaluator, literal values validated and
 * converted — so a published snapshot is compiled once and cached by the caller; `renderTemplate`
 * then only evaluates the plan against one render state. Rendering evaluates no code and always
 * terminates: the plan is a finite tree and the bounds of §6.6 stop runaway repeats and output.
 */
import { getByPath } from '@json-render/core';
import { err, ok, type Result } from '../../../lib/result.js';
import { asColor } from './catalog.js';
import { compileBody, type BodyPlan } from './compile-plan.js';
import { compileText } from './compile-value.js';
import { isValidLocale } from './computed.js';
import type { TemplateDefinition } from './definition.js';
import { buildDocument, footerPlainText, type FooterParts } from './document.js';
import { escapeHtml, safeUrl, sanitizeHeaderValue } from './escape.js';
import { RenderBoundExceeded, type Evaluator, type Inherited, type RenderRun, type Scope } from './plan.js';
import { MAX_ELEMENTS } from './validate-body.js';
import { MAX_HTML_BYTES, renderNode } from './walk.js';

/** The render state (§5); absent roots are empty. `/variables` is `renderVariables` overlaid with `variables`. */
export interface RenderState {
  event?: object;
  data?: object;
  profile?: object;
  variables?: object;
  waited?: object;
  brand?: object;
  unsubscribeUrl?: string;
  preferencesUrl?: string;
}

export interface RenderOutput {
  subject: string;
  preheader: string;
  from: string;
  replyTo: string;
  html: string;
  text: string;
  /** Pointers that resolved to nothing (or to an object/array where text was expected), unique, first-encounter order. */
  missingPaths: string[];
}

export type RenderFailureReason = 'too_many_elements' | 'too_many_nodes' | 'html_too_large';

export interface RenderFailure {
  type: 'render_failed';
  reason: RenderFailureReason;
}

export interface UnsubscribeFooterOptions {
  /** Should be the send's `/unsubscribeUrl` (used for it when the state has none). */
  unsubscribeUrl: string;
  preferencesUrl: string;
  /** Overrides the brand's `footerText`. */
  footerText?: string;
}

export interface RenderOptions {
  unsubscribeFooter?: UnsubscribeFooterOptions;
}

interface TemplatePlan {
  readonly body: BodyPlan;
  readonly subject: Evaluator<string>;
  readonly preheader: Evaluator<string>;
  readonly from: Evaluator<string>;
  readonly replyTo: Evaluator<string>;
  readonly text: Evaluator<string> | undefined;
  readonly renderVariables: Readonly<Record<string, unknown>>;
  /** Default locale of `$computed` formatting: the language when Intl accepts it, else "en". */
  readonly locale: string;
}

/** A compiled template: immutable, safe to cache and to render concurrently. */
export interface CompiledTemplate {
  readonly purpose: string;
  readonly language: string;
  readonly plan: TemplatePlan | RenderFailure;
}

const MAX_SUBJECT = 998;
const SYSTEM_FONTS = '-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, Helvetica, Arial, sans-serif';
const DEFAULT_LINK_COLOR = '#2563eb';
/** `/brand/*` when a template has no Brand Kit (templates.md §5): every value empty. */
export const EMPTY_BRAND = {
  name: '',
  logoUrl: '',
  colors: { primary: '', secondary: '', accent: '', background: '', text: '', link: '' },
  fonts: { heading: '', body: '' },
  websiteUrl: '',
  footerText: '',
};

export function compileTemplate(definition: TemplateDefinition, meta: { purpose: string; language: string }): CompiledTemplate {
  const elements = definition.body.elements;
  if (Object.keys(elements).length > MAX_ELEMENTS) return { ...meta, plan: { type: 'render_failed', reason: 'too_many_elements' } };
  return {
    purpose: meta.purpose,
    language: meta.language,
    plan: {
      body: compileBody(definition.body),
      subject: compileText(definition.subject),
      preheader: compileText(definition.preheader),
      from: compileText(definition.from),
      replyTo: compileText(definition.replyTo),
      text: definition.text === undefined ? undefined : compileText(definition.text),
      renderVariables: definition.renderVariables,
      locale: isValidLocale(meta.language) ? meta.language : 'en',
    },
  };
}

export function renderTemplate(compiled: CompiledTemplate, state: RenderState, options: RenderOptions = {}): Result<RenderOutput, RenderFailure> {
  const plan = compiled.plan;
  if ('type' in plan) return err(plan);
  try {
    const output = renderPlan(plan, compiled, state, options);
    if (Buffer.byteLength(output.html, 'utf8') > MAX_HTML_BYTES) return err({ type: 'render_failed', reason: 'html_too_large' });
    return ok(output);
  } catch (error) {
    if (error instanceof RenderBoundExceeded) return err({ type: 'render_failed', reason: error.reason });
    throw error;
  }
}

export interface RenderedHeaders {
  subject: string;
  from: string;
  replyTo: string;
}

/**
 * Only the subject, from and reply-to (what an EmailSend freezes at creation): none of the body
 * is rendered, so a body that would exceed the render bounds does not blank the headers.
 */
export function renderHeaders(compiled: CompiledTemplate, state: RenderState, options: RenderOptions = {}): Result<RenderedHeaders, RenderFailure> {
  const plan = compiled.plan;
  if ('type' in plan) return err(plan);
  const scope: Scope = { stateModel: stateModelOf(plan, state, options) };
  const run: RenderRun = { missing: new Set(), locale: plan.locale, html: '', text: undefined, nodes: 0 };
  return ok({
    subject: sanitizeHeaderValue(plan.subject(run, scope), MAX_SUBJECT),
    from: sanitizeHeaderValue(plan.from(run, scope)),
    replyTo: sanitizeHeaderValue(plan.replyTo(run, scope)),
  });
}

function stateModelOf(plan: TemplatePlan, state: RenderState, options: RenderOptions): Record<string, unknown> {
  return {
    event: state.event ?? {},
    data: state.data ?? {},
    profile: state.profile ?? {},
    variables: state.variables === undefined ? plan.renderVariables : { ...plan.renderVariables, ...state.variables },
    waited: state.waited ?? {},
    brand: state.brand ?? EMPTY_BRAND,
    unsubscribeUrl: state.unsubscribeUrl ?? options.unsubscribeFooter?.unsubscribeUrl ?? '',
    preferencesUrl: state.preferencesUrl ?? options.unsubscribeFooter?.preferencesUrl ?? '',
  };
}

function renderPlan(plan: TemplatePlan, compiled: CompiledTemplate, state: RenderState, options: RenderOptions): RenderOutput {
  const stateModel = stateModelOf(plan, state, options);
  const scope: Scope = { stateModel };
  const run: RenderRun = {
    missing: new Set(),
    locale: plan.locale,
    html: '',
    text: plan.text === undefined ? [] : undefined,
    nodes: 0,
  };
  const subject = sanitizeHeaderValue(plan.subject(run, scope), MAX_SUBJECT);
  const preheader = sanitizeHeaderValue(plan.preheader(run, scope));
  const from = sanitizeHeaderValue(plan.from(run, scope));
  const replyTo = sanitizeHeaderValue(plan.replyTo(run, scope));

  const email = plan.body.email;
  const brandPrimary = asColor(getByPath(stateModel, '/brand/colors/primary'));
  const inherited: Inherited = {
    fontFamily: escapeHtml(email.fontFamily(run, scope) ?? SYSTEM_FONTS),
    textColor: email.textColor(run, scope) ?? '#18181b',
    linkColor: email.linkColor(run, scope) ?? brandPrimary ?? DEFAULT_LINK_COLOR,
    brandPrimary,
    align: 'left',
  };
  const backgroundColor = email.backgroundColor(run, scope) ?? '#f4f4f5';
  const contentBackgroundColor = email.contentBackgroundColor(run, scope) ?? '#ffffff';
  const width = email.width(run, scope) ?? 600;
  renderNode(plan.body.root, run, scope, inherited);
  const content = run.html;

  const footer = footerFor(compiled.purpose, stateModel, options, content);
  const html = buildDocument({ lang: compiled.language, subject, preheader, content, backgroundColor, contentBackgroundColor, width, fontFamily: inherited.fontFamily, textColor: inherited.textColor, footer });

  let text = plan.text === undefined ? run.text!.join('\n\n') : plan.text(run, scope).trim();
  if (footer && !text.includes(footer.unsubscribeUrl)) text += (text === '' ? '' : '\n\n') + footerPlainText(footer);
  return { subject, preheader, from, replyTo, html, text, missingPaths: [...run.missing] };
}

/** §6.5: non-transactional mail gets an unsubscribe footer unless its HTML already links the unsubscribe URL. */
function footerFor(purpose: string, stateModel: Record<string, unknown>, options: RenderOptions, content: string): FooterParts | undefined {
  if (purpose === 'Transactional') return undefined;
  const unsubscribeUrl = safeUrl(stateModel.unsubscribeUrl, false);
  if (unsubscribeUrl === undefined || content.includes(unsubscribeUrl) || content.includes(escapeHtml(unsubscribeUrl))) return undefined;
  const brandFooter = getByPath(stateModel, '/brand/footerText');
  return {
    unsubscribeUrl,
    preferencesUrl: safeUrl(stateModel.preferencesUrl, false),
    footerText: options.unsubscribeFooter?.footerText ?? (typeof brandFooter === 'string' ? brandFooter : ''),
  };
}
