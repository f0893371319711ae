/**
 * The served OpenAPI document is a valid OpenAPI 3.1 document: it passes the official 3.1 schema
 * (as shipped by @seriousme/openapi-schema-validator), every Schema Object in it is a valid JSON
 * Schema 2020-12 schema (the official document schema deliberately leaves Schema Objects
 * unchecked), every $ref resolves, and it describes every route we serve with its responses and
 * path parameters.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parsePointer } from '../../src/lib/json-pointer.js';
import { testDialects } from '../harness/database.js';
import { createTestApp, type TestApp } from '../harness/app.js';

interface Operation {
  operationId?: string;
  parameters?: { in: string; name: string; required?: boolean }[];
  responses?: Record<string, unknown>;
}
type OpenApiDocument = { openapi: string; paths: Record<string, Record<string, Operation>> } & Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Routes registered with `schema.hide`, left out of the document on purpose. */
const HIDDEN = new Set(['GET /api/v1/openapi.json']);
/** Operations whose success is a redirect (click tracking, emails.md §9), not a 2xx. */
const REDIRECTS = new Set(['GET /c/{token}']);

/** Fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}');

/** Every value of `key` anywhere in `node`, with the JSON Pointer of the object holding it. */
function collect(node: unknown, key: string, at = ''): [string, unknown][] {
  if (node === null || typeof node !== 'object') return [];
  const found: [string, unknown][] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === key) found.push([at, v]);
    found.push(...collect(v, key, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
  }
  return found;
}

// The document is generated from route schemas only, so it is the same on both databases: one
// dialect (the first configured, SQLite by default) is enough to build an app that serves it.
const dialect = testDialects()[0] ?? 'sqlite';

describe(`OpenAPI document [${dialect}]`, () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let operations: { method: string; path: string; op: Operation }[];
  before(async () => {
    t = await createTestApp(dialect);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(res.statusCode, 200);
    doc = JSON.parse(res.body) as OpenApiDocument;
    operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
    );
  });
  after(() => t.close());

  test('validates against the official OpenAPI 3.1 schema, internal $refs included', async () => {
    const validator = new Validator();
    // The validator keeps the object it is given (validator.specification): give it a copy.
    const result = await validator.validate(structuredClone(doc));
    assert.deepEqual(result, { valid: true }, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
  });

  test('every Schema Object is a valid JSON Schema 2020-12 schema', () => {
    // OpenAPI 3.1's default dialect is 2020-12 plus a few annotation keywords (discriminator, xml,
    // externalDocs, example), which the 2020-12 meta-schema accepts as unknown keywords.
    const ajv = new Ajv2020({ strict: false });
    const schemas = [
      ...Object.entries((doc.components as { schemas?: Record<string, unknown> } | undefined)?.schemas ?? {}).map(
        ([name, schema]) => [`/components/schemas/${name}`, schema] as const,
      ),
      // Under paths, a `schema` member is a Schema Object (parameters, media types, headers); the
      // top-level ones are enough, since the meta-schema checks what they contain.
      ...collect(doc.paths, 'schema', '/paths').filter(([at]) => !at.includes('/schema/')),
    ];
    assert.ok(schemas.length > 0);
    const invalid = schemas.filter(([, schema]) => !ajv.validateSchema(schema as object)).map(([at]) => at);
    assert.deepEqual(invalid, []);
  });

  test('every $ref is a local JSON Pointer that resolves', () => {
    const refs = collect(doc, '$ref');
    assert.ok(refs.length > 0);
    const unresolved = refs.filter(([, ref]) => {
      if (typeof ref !== 'string' || !ref.startsWith('#')) return true;
      let node: unknown = doc;
      for (const token of parsePointer(decodeURIComponent(ref.slice(1)))) {
        if (node === null || typeof node !== 'object' || !Object.hasOwn(node, token)) return true;
        node = (node as Record<string, unknown>)[token];
      }
      return false;
    });
    assert.deepEqual(unresolved, []);
  });

  test('every /api/v1 route is described with its method, and every described operation is a route', () => {
    const described = new Set(operations.map(({ method, path }) => `${method} ${path}`));
    // HEAD routes are the ones Fastify adds for each GET; @fastify/swagger leaves them out.
    const routes = t.app.registeredRoutes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`);
    const missing = routes
      .filter((r) => r.split(' ')[1]!.startsWith('/api/v1/') && !HIDDEN.has(r))
      .filter((r) => {
        const [method, url] = r.split(' ') as [string, string];
        return !described.has(`${method} ${openApiPath(url)}`);
      });
    assert.deepEqual(missing, []);
    const served = new Set(routes.map((r) => {
      const [method, url] = r.split(' ') as [string, string];
      return `${method} ${openApiPath(url)}`;
    }));
    assert.deepEqual([...described].filter((op) => !served.has(op)), []);
  });

  test('every operation documents a 2xx answer (3xx for a redirect) and error answers', () => {
    const codes = (op: Operation) => Object.keys(op.responses ?? {});
    const success = (method: string, path: string) => (REDIRECTS.has(`${method} ${path}`) ? /^3(\d\d|XX)$/ : /^2(\d\d|XX)$/);
    assert.deepEqual(
      operations.filter(({ method, path, op }) => !codes(op).some((c) => success(method, path).test(c))).map(({ method, path }) => `${method} ${path}`),
      [],
    );
    assert.deepEqual(
      operations.filter(({ op }) => !codes(op).some((c) => /^[45](\d\d|XX)$/.test(c) || c === 'default')).map(({ method, path }) => `${method} ${path}`),
      [],
    );
  });

  test('every {param} of a path is declared as a required path parameter, and no other', () => {
    const problems: string[] = [];
    for (const { method, path, op } of operations) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      // Path-level parameters apply to every operation of the path.
      const declared = [...((doc.paths[path] as { parameters?: Operation['parameters'] }).parameters ?? []), ...(op.parameters ?? [])].filter(
        (p) => p.in === 'path',
      );
      for (const name of inPath) {
        const parameter = declared.find((p) => p.name === name);
        if (!parameter) problems.push(`${method} ${path}: {${name}} not declared`);
        else if (parameter.required !== true) problems.push(`${method} ${path}: {${name}} not required`);
      }
      for (const { name } of declared) if (!inPath.includes(name)) problems.push(`${method} ${path}: ${name} is not in the path`);
    }
    assert.deepEqual(problems, []);
  });
});
