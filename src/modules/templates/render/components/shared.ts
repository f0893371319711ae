/**
 * Small HTML helpers shared by the email components: the presentation-table opening, pixel
 * padding, link text for the plain-text part, and the `{render, inline}` shape each component
 * compiler returns.
 */
import type { InlineRenderer, NodeRenderer } from '../plan.js';

export interface CompiledComponent {
  readonly render: NodeRenderer;
  readonly inline?: InlineRenderer;
}

export type ComponentCompiler = (props: Readonly<Record<string, unknown>>) => CompiledComponent;

/** A full-width layout table; email clients lay out tables far more reliably than CSS boxes. */
export const LAYOUT_TABLE = '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"';

/** "16 24px" → "16px 24px" (the Pad rule allows bare numbers). */
export function pixelPadding(pad: string): string {
  return pad
    .split(' ')
    .map((v) => (v.endsWith('px') ? v : v + 'px'))
    .join(' ');
}

/** Links in the plain-text part read `text (url)` (mailto: shown as the address, as html-to-text does). */
export function linkText(text: string, url: string | undefined): string {
  if (url === undefined) return text;
  const shown = /^mailto:/i.test(url) ? url.slice(7) : url;
  return text === '' || text === url || text === shown ? shown : `${text} (${shown})`;
}

export const fontStyle = (fontFamily: string): string => `font-family:${fontFamily};`;
