/**
 * The shapes shared by the compiler and the renderer: a compiled element (`PlanNode`), the
 * mutable state of one render (`RenderRun`), the json-render resolution scope, and the styles an
 * element inherits from its container. Compiled plans are immutable and shared across renders.
 */
import type { PropResolutionContext, VisibilityCondition } from '@json-render/core';
import type { Align, ComponentType } from './catalog.js';

/** json-render's resolution context: `stateModel`, plus `repeatItem`/`repeatIndex`/`repeatBasePath` inside a repeat. */
export type Scope = PropResolutionContext;

export interface RenderRun {
  /** Pointers that resolved to nothing (or to an object/array in a text position), first-encounter order. */
  missing: Set<string>;
  /** Default locale of `$computed` formatting: the template language. */
  readonly locale: string;
  html: string;
  /** Plain-text blocks derived while rendering; undefined when `definition.text` replaces them. */
  text: string[] | undefined;
  /** Rendered nodes so far (element instances and table rows), bounded. */
  nodes: number;
}

export type Evaluator<T> = (run: RenderRun, scope: Scope) => T;

/** Styles flowing from the Email and Section down to the blocks (values already safe for a style attribute). */
export interface Inherited {
  readonly fontFamily: string;
  readonly textColor: string;
  readonly linkColor: string;
  readonly brandPrimary: string | undefined;
  readonly align: Align;
  /** Set by Columns for its Column children: the width a Column without one takes, and its stacking class. */
  readonly column?: { readonly defaultWidth: string; readonly stackClass: string };
}

export type NodeRenderer = (node: PlanNode, run: RenderRun, scope: Scope, inherited: Inherited) => void;

export interface PlanNode {
  readonly key: string;
  readonly type: ComponentType;
  /** Evaluated in the parent's scope; for a repeating element only its container part. */
  readonly visible: VisibilityCondition | undefined;
  readonly repeat:
    | { readonly statePath: string; readonly leaf: { readonly $state: string }; readonly itemFilter: VisibilityCondition | undefined }
    | undefined;
  readonly children: readonly PlanNode[];
  readonly render: NodeRenderer;
  /** Inline form (Link inside Text or ListItem): its HTML and plain text. */
  readonly inline: InlineRenderer | undefined;
}

export type InlineRenderer = (run: RenderRun, scope: Scope, inherited: Inherited) => { readonly html: string; readonly text: string };

/** A render stops at the first exceeded bound (templates.md §6.6). */
export class RenderBoundExceeded extends Error {
  constructor(readonly reason: 'too_many_nodes' | 'html_too_large') {
    super(reason);
  }
}
