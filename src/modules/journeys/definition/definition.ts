/**
 * The journey definition (journeys.md §2) in one import: its types, the save-time checks of §4
 * (structure → 400, semantics → 422), the ids it references (so the caller can load them for the
 * semantic check) and the entry key of `once_per_key` eligibility (§5). Pure: no storage, no HTTP.
 */
import { readPointer, type StateRoot } from './condition.js';
import type { JourneyDefinition } from './model.js';

export * from './model.js';
export type { DefinitionError } from './errors.js';
export { MAX_DEFINITION_ERRORS } from './errors.js';
export { validateDefinitionStructure } from './structure.js';
export {
  publicationReasonOf,
  TEMPLATE_PUBLICATION_REASONS,
  validateDefinitionSemantics,
  type DefinitionRefs,
  type SemanticsOptions,
  type TemplatePublicationReason,
  type TemplateRef,
} from './semantics.js';

export interface ReferencedIds {
  templateIds: string[];
  subscriptionGroupIds: string[];
  senderProfileIds: string[];
}

/** The template, subscription group and sender profile ids the steps name: lower-cased, unique, sorted. */
export function referencedIds(definition: JourneyDefinition): ReferencedIds {
  const templates = new Set<string>();
  const groups = new Set<string>();
  const senders = new Set<string>();
  for (const step of Object.values(definition.steps)) {
    if (step.type !== 'send_email') continue;
    templates.add(step.templateId.toLowerCase());
    if (step.subscriptionGroupId !== undefined) groups.add(step.subscriptionGroupId.toLowerCase());
    if (step.senderProfileId !== undefined) senders.add(step.senderProfileId.toLowerCase());
  }
  const sorted = (ids: Set<string>): string[] => [...ids].sort();
  return { templateIds: sorted(templates), subscriptionGroupIds: sorted(groups), senderProfileIds: sorted(senders) };
}

export type EntryKeyText = { ok: true; key: string } | { ok: false; reason: 'entry_key_missing' };

/**
 * The text identifying a `once_per_key` entry (§5): the value at `eligibility.key`, read from
 * `entryData` — the stored (redacted) event data for an event entry, the trigger variables for
 * an API entry. Strings as they are, numbers and booleans in JSON notation (so `"1"` and `1` are
 * the same key); anything else, or no key, is `entry_key_missing`.
 */
export function entryKeyText(definition: JourneyDefinition, entryData: Record<string, unknown>): EntryKeyText {
  const key = definition.eligibility?.key;
  if (key === undefined) return { ok: false, reason: 'entry_key_missing' };
  const root: StateRoot = definition.entry.type === 'event' ? 'event' : 'variables';
  const { found, value } = readPointer({ [root]: entryData }, key);
  if (found && typeof value === 'string') return { ok: true, key: value };
  if (found && ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean')) return { ok: true, key: JSON.stringify(value) };
  return { ok: false, reason: 'entry_key_missing' };
}
