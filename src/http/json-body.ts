/**
 * The JSON body parser of the unified API (conventions.md §5). It rejects, before any recursive
 * processing and before the idempotency layer: invalid UTF-8 or JSON (`malformed_json`), nesting
 * deeper than 32, the keys `__proto__` / `constructor` / `prototype`, NUL characters and
 * unpaired surrogates, numbers too large to be finite (`1e400` parses to Infinity, which would be
 * stored as null) — all `validation_failed` with the pointer of the offending spot.
 * JSON.parse creates `__proto__` as a plain own property, so parsing itself is safe; the walk is
 * iterative, so no input can overflow the stack.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';
import { HttpError, validationError } from './errors.js';
import { escapeToken } from '../lib/json-pointer.js';

export const MAX_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// Either NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
export const BAD_STRING = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseJsonBody(raw: Buffer): unknown {
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch {
    throw new HttpError('malformed_json', 'Request body is not valid UTF-8.');
  }
  if (text.trim() === '') throw new HttpError('malformed_json', 'Request body is empty; send a JSON value.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError('malformed_json', 'Request body is not valid JSON.');
  }
  checkJsonValue(value);
  return value;
}

/** Throws `validation_failed` for the first problem found, in document order. */
export function checkJsonValue(value: unknown): void {
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value, pointer: '', depth: 1 }];
  while (stack.length > 0) {
    const { value: node, pointer, depth } = stack.pop()!;
    if (typeof node === 'string') {
      if (BAD_STRING.test(node)) throw bodyError(pointer, 'must not contain NUL characters or unpaired surrogates');
      continue;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) throw bodyError(pointer, 'must be a finite number');
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_DEPTH) throw bodyError(pointer, `nesting deeper than ${MAX_DEPTH} levels`);
    const children: { value: unknown; pointer: string; depth: number }[] = [];
    if (Array.isArray(node)) {
      node.forEach((item, i) => children.push({ value: item, pointer: `${pointer}/${i}`, depth: depth + 1 }));
    } else {
      for (const key of Object.keys(node)) {
        const childPointer = `${pointer}/${escapeToken(key)}`;
        if (FORBIDDEN_KEYS.has(key)) throw bodyError(childPointer, 'forbidden key');
        if (BAD_STRING.test(key)) throw bodyError(childPointer, 'keys must not contain NUL characters or unpaired surrogates');
        children.push({ value: (node as Record<string, unknown>)[key], pointer: childPointer, depth: depth + 1 });
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
}

function bodyError(pointer: string, message: string): HttpError {
  return validationError([{ in: 'body', pointer, message }]);
}

/**
 * A route that requires a JSON body and got none (empty, with or without a JSON Content-Type) is
 * answered `malformed_json`: an empty body is not JSON, and like the other parse-level rejections
 * it happens before the idempotency layer and is not stored (conventions.md §5), so a retry with
 * the same key and a real body executes. Routes without a body schema keep accepting an empty
 * body; on a route whose body schema is optional (TypeBox `Type.Optional`, marked `~optional`)
 * an absent body is the empty object, validated and handled as `{}` — Fastify validates the
 * body even when there is none, and the compiled schema no longer carries the marker.
 */
export function registerEmptyBodyCheck(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    // Public routes (signed webhooks) parse and authenticate their bodies themselves, credentials first.
    if (request.body !== undefined || request.routeOptions.config.public === true) return;
    const schema = (request.routeOptions.schema as FastifySchema | undefined)?.body as { '~optional'?: boolean } | undefined;
    if (schema === undefined) return;
    if (schema['~optional'] === true) {
      request.body = {};
      return;
    }
    throw new HttpError('malformed_json', 'Request body is empty; send a JSON value.');
  });
}
