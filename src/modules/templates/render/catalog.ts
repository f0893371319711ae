/**
 * Our email component catalog (templates.md §4) as data: each component's props with their
 * rules and which children it accepts. The same value rules validate literal props on save and
 * coerce dynamic values when rendering (an invalid dynamic result falls back to the default).
 */

export const COMPONENT_TYPES = [
  'Email', 'Section', 'Columns', 'Column', 'Heading', 'Text', 'Button', 'Image', 'Link', 'Divider', 'Spacer', 'List', 'ListItem', 'Table', 'Html',
] as const;
export type ComponentType = (typeof COMPONENT_TYPES)[number];

export const BLOCK_TYPES: ReadonlySet<ComponentType> = new Set<ComponentType>([
  'Section', 'Columns', 'Heading', 'Text', 'Button', 'Image', 'Link', 'Divider', 'Spacer', 'List', 'Table', 'Html',
]);

export function isComponentType(value: unknown): value is ComponentType {
  return typeof value === 'string' && (COMPONENT_TYPES as readonly string[]).includes(value);
}

// ---- value rules, shared by validation (literals) and rendering (dynamic results) ----

const COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
const PAD = /^\d{1,3}(?:px)?(?: \d{1,3}(?:px)?){0,3}$/;
const WIDTH = /^\d{1,3}(?:%|px)$/;
// Font names only: no `;`, `(`, `:` or braces, so a value cannot add CSS declarations or url()s.
const FONT_FAMILY = /^[\p{L}\p{N} ,'"._-]{1,200}$/u;

export type Align = 'left' | 'center' | 'right';

export const asColor = (v: unknown): string | undefined => (typeof v === 'string' && COLOR.test(v) ? v : undefined);
export const asPad = (v: unknown): string | undefined => (typeof v === 'string' && PAD.test(v) ? v : undefined);
export const asWidth = (v: unknown): string | undefined => (typeof v === 'string' && WIDTH.test(v) ? v : undefined);
export const asFontFamily = (v: unknown): string | undefined => (typeof v === 'string' && FONT_FAMILY.test(v) ? v : undefined);
export const asBoolean = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

export function asEnum<T extends string>(values: readonly T[]): (v: unknown) => T | undefined {
  return (v) => (typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T) : undefined);
}
export const asAlign = asEnum<Align>(['left', 'center', 'right']);

/** An integer in [min, max]; dynamic values may also be digit strings ("24"). */
export function asInt(min: number, max: number): (v: unknown) => number | undefined {
  return (v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : NaN;
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
  };
}

/** A prop's rule. `value` rules describe a scalar: `accept` coerces, `literal` is what a save accepts. */
export type PropRule =
  | { readonly kind: 'str' }
  | { readonly kind: 'url'; readonly mailto: boolean }
  | { readonly kind: 'value'; readonly accept: (v: unknown) => unknown; readonly literal: 'string' | 'number' | 'boolean'; readonly expected: string }
  | { readonly kind: 'html' }
  | { readonly kind: 'tableColumns' }
  | { readonly kind: 'tableRows' }
  | { readonly kind: 'tableFooter' };

export interface PropSpec {
  readonly rule: PropRule;
  readonly required?: boolean;
}

const requiredStr: PropSpec = { rule: { kind: 'str' }, required: true };
const color: PropSpec = { rule: { kind: 'value', accept: asColor, literal: 'string', expected: 'a color #rgb or #rrggbb' } };
const align: PropSpec = { rule: { kind: 'value', accept: asAlign, literal: 'string', expected: 'one of left, center, right' } };
const pad: PropSpec = { rule: { kind: 'value', accept: asPad, literal: 'string', expected: 'CSS padding of 1–4 pixel values, e.g. "24px" or "16px 24px"' } };
const bool: PropSpec = { rule: { kind: 'value', accept: asBoolean, literal: 'boolean', expected: 'a boolean' } };
const int = (min: number, max: number, required = false): PropSpec => ({
  rule: { kind: 'value', accept: asInt(min, max), literal: 'number', expected: `an integer ${min}–${max}` },
  required,
});
const url = (mailto: boolean, required: boolean): PropSpec => ({ rule: { kind: 'url', mailto }, required });
const enumOf = (values: readonly string[]): PropSpec => ({
  rule: { kind: 'value', accept: asEnum(values), literal: 'string', expected: `one of ${values.join(', ')}` },
});

export type ChildrenRule = 'blocks' | 'none' | { readonly only: ComponentType; readonly min?: number; readonly max?: number };

export interface ComponentSpec {
  readonly props: Readonly<Record<string, PropSpec>>;
  readonly children: ChildrenRule;
}

export const CATALOG: Readonly<Record<ComponentType, ComponentSpec>> = {
  Email: {
    props: {
      backgroundColor: color,
      contentBackgroundColor: color,
      width: int(320, 800),
      fontFamily: { rule: { kind: 'value', accept: asFontFamily, literal: 'string', expected: 'a font-family list of at most 200 characters (letters, digits, spaces, quotes, commas, dots, hyphens)' } },
      textColor: color,
      linkColor: color,
    },
    children: 'blocks',
  },
  Section: { props: { backgroundColor: color, padding: pad, align }, children: 'blocks' },
  Columns: { props: { gap: int(0, 64), stackOnMobile: bool }, children: { only: 'Column', min: 1, max: 4 } },
  Column: {
    props: {
      width: { rule: { kind: 'value', accept: asWidth, literal: 'string', expected: 'a width like "50%" or "200px"' } },
      verticalAlign: enumOf(['top', 'middle', 'bottom']),
      backgroundColor: color,
      padding: pad,
    },
    children: 'blocks',
  },
  Heading: { props: { text: requiredStr, level: { rule: { kind: 'value', accept: asInt(1, 3), literal: 'number', expected: 'one of 1, 2, 3' } }, align, color }, children: 'none' },
  Text: { props: { text: requiredStr, align, color, fontSize: int(10, 48), fontWeight: enumOf(['normal', 'bold']) }, children: { only: 'Link' } },
  Button: {
    props: { label: requiredStr, href: url(true, true), backgroundColor: color, textColor: color, align, fullWidth: bool },
    children: 'none',
  },
  Image: {
    props: { src: url(false, true), alt: requiredStr, width: int(1, 800), height: int(1, 2000), href: url(false, false), align },
    children: 'none',
  },
  Link: { props: { text: requiredStr, href: url(true, true), color }, children: 'none' },
  Divider: { props: { color, thickness: int(1, 8), margin: int(0, 64) }, children: 'none' },
  Spacer: { props: { height: int(1, 200, true) }, children: 'none' },
  List: { props: { ordered: bool }, children: { only: 'ListItem' } },
  ListItem: { props: { text: requiredStr }, children: { only: 'Link' } },
  Table: {
    props: {
      columns: { rule: { kind: 'tableColumns' }, required: true },
      rows: { rule: { kind: 'tableRows' }, required: true },
      showHeader: bool,
      footer: { rule: { kind: 'tableFooter' } },
    },
    children: 'none',
  },
  Html: { props: { html: { rule: { kind: 'html' }, required: true } }, children: 'none' },
};

export const TABLE_LIMITS = { columns: 8, footer: 10, rows: 500 } as const;
