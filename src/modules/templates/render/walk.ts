/**
 * Walking the compiled plan: visibility (json-render's `evaluateVisibility`), `repeat` expansion
 * (at most 500 items, the rest ignored), and the node and size bounds that make every render
 * finish (templates.md §3, §6.6).
 */
import { evaluateVisibility, resolvePropValue } from '@json-render/core';
import { RenderBoundExceeded, type Inherited, type PlanNode, type RenderRun, type Scope } from './plan.js';

export const MAX_RENDERED_NODES = 10_000;
export const MAX_REPEAT_ITEMS = 500;
export const MAX_HTML_BYTES = 2 * 1024 * 1024;

export function countNode(run: RenderRun): void {
  if (++run.nodes > MAX_RENDERED_NODES) throw new RenderBoundExceeded('too_many_nodes');
}

export function isVisible(node: PlanNode, scope: Scope): boolean {
  return node.visible === undefined || evaluateVisibility(node.visible, scope);
}

export function renderNode(node: PlanNode, run: RenderRun, scope: Scope, inherited: Inherited): void {
  if (!isVisible(node, scope)) return;
  countNode(run);
  node.render(node, run, scope, inherited);
  // Characters never outnumber UTF-8 bytes, so this early check is safe; the exact one runs at the end.
  if (run.html.length > MAX_HTML_BYTES) throw new RenderBoundExceeded('html_too_large');
}

/** Calls `visit` for each child, or for each child once per repeat item with the item's scope. */
export function forEachChild(node: PlanNode, run: RenderRun, scope: Scope, visit: (child: PlanNode, scope: Scope) => void): void {
  const repeat = node.repeat;
  if (repeat === undefined) {
    for (const child of node.children) visit(child, scope);
    return;
  }
  const items = resolvePropValue(repeat.leaf, scope);
  if (!Array.isArray(items)) {
    if (items === undefined || items === null) run.missing.add(repeat.statePath);
    return;
  }
  const count = Math.min(items.length, MAX_REPEAT_ITEMS);
  for (let i = 0; i < count; i++) {
    const itemScope: Scope = { stateModel: scope.stateModel, repeatItem: items[i], repeatIndex: i, repeatBasePath: `${repeat.statePath}/${i}` };
    if (repeat.itemFilter !== undefined && !evaluateVisibility(repeat.itemFilter, itemScope)) continue;
    for (const child of node.children) visit(child, itemScope);
  }
}

export function renderChildren(node: PlanNode, run: RenderRun, scope: Scope, inherited: Inherited): void {
  forEachChild(node, run, scope, (child, childScope) => renderNode(child, run, childScope, inherited));
}

/** Adds a block of the derived plain text (skipped when `definition.text` is used). */
export function emitText(run: RenderRun, block: string): void {
  if (run.text !== undefined && block !== '') run.text.push(block);
}
