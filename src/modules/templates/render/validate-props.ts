/**
 * Save-time checks of an element's props against the catalog (templates.md §4): unknown and
 * missing required props, literal values against each prop's rule, and dynamic values through
 * the expression checks. Errors point at the prop, e.g. `/body/elements/hero/props/level`.
 */
import { escapeToken, isValidPointer } from '../../../lib/json-pointer.js';
import { asAlign, asWidth, CATALOG, TABLE_LIMITS, type ComponentType, type PropRule } from './catalog.js';
import { isDynamicValue, isPlainObject, validateTemplateText, validateValue, type ExpressionScope } from './validate-expression.js';

const at = (pointer: string, token: string | number): string => pointer + '/' + escapeToken(String(token));

export function validateProps(type: ComponentType, props: unknown, pointer: string, scope: ExpressionScope): void {
  if (!isPlainObject(props)) return scope.report(pointer, 'props must be an object');
  const specs = CATALOG[type].props;
  for (const [name, value] of Object.entries(props)) {
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const known = Object.keys(specs);
      scope.report(at(pointer, name), `unknown prop of ${type}; expected ${known.length ? 'one of ' + known.join(', ') : 'none'}`);
    } else {
      validateProp(spec.rule, value, at(pointer, name), scope);
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && props[name] === undefined) scope.report(at(pointer, name), `${type} requires ${name}`);
  }
}

function validateStr(value: unknown, pointer: string, scope: ExpressionScope, what = 'a string'): void {
  if (isDynamicValue(value)) validateValue(value, pointer, scope);
  else if (typeof value !== 'string') scope.report(pointer, `must be ${what} or a dynamic value`);
}

function validateProp(rule: PropRule, value: unknown, pointer: string, scope: ExpressionScope): void {
  switch (rule.kind) {
    case 'str':
      return validateStr(value, pointer, scope);
    case 'url':
      return validateStr(value, pointer, scope, 'a URL string');
    case 'value':
      if (isDynamicValue(value)) return validateValue(value, pointer, scope);
      if (typeof value !== rule.literal || rule.accept(value) === undefined) scope.report(pointer, `must be ${rule.expected}`);
      return;
    case 'html':
      if (typeof value === 'string') return;
      if (isPlainObject(value) && Object.keys(value).length === 1 && '$template' in value) {
        return validateTemplateText(value.$template, at(pointer, '$template'), scope.report);
      }
      return scope.report(pointer, 'must be a string or {"$template": string}');
    case 'tableColumns':
      return validateColumns(value, pointer, scope);
    case 'tableRows':
      if (isDynamicValue(value)) return validateValue(value, pointer, scope);
      if (!Array.isArray(value)) return scope.report(pointer, 'must be an array of objects or a dynamic value');
      value.forEach((row, i) => {
        if (isPlainObject(row) && !isDynamicValue(row)) validateValue(row, at(pointer, i), scope);
        else scope.report(at(pointer, i), 'each row must be an object');
      });
      return;
    case 'tableFooter':
      return validateFooter(value, pointer, scope);
  }
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], pointer: string, scope: ExpressionScope): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) scope.report(at(pointer, key), `unknown field; expected ${allowed.join(', ')}`);
}

function validateColumns(value: unknown, pointer: string, scope: ExpressionScope): void {
  if (!Array.isArray(value) || value.length < 1 || value.length > TABLE_LIMITS.columns) {
    return scope.report(pointer, `must be an array of 1–${TABLE_LIMITS.columns} columns {header, path, align?, width?}`);
  }
  value.forEach((column, i) => {
    const p = at(pointer, i);
    if (!isPlainObject(column)) return scope.report(p, 'each column must be an object {header, path, align?, width?}');
    checkKeys(column, ['header', 'path', 'align', 'width'], p, scope);
    if (column.header === undefined) scope.report(at(p, 'header'), 'column requires header');
    else validateStr(column.header, at(p, 'header'), scope);
    if (typeof column.path !== 'string' || !column.path.startsWith('/') || !isValidPointer(column.path)) {
      scope.report(at(p, 'path'), 'must be a JSON Pointer into the row, starting with "/"');
    }
    if (column.align !== undefined && asAlign(column.align) === undefined) scope.report(at(p, 'align'), 'must be one of left, center, right');
    if (column.width !== undefined && asWidth(column.width) === undefined) scope.report(at(p, 'width'), 'must be a width like "50%" or "120px"');
  });
}

function validateFooter(value: unknown, pointer: string, scope: ExpressionScope): void {
  if (!Array.isArray(value) || value.length > TABLE_LIMITS.footer) {
    return scope.report(pointer, `must be an array of at most ${TABLE_LIMITS.footer} rows {label, value}`);
  }
  value.forEach((row, i) => {
    const p = at(pointer, i);
    if (!isPlainObject(row)) return scope.report(p, 'each footer row must be an object {label, value}');
    checkKeys(row, ['label', 'value'], p, scope);
    for (const field of ['label', 'value']) {
      if (row[field] === undefined) scope.report(at(p, field), `footer row requires ${field}`);
      else validateStr(row[field], at(p, field), scope);
    }
  });
}
