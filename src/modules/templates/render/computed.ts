/**
 * The closed list of `$computed` functions (templates.md §4.3). Each one formats with Intl in the
 * template's language unless a `locale` argument says otherwise; invalid input yields `""`, never
 * an error. Intl formatters are expensive to build, so they are cached by their options.
 */
import { parseDateTime } from '../../../lib/date-time.js';

type Args = Readonly<Record<string, unknown>>;

/** A literal argument's problem on save (dynamic arguments are checked only when rendering). */
type LiteralCheck = (value: unknown) => string | undefined;

export interface ComputedFunctionSpec {
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly literal: Readonly<Record<string, LiteralCheck>>;
  readonly run: (args: Args, defaultLocale: string) => unknown;
}

const FORMATTER_CACHE_LIMIT = 256;
const formatters = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();

function cached<T extends Intl.NumberFormat | Intl.DateTimeFormat>(key: string, build: () => T): T | undefined {
  const hit = formatters.get(key);
  if (hit) return hit as T;
  let made: T;
  try {
    made = build();
  } catch {
    return undefined; // unknown currency, time zone or option: invalid input
  }
  if (formatters.size >= FORMATTER_CACHE_LIMIT) formatters.clear();
  formatters.set(key, made);
  return made;
}

export function isValidLocale(value: unknown): value is string {
  if (typeof value !== 'string' || value === '' || value.length > 35) return false;
  try {
    return Intl.getCanonicalLocales(value).length === 1;
  } catch {
    return false;
  }
}

function isValidTimeZone(value: unknown): value is string {
  if (typeof value !== 'string' || value === '' || value.length > 64) return false;
  return cached(`tz|${value}`, () => new Intl.DateTimeFormat('en', { timeZone: value })) !== undefined;
}

const NUMERIC_STRING = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && NUMERIC_STRING.test(value.trim())) return Number(value.trim());
  return undefined;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= 8.64e15 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const ms = parseDateTime(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
  return ms ?? undefined;
}

/** The locale argument, or the default when absent; undefined when given but invalid. */
function localeArg(args: Args, defaultLocale: string): string | undefined {
  if (args.locale === undefined || args.locale === null) return defaultLocale;
  return isValidLocale(args.locale) ? args.locale : undefined;
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

const checkDecimals: LiteralCheck = (v) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 20 ? undefined : 'must be an integer 0–20');
const checkLocale: LiteralCheck = (v) => (isValidLocale(v) ? undefined : 'must be a BCP-47 language tag');
const checkCurrency: LiteralCheck = (v) => (typeof v === 'string' && /^[A-Za-z]{3}$/.test(v) ? undefined : 'must be an ISO 4217 currency code');
const checkTimeZone: LiteralCheck = (v) => (isValidTimeZone(v) ? undefined : 'must be an IANA time zone');
const checkStyle: LiteralCheck = (v) => (v === 'date' || v === 'datetime' || v === 'time' ? undefined : 'must be one of date, datetime, time');
const checkString: LiteralCheck = (v) => (typeof v === 'string' ? undefined : 'must be a string');

function formatNumber(args: Args, defaultLocale: string): string {
  const value = toNumber(args.value);
  const locale = localeArg(args, defaultLocale);
  const decimals = args.decimals;
  if (value === undefined || locale === undefined) return '';
  if (decimals !== undefined && checkDecimals(decimals) !== undefined) return '';
  const d = decimals as number | undefined;
  const format = cached(`n|${locale}|${d ?? ''}`, () =>
    new Intl.NumberFormat(locale, d === undefined ? {} : { minimumFractionDigits: d, maximumFractionDigits: d }),
  );
  return format ? format.format(value) : '';
}

function formatCurrency(args: Args, defaultLocale: string): string {
  const value = toNumber(args.value);
  const locale = localeArg(args, defaultLocale);
  if (value === undefined || locale === undefined || checkCurrency(args.currency) !== undefined) return '';
  const currency = (args.currency as string).toUpperCase();
  const format = cached(`c|${locale}|${currency}`, () => new Intl.NumberFormat(locale, { style: 'currency', currency }));
  return format ? format.format(value) : '';
}

const DATE_STYLES: Record<string, Intl.DateTimeFormatOptions> = {
  date: { dateStyle: 'medium' },
  datetime: { dateStyle: 'medium', timeStyle: 'short' },
  time: { timeStyle: 'short' },
};

function formatDate(args: Args, defaultLocale: string): string {
  const ms = toEpochMs(args.value);
  const locale = localeArg(args, defaultLocale);
  const style = args.style ?? 'date';
  const timeZone = args.timeZone ?? 'UTC';
  if (ms === undefined || locale === undefined || typeof style !== 'string' || typeof timeZone !== 'string') return '';
  const options = DATE_STYLES[style];
  if (!options || timeZone === '') return '';
  const format = cached(`d|${locale}|${style}|${timeZone}`, () => new Intl.DateTimeFormat(locale, { ...options, timeZone }));
  return format ? format.format(ms) : '';
}

/** `default`: the fallback when the value is null, missing or "". */
export function isEmptyForDefault(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function join(args: Args): string {
  const separator = args.separator ?? ', ';
  if (!Array.isArray(args.value) || typeof separator !== 'string') return '';
  return args.value.filter(isScalar).map(String).join(separator);
}

export const COMPUTED_FUNCTIONS: Readonly<Record<string, ComputedFunctionSpec>> = {
  formatNumber: { required: ['value'], optional: ['decimals', 'locale'], literal: { decimals: checkDecimals, locale: checkLocale }, run: formatNumber },
  formatCurrency: { required: ['value', 'currency'], optional: ['locale'], literal: { currency: checkCurrency, locale: checkLocale }, run: formatCurrency },
  formatDate: {
    required: ['value'],
    optional: ['style', 'timeZone', 'locale'],
    literal: { style: checkStyle, timeZone: checkTimeZone, locale: checkLocale },
    run: formatDate,
  },
  default: { required: ['value', 'fallback'], optional: [], literal: {}, run: (a) => (isEmptyForDefault(a.value) ? a.fallback : a.value) },
  upper: { required: ['value'], optional: [], literal: {}, run: (a) => (isScalar(a.value) ? String(a.value).toUpperCase() : '') },
  lower: { required: ['value'], optional: [], literal: {}, run: (a) => (isScalar(a.value) ? String(a.value).toLowerCase() : '') },
  join: { required: ['value'], optional: ['separator'], literal: { separator: checkString }, run: join },
};

export function computedFunction(name: string): ComputedFunctionSpec | undefined {
  return Object.hasOwn(COMPUTED_FUNCTIONS, name) ? COMPUTED_FUNCTIONS[name] : undefined;
}
