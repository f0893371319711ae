/**
 * The Template `definition` (templates.md §1.1): its type, defaults, save-time validation (§1.1,
 * §3, §4) and what publishing still needs (§1.2). `body` is a json-render flat spec restricted to
 * our email catalog. Error pointers are relative to the definition; the API prefixes `/definition`.
 */
import type { UIElement } from '@json-render/core';
import { escapeToken, isValidPointer } from '../../../lib/json-pointer.js';
import { validateBody } from './validate-body.js';
import { isPlainObject, validateTemplateText } from './validate-expression.js';

/** A header-like field: literal text or a json-render `$template`. */
export type TemplateString = string | { $template: string };

/** One element of the flat spec (json-render's UIElement without actions, slots or relative repeats). */
export type TemplateElement = Pick<UIElement, 'type' | 'props' | 'children' | 'visible'> & {
  repeat?: { statePath: string; key?: string };
};

export interface TemplateBody {
  root: string;
  elements: Record<string, TemplateElement>;
}

export interface TemplateDefinition {
  from: TemplateString;
  subject: TemplateString;
  body: TemplateBody;
  replyTo: TemplateString;
  preheader: TemplateString;
  /** Explicit plain-text part; absent → derived from the rendered HTML. */
  text?: TemplateString;
  renderVariables: Record<string, unknown>;
  sensitiveTransactionalVariablePaths: string[];
}

/** What create/update accept: any subset, missing fields take their defaults. */
export type TemplateDefinitionInput = Partial<Omit<TemplateDefinition, 'body'>> & { body?: Partial<TemplateBody> };

export interface DefinitionError {
  pointer: string;
  message: string;
}

export const MAX_DEFINITION_ERRORS = 50;
const LIMITS = { from: 320, subject: 998, replyTo: 320, preheader: 500 } as const;
const MAX_TEXT_BYTES = 100 * 1024;
const MAX_RENDER_VARIABLES_BYTES = 64 * 1024;
const MAX_SENSITIVE_PATHS = 50;
const FIELDS = ['from', 'subject', 'body', 'replyTo', 'preheader', 'text', 'renderVariables', 'sensitiveTransactionalVariablePaths'];

/** Fills every missing field with its default (a new object; nested values are shared, not copied). */
export function normalizeDefinition(partial: TemplateDefinitionInput = {}): TemplateDefinition {
  const definition: TemplateDefinition = {
    from: partial.from ?? '',
    subject: partial.subject ?? '',
    body: { root: partial.body?.root ?? '', elements: partial.body?.elements ?? {} },
    replyTo: partial.replyTo ?? '',
    preheader: partial.preheader ?? '',
    renderVariables: partial.renderVariables ?? {},
    sensitiveTransactionalVariablePaths: partial.sensitiveTransactionalVariablePaths ?? [],
  };
  if (partial.text !== undefined) definition.text = partial.text;
  return definition;
}

/**
 * Every violation of templates.md §1.1, §3 and §4, sorted by pointer, at most 50. Missing fields
 * are fine (they take their defaults), so a partial definition can be validated before normalizing.
 */
export function validateDefinition(definition: unknown): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const report = (pointer: string, message: string): void => {
    errors.push({ pointer, message });
  };
  if (!isPlainObject(definition)) return [{ pointer: '', message: 'definition must be an object' }];
  for (const key of Object.keys(definition)) if (!FIELDS.includes(key)) report('/' + escapeToken(key), 'unknown field');
  for (const field of ['from', 'subject', 'replyTo', 'preheader'] as const) {
    validateTemplateString(definition[field], '/' + field, LIMITS[field], 'characters', report);
  }
  validateTemplateString(definition.text, '/text', MAX_TEXT_BYTES, 'bytes', report);
  validateBody(definition.body, report);
  validateRenderVariables(definition.renderVariables, report);
  validateSensitivePaths(definition.sensitiveTransactionalVariablePaths, report);
  return sortAndCap(errors);
}

function validateTemplateString(value: unknown, pointer: string, max: number, unit: 'characters' | 'bytes', report: (p: string, m: string) => void): void {
  if (value === undefined) return;
  const isTemplate = isPlainObject(value) && Object.keys(value).length === 1 && typeof value.$template === 'string';
  const text = typeof value === 'string' ? value : isTemplate ? (value.$template as string) : undefined;
  if (text === undefined) return report(pointer, 'must be a string or {"$template": string}');
  const size = unit === 'bytes' ? Buffer.byteLength(text, 'utf8') : text.length;
  if (size > max) report(isTemplate ? pointer + '/$template' : pointer, `at most ${max} ${unit}`);
  if (isTemplate) validateTemplateText(text, pointer + '/$template', report);
}

function validateRenderVariables(value: unknown, report: (p: string, m: string) => void): void {
  if (value === undefined) return;
  if (!isPlainObject(value)) return report('/renderVariables', 'must be an object');
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(value), 'utf8');
  } catch {
    return report('/renderVariables', 'must be JSON');
  }
  if (size > MAX_RENDER_VARIABLES_BYTES) report('/renderVariables', `at most ${MAX_RENDER_VARIABLES_BYTES} bytes of JSON`);
}

function validateSensitivePaths(value: unknown, report: (p: string, m: string) => void): void {
  const pointer = '/sensitiveTransactionalVariablePaths';
  if (value === undefined) return;
  if (!Array.isArray(value)) return report(pointer, 'must be an array of JSON Pointers starting with /data/');
  if (value.length > MAX_SENSITIVE_PATHS) report(pointer, `at most ${MAX_SENSITIVE_PATHS} paths`);
  value.forEach((path, i) => {
    if (typeof path !== 'string' || !path.startsWith('/data/') || !isValidPointer(path)) report(`${pointer}/${i}`, 'must be a JSON Pointer starting with /data/');
  });
}

function sortAndCap(errors: DefinitionError[]): DefinitionError[] {
  const seen = new Set<string>();
  const unique = errors.filter((e) => {
    const id = e.pointer + '\u0000' + e.message;
    return seen.has(id) ? false : (seen.add(id), true);
  });
  unique.sort((a, b) => (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  return unique.slice(0, MAX_DEFINITION_ERRORS);
}

export type PublishRequirement = 'subject' | 'sender' | 'body';

/** What publishing still needs (templates.md §1.2); the caller knows whether a sender is resolvable. */
export function missingForPublish(definition: TemplateDefinition, senderResolvable: boolean): PublishRequirement[] {
  const missing: PublishRequirement[] = [];
  const subject = typeof definition.subject === 'string' ? definition.subject : definition.subject.$template;
  if (subject.trim() === '') missing.push('subject');
  if (!senderResolvable) missing.push('sender');
  const { root, elements } = definition.body;
  if (root === '' || !Object.hasOwn(elements, root)) missing.push('body');
  return missing;
}
