/**
 * Compiles `definition.body` into a tree of `PlanNode`s once per template: only elements
 * reachable from the root, each at most once (so a malformed spec cannot loop), children filtered
 * to what the parent's component accepts, conditions checked with json-render's strict schema
 * (an invalid one hides its element) and a repeating element's condition split by json-render
 * into a container gate and a per-item filter. A root that is not an Email is wrapped in one.
 */
import { splitRepeatVisibility } from '@json-render/core';
import { asColor, asFontFamily, asInt, BLOCK_TYPES, CATALOG, isComponentType, type ComponentType } from './catalog.js';
import { compileCondition, compileScalar } from './compile-value.js';
import { COMPONENT_COMPILERS } from './components/index.js';
import type { Evaluator, PlanNode } from './plan.js';
import { statePointerProblem } from './state-pointers.js';
import { isPlainObject } from './validate-expression.js';
import { renderChildren } from './walk.js';

export interface EmailPlan {
  readonly backgroundColor: Evaluator<string | undefined>;
  readonly contentBackgroundColor: Evaluator<string | undefined>;
  readonly width: Evaluator<number | undefined>;
  readonly fontFamily: Evaluator<string | undefined>;
  readonly textColor: Evaluator<string | undefined>;
  readonly linkColor: Evaluator<string | undefined>;
}

export interface BodyPlan {
  /** An Email node whose renderer writes the content (the document shell is written around it). */
  readonly root: PlanNode;
  readonly email: EmailPlan;
}

function compileEmailProps(props: Readonly<Record<string, unknown>>): EmailPlan {
  return {
    backgroundColor: compileScalar(props.backgroundColor, asColor),
    contentBackgroundColor: compileScalar(props.contentBackgroundColor, asColor),
    width: compileScalar(props.width, asInt(320, 800)),
    fontFamily: compileScalar(props.fontFamily, asFontFamily),
    textColor: compileScalar(props.textColor, asColor),
    linkColor: compileScalar(props.linkColor, asColor),
  };
}

function accepts(parent: ComponentType, child: ComponentType): boolean {
  const rule = CATALOG[parent].children;
  if (rule === 'none') return false;
  return rule === 'blocks' ? BLOCK_TYPES.has(child) : rule.only === child;
}

const propsOf = (element: Record<string, unknown>): Readonly<Record<string, unknown>> => (isPlainObject(element.props) ? element.props : {});

export function compileBody(body: { root: unknown; elements: unknown }): BodyPlan {
  const elements = isPlainObject(body.elements) ? body.elements : {};
  const visited = new Set<string>();

  const elementAt = (key: string): (Record<string, unknown> & { type: ComponentType }) | undefined => {
    const element = Object.hasOwn(elements, key) ? elements[key] : undefined;
    return isPlainObject(element) && isComponentType(element.type) ? (element as Record<string, unknown> & { type: ComponentType }) : undefined;
  };

  const compileNode = (key: string): PlanNode | undefined => {
    const element = elementAt(key);
    if (element === undefined || visited.has(key)) return undefined;
    visited.add(key);
    const type = element.type;
    const children: PlanNode[] = [];
    for (const childKey of Array.isArray(element.children) ? element.children : []) {
      if (typeof childKey !== 'string') continue;
      const child = compileNode(childKey);
      if (child !== undefined && accepts(type, child.type)) children.push(child);
    }
    const visible = element.visible === undefined ? undefined : compileCondition(element.visible);
    let repeat: PlanNode['repeat'];
    let gate = visible;
    if (element.repeat !== undefined) {
      const statePath = isPlainObject(element.repeat) ? element.repeat.statePath : undefined;
      if (typeof statePath !== 'string' || statePointerProblem(statePath) !== undefined) children.length = 0; // an invalid repeat repeats nothing
      const split = splitRepeatVisibility(visible);
      gate = split.container;
      repeat = { statePath: String(statePath), leaf: { $state: String(statePath) }, itemFilter: split.itemFilter };
    }
    const component = COMPONENT_COMPILERS[type](propsOf(element));
    return { key, type, visible: gate, repeat, children, render: component.render, inline: component.inline };
  };

  const rootKey = typeof body.root === 'string' ? body.root : '';
  const rootElement = elementAt(rootKey);
  if (rootElement?.type === 'Email') {
    return { root: compileNode(rootKey)!, email: compileEmailProps(propsOf(rootElement)) };
  }
  const content = compileNode(rootKey);
  const root: PlanNode = {
    key: '',
    type: 'Email',
    visible: undefined,
    repeat: undefined,
    children: content !== undefined && accepts('Email', content.type) ? [content] : [],
    render: renderChildren,
    inline: undefined,
  };
  return { root, email: compileEmailProps({}) };
}
