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

const WHATWG_EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** conventions.md §6: trimmed, WHATWG-valid, ≤ 254 characters, local part ≤ 64. */
export function isValidEmail(raw: string): boolean {
  const email = raw.trim();
  if (email.length > 254 || !WHATWG_EMAIL.test(email)) return false;
  return email.indexOf('@') <= 64;
}

export function canonicalEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-](\d{2}):(\d{2}))$/;

/** ISO-8601 calendar date-time checked against the calendar (2026-02-30 is rejected). */
export function parseDateTime(value: string): number | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  // Extra fraction digits are truncated to milliseconds.
  const fraction = (m[7] ?? '').slice(0, 3).padEnd(3, '0');
  const zone = m[8] === 'Z' ? 'Z' : m[8]!;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${String(second).padStart(2, '0')}.${fraction}${zone}`);
  return Number.isNaN(ms) ? null : ms;
}

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

/** Converts ajv errors to field errors; anyOf branch noise collapses into one error on the anyOf. */
export function fieldErrorsFromAjv(errors: readonly ErrorObject[], context: string): FieldError[] {
  const part = PART[context] ?? 'body';
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
      case 'anyOf': {
        const branches = (e.parentSchema as { anyOf?: { required?: string[] }[] } | undefined)?.anyOf ?? [];
        const requiredOnly = branches.every((b) => Array.isArray(b.required) && Object.keys(b).length === 1);
        message = requiredOnly
          ? `must have at least one of: ${branches.map((b) => b.required!.join(' + ')).join(', ')}`
          : 'does not match any allowed form';
        break;
      }
    }
    result.push({ in: part, pointer, message });
  }
  return result;
}

export { bodyAjv };
