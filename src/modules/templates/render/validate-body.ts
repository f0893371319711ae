/**
 * Save-time checks of `definition.body`, the json-render flat spec (templates.md §3, §4): element
 * keys and fields, known component types, children that exist and are allowed by the parent's
 * component, at most one parent, no cycles, and every element's props, `visible` and `repeat`.
 */
import { escapeToken } from '../../../lib/json-pointer.js';
import { BLOCK_TYPES, CATALOG, isComponentType, type ComponentType } from './catalog.js';
import { statePointerProblem } from './state-pointers.js';
import { isPlainObject, validateCondition } from './validate-expression.js';
import { validateProps } from './validate-props.js';

export const MAX_ELEMENTS = 500;
const ELEMENT_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const ELEMENT_FIELDS = ['type', 'props', 'children', 'visible', 'repeat'];
const ACTION_FIELDS = ['on', 'watch', 'slots'];

type Report = (pointer: string, message: string) => void;
const at = (pointer: string, token: string | number): string => pointer + '/' + escapeToken(String(token));

export function validateBody(body: unknown, report: Report): void {
  if (body === undefined) return;
  if (!isPlainObject(body)) return report('/body', 'must be an object {root, elements}');
  for (const key of Object.keys(body)) if (key !== 'root' && key !== 'elements') report(at('/body', key), 'unknown field; expected root, elements');
  if (body.root !== undefined && typeof body.root !== 'string') report('/body/root', 'must be a string');
  if (body.elements === undefined) return;
  if (!isPlainObject(body.elements)) return report('/body/elements', 'must be an object mapping keys to elements');
  const elements = body.elements;
  const keys = Object.keys(elements);
  if (keys.length > MAX_ELEMENTS) report('/body/elements', `at most ${MAX_ELEMENTS} elements (got ${keys.length})`);

  const typeOf = (key: string): ComponentType | undefined => {
    const el = Object.hasOwn(elements, key) ? elements[key] : undefined;
    return isPlainObject(el) && isComponentType(el.type) ? el.type : undefined;
  };
  const parentOf = checkChildren(elements, typeOf, report);
  checkCycles(elements, typeof body.root === 'string' ? body.root : '', report);

  // An element is inside a repeat when an ancestor repeats (the walk up is bounded: parents may form a ring).
  const inRepeat = (key: string): boolean => {
    let current = parentOf.get(key);
    for (let steps = 0; current !== undefined && steps <= keys.length; steps++) {
      const el = elements[current];
      if (isPlainObject(el) && el.repeat !== undefined) return true;
      current = parentOf.get(current);
    }
    return false;
  };

  for (const key of keys) {
    const pointer = at('/body/elements', key);
    if (!ELEMENT_KEY.test(key)) report(pointer, 'element key must match ^[A-Za-z0-9_-]{1,64}$');
    const element = elements[key];
    if (!isPlainObject(element)) {
      report(pointer, 'must be an object {type, props, children?, visible?, repeat?}');
      continue;
    }
    for (const field of Object.keys(element)) {
      if (ACTION_FIELDS.includes(field)) report(at(pointer, field), `${field} is not allowed: emails have no actions`);
      else if (!ELEMENT_FIELDS.includes(field)) report(at(pointer, field), `unknown field; expected ${ELEMENT_FIELDS.join(', ')}`);
    }
    const repeats = inRepeat(key);
    if (typeof element.type !== 'string') report(at(pointer, 'type'), 'type is required (a component name)');
    else if (!isComponentType(element.type)) report(at(pointer, 'type'), `unknown component "${element.type}"`);
    else validateProps(element.type, element.props, at(pointer, 'props'), { inRepeat: repeats, report });
    if (element.visible !== undefined) {
      // A repeating element's own condition may filter items ($item / $index), as in json-render.
      validateCondition(element.visible, at(pointer, 'visible'), { inRepeat: repeats || element.repeat !== undefined, report });
    }
    if (element.repeat !== undefined) checkRepeat(element.repeat, at(pointer, 'repeat'), report);
  }

  const root = body.root;
  if (typeof root === 'string' && root !== '') {
    const type = typeOf(root);
    if (type !== undefined && type !== 'Email' && !BLOCK_TYPES.has(type)) report('/body/root', `the root must be an Email or a block component, not ${type}`);
  }
}

function checkRepeat(repeat: unknown, pointer: string, report: Report): void {
  if (!isPlainObject(repeat)) return report(pointer, 'must be an object {statePath, key?}');
  for (const key of Object.keys(repeat)) if (key !== 'statePath' && key !== 'key') report(at(pointer, key), 'unknown field; expected statePath, key');
  const problem = statePointerProblem(repeat.statePath);
  if (problem) report(at(pointer, 'statePath'), problem);
  if (repeat.key !== undefined && typeof repeat.key !== 'string') report(at(pointer, 'key'), 'must be a string');
}

function describeAllowed(type: ComponentType): string {
  const rule = CATALOG[type].children;
  if (rule === 'none') return `${type} takes no children`;
  if (rule === 'blocks') return `${type} accepts block components (${[...BLOCK_TYPES].join(', ')})`;
  return `${type} accepts only ${rule.only} children`;
}

/** Children exist, are allowed by the parent's component and have one parent. Returns child → first parent. */
function checkChildren(elements: Record<string, unknown>, typeOf: (key: string) => ComponentType | undefined, report: Report): Map<string, string> {
  const parentOf = new Map<string, string>();
  for (const [key, element] of Object.entries(elements)) {
    if (!isPlainObject(element) || element.children === undefined) continue;
    const pointer = at(at('/body/elements', key), 'children');
    const children = element.children;
    if (!Array.isArray(children)) {
      report(pointer, 'must be an array of element keys');
      continue;
    }
    const parentType = typeOf(key);
    const rule = parentType ? CATALOG[parentType].children : undefined;
    if (rule === 'none' && children.length > 0) report(pointer, describeAllowed(parentType!));
    if (typeof rule === 'object' && ((rule.min !== undefined && children.length < rule.min) || (rule.max !== undefined && children.length > rule.max))) {
      report(pointer, `${parentType} takes ${rule.min ?? 0}–${rule.max ?? '∞'} ${rule.only} children`);
    }
    children.forEach((child, i) => {
      const childPointer = at(pointer, i);
      if (typeof child !== 'string') return report(childPointer, 'must be an element key (string)');
      if (!Object.hasOwn(elements, child)) return report(childPointer, `no element "${child}" in body.elements`);
      const previous = parentOf.get(child);
      if (previous !== undefined) return report(childPointer, `element "${child}" already has a parent ("${previous}"); an element has at most one parent`);
      parentOf.set(child, key);
      const childType = typeOf(child);
      if (parentType === undefined || childType === undefined || rule === 'none') return;
      const allowed = rule === 'blocks' ? BLOCK_TYPES.has(childType) : rule!.only === childType;
      if (!allowed) report(childPointer, `${childType} is not allowed here: ${describeAllowed(parentType)}`);
    });
  }
  return parentOf;
}

/** Iterative depth-first search over child edges; an edge back to an open element closes a cycle. */
function checkCycles(elements: Record<string, unknown>, root: string, report: Report): void {
  const state = new Map<string, 'open' | 'done'>();
  const childrenOf = (key: string): unknown[] => {
    const el = elements[key];
    return isPlainObject(el) && Array.isArray(el.children) ? el.children : [];
  };
  const starts = Object.hasOwn(elements, root) ? [root, ...Object.keys(elements)] : Object.keys(elements);
  for (const start of starts) {
    if (state.has(start)) continue;
    state.set(start, 'open');
    const stack: { key: string; next: number }[] = [{ key: start, next: 0 }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const children = childrenOf(frame.key);
      if (frame.next >= children.length) {
        state.set(frame.key, 'done');
        stack.pop();
        continue;
      }
      const index = frame.next++;
      const child = children[index];
      if (typeof child !== 'string' || !Object.hasOwn(elements, child)) continue;
      const seen = state.get(child);
      if (seen === 'open') report(at(at(at('/body/elements', frame.key), 'children'), index), `element "${child}" is an ancestor of "${frame.key}": cycles are not allowed`);
      else if (seen === undefined) {
        state.set(child, 'open');
        stack.push({ key: child, next: 0 });
      }
    }
  }
}
