/**
 * Request validation: route schemas (TypeBox → JSON Schema) compiled by ajv, and ajv errors
 * turned into `validation_failed` field errors with RFC 6901 pointers (conventions.md §4.4).
 * Bodies are validated strictly (no coercion, no defaults, no silent removal of unknown fields);
 * query, path and header values are strings on the wire and are coerced.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { escapeToken, isValidPointer } from '../lib/json-pointer.js';
import type { FieldError } from './errors.js';
import { PATTERN_MESSAGES } from './patterns.js';
import { isValidEmail } from '../lib/email.js';

export { canonicalEmail, isValidEmail } from '../lib/email.js';
export { parseDateTime } from '../lib/date-time.js';
import { parseDateTime } from '../lib/date-time.js';

function addFormats(ajv: Ajv): Ajv {
  ajv.addFormat('sf-email', { type: 'string', validate: isValidEmail });
  ajv.addFormat('sf-date-time', { type: 'string', validate: (v: string) => parseDateTime(v) !== null });
  ajv.addFormat('sf-json-pointer', { type: 'string', validate: isValidPointer });
  return ajv;
}

const bodyAjv = addFormats(new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes: false, useDefaults: false, removeAdditional: false }));
const paramAjv = addFormats(new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false }));

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : paramAjv;
  return ajv.compile(schema as object) as ValidateFunction;
};

const PART: Record<string, FieldError['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

const FORMAT_MESSAGES: Record<string, string> = {
  'sf-email': 'must be a valid email address',
  'sf-date-time': 'must be an ISO-8601 date-time with a zone (Z or ±HH:MM) on a real calendar date',
  'sf-json-pointer': 'must be a valid JSON Pointer (RFC 6901)',
};

/**
 * Converts ajv errors to field errors. A failed anyOf reports the errors of the one branch whose
 * type the value has (an array of addresses with a bad item → `/cc/1`); when the value fits
 * several branches or none, the branch noise collapses into one error on the anyOf itself.
 */
export function fieldErrorsFromAjv(errors: readonly ErrorObject[], context: string): FieldError[] {
  return convertErrors(errors, PART[context] ?? 'body');
}

function convertErrors(errors: readonly ErrorObject[], part: FieldError['in']): FieldError[] {
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath + '/');
  const result: FieldError[] = [];
  for (const e of errors) {
    if (anyOfPaths.some((p) => e.schemaPath.startsWith(p))) continue;
    let pointer = e.instancePath;
    let message = e.message ?? 'is invalid';
    switch (e.keyword) {
      case 'required':
        pointer += '/' + escapeToken(String(e.params.missingProperty));
        message = 'is required';
        break;
      case 'additionalProperties':
        pointer += '/' + escapeToken(String(e.params.additionalProperty));
        message = 'unknown field';
        break;
      case 'format':
        message = FORMAT_MESSAGES[String(e.params.format)] ?? message;
        break;
      case 'pattern':
        message = PATTERN_MESSAGES[String(e.params.pattern)] ?? message;
        break;
      case 'anyOf': {
        const branch = branchOfValueType(e, errors);
        if (branch !== null) {
          result.push(...convertErrors(branch, part));
          continue;
        }
        const branches = (e.parentSchema as { anyOf?: { required?: string[] }[] } | undefined)?.anyOf ?? [];
        const requiredOnly = branches.every((b) => Array.isArray(b.required) && Object.keys(b).length === 1);
        message = requiredOnly
          ? `must have at least one of: ${branches.map((b) => b.required!.join(' + ')).join(', ')}`
          : 'does not match any allowed form';
        break;
      }
    }
    // Errors about an object's keys (propertyNames) point at the key itself (conventions.md §4.4):
    // ajv marks the inner errors with `propertyName` and adds one generic wrapper error per key,
    // which is dropped when an inner error already names that key.
    if (e.keyword === 'propertyNames') {
      const key = String(e.params.propertyName);
      if (errors.some((inner) => inner.propertyName === key && inner.instancePath === e.instancePath)) continue;
      pointer += '/' + escapeToken(key);
      message = 'is not an allowed key';
    } else if (e.propertyName !== undefined) {
      pointer += '/' + escapeToken(e.propertyName);
      message = `key ${message}`;
    }
    result.push({ in: part, pointer, message });
  }
  return result;
}

/** The errors of the only anyOf branch that did not reject the value's type, or null. */
function branchOfValueType(anyOf: ErrorObject, errors: readonly ErrorObject[]): ErrorObject[] | null {
  const prefix = anyOf.schemaPath + '/';
  const byBranch = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    if (!e.schemaPath.startsWith(prefix)) continue;
    const branch = e.schemaPath.slice(prefix.length).split('/')[0]!;
    byBranch.set(branch, [...(byBranch.get(branch) ?? []), e]);
  }
  const typed = [...byBranch.values()].filter((list) => !list.some((e) => e.keyword === 'type' && e.instancePath === anyOf.instancePath));
  return typed.length === 1 ? typed[0]! : null;
}

export { bodyAjv };
