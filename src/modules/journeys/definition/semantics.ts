/**
 * Semantic checks of a structurally valid journey definition (journeys.md §4, answered with 422
 * `invalid_definition`, or `template_not_published` / `template_archived` when only publication
 * fails): the step graph (start, dangling ids, reachability, acyclicity — each step then runs at
 * most once per run, §6.2), referenced resources, pointer roots per context and the eligibility
 * key. The caller loads the referenced resources (see `referencedIds`) and passes them in, so
 * this stays free of storage.
 */
import { parsePointer } from '../../../lib/json-pointer.js';
import {
  CANDIDATE_FILTER_ROOTS,
  ENTRY_FILTER_ROOTS,
  RUN_STATE_ROOTS,
  statePointerProblem,
  validateCondition,
  type StateRoot,
} from './condition.js';
import { at, isPlainObject, sortAndCap, type DefinitionError } from './errors.js';
import { stepLinks, type JourneyDefinition, type JourneyStep, type StepLink } from './model.js';

export interface TemplateRef {
  /** `Transactional` templates need no subscription group. */
  purpose: string;
  published: boolean;
  archived: boolean;
}

/** The organization's resources named by the definition, keyed by id (compared case-insensitively). */
export interface DefinitionRefs {
  templates: ReadonlyMap<string, TemplateRef>;
  subscriptionGroups: ReadonlySet<string>;
  senderProfiles: ReadonlySet<string>;
}

export interface SemanticsOptions {
  /** Activating, and saving while Active or Paused: referenced templates must be published and not archived. */
  requirePublished: boolean;
}

export const TEMPLATE_PUBLICATION_REASONS = ['template_not_published', 'template_archived'] as const;
export type TemplatePublicationReason = (typeof TEMPLATE_PUBLICATION_REASONS)[number];

type Report = (pointer: string, message: string) => void;

/**
 * Every semantic error of `definition`, sorted by pointer, at most 50. Call only after
 * `validateDefinitionStructure` found nothing. Publication errors (with `requirePublished`) have
 * a message starting with their reason, e.g. `template_archived: …` (see `publicationReasonOf`).
 */
export function validateDefinitionSemantics(definition: JourneyDefinition, refs: DefinitionRefs, options: SemanticsOptions): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const report: Report = (pointer, message) => {
    errors.push({ pointer, message });
  };
  checkGraph(definition, report);
  checkEligibility(definition, report);
  checkRoots(definition, report, errors);
  checkReferences(definition, refs, options, report);
  return sortAndCap(errors);
}

/** The reason of a publication error from `validateDefinitionSemantics`, or null for any other error. */
export function publicationReasonOf(error: DefinitionError): TemplatePublicationReason | null {
  return TEMPLATE_PUBLICATION_REASONS.find((reason) => error.message.startsWith(reason + ':')) ?? null;
}

function checkGraph(definition: JourneyDefinition, report: Report): void {
  const steps = definition.steps;
  const ids = Object.keys(steps);
  const isStep = (id: string): boolean => Object.hasOwn(steps, id);
  const startIsStep = isStep(definition.start);
  if (!startIsStep) report('/start', `"${definition.start}" is not a step`);

  // Only links to existing steps form the graph; the others are reported once, here.
  const edges = new Map<string, StepLink[]>();
  for (const id of ids) {
    const links: StepLink[] = [];
    for (const link of stepLinks(steps[id]!)) {
      if (isStep(link.target)) links.push(link);
      else report(at(at('/steps', id), link.field), `"${link.target}" is not a step`);
    }
    edges.set(id, links);
  }

  // Without a valid start every step would be "unreachable"; the start error says enough.
  if (startIsStep) {
    const reached = new Set([definition.start]);
    const queue = [definition.start];
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      for (const { target } of edges.get(id) ?? []) {
        if (!reached.has(target)) {
          reached.add(target);
          queue.push(target);
        }
      }
    }
    for (const id of ids) if (!reached.has(id)) report(at('/steps', id), `step "${id}" is not reachable from start "${definition.start}"`);
  }

  // Depth-first search from start, then from every step not yet seen (an unreachable cycle is
  // still a cycle); each back edge closes one cycle and is reported at the field that closes it.
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'open');
    path.push(id);
    for (const link of edges.get(id) ?? []) {
      const seen = state.get(link.target);
      if (seen === 'open') {
        const cycle = [...path.slice(path.indexOf(link.target)), link.target];
        report(at(at('/steps', id), link.field), `creates a cycle: ${cycle.join(' → ')}`);
      } else if (seen === undefined) {
        visit(link.target);
      }
    }
    path.pop();
    state.set(id, 'done');
  };
  for (const id of startIsStep ? [definition.start, ...ids] : ids) if (!state.has(id)) visit(id);
}

function checkEligibility(definition: JourneyDefinition, report: Report): void {
  const eligibility = definition.eligibility;
  if (eligibility === undefined) return;
  const { reEntry, key } = eligibility;
  if (key === undefined) {
    if (reEntry === 'once_per_key') report('/eligibility/key', 'required with reEntry once_per_key');
    return;
  }
  if (reEntry !== 'once_per_key') return report('/eligibility/key', 'only allowed with reEntry once_per_key');
  const root: StateRoot = definition.entry.type === 'event' ? 'event' : 'variables';
  const problem = statePointerProblem(key, [root]);
  if (problem !== undefined) report('/eligibility/key', problem);
  else if (parsePointer(key).length < 2) report('/eligibility/key', `must point to a value inside /${root}`);
}

function checkRoots(definition: JourneyDefinition, report: Report, errors: DefinitionError[]): void {
  const condition = (value: unknown, pointer: string, roots: readonly StateRoot[]): void => {
    errors.push(...validateCondition(value, pointer, roots));
  };
  const pointer = (value: string, where: string, roots: readonly StateRoot[]): void => {
    const problem = statePointerProblem(value, roots);
    if (problem !== undefined) report(where, problem);
  };
  if (definition.entry.type === 'event' && definition.entry.filter !== undefined) {
    condition(definition.entry.filter, '/entry/filter', ENTRY_FILTER_ROOTS);
  }
  definition.exitOn?.forEach((exit, i) => {
    if (exit.filter !== undefined) condition(exit.filter, `/exitOn/${i}/filter`, CANDIDATE_FILTER_ROOTS);
  });
  for (const [id, step] of Object.entries(definition.steps)) checkStepRoots(step, at('/steps', id), condition, pointer);
}

function checkStepRoots(
  step: JourneyStep,
  base: string,
  condition: (value: unknown, pointer: string, roots: readonly StateRoot[]) => void,
  pointer: (value: string, where: string, roots: readonly StateRoot[]) => void,
): void {
  switch (step.type) {
    case 'branch':
      return condition(step.condition, at(base, 'condition'), RUN_STATE_ROOTS);
    case 'wait_for_event':
      if (step.filter !== undefined) condition(step.filter, at(base, 'filter'), CANDIDATE_FILTER_ROOTS);
      return;
    case 'delay':
      if (step.until !== undefined) pointer(step.until, at(base, 'until'), RUN_STATE_ROOTS);
      return;
    case 'update_profile':
      for (const [key, value] of Object.entries(step.properties)) {
        if (isPlainObject(value) && typeof value.$state === 'string') pointer(value.$state, at(at(at(base, 'properties'), key), '$state'), RUN_STATE_ROOTS);
      }
      return;
    default:
      return;
  }
}

function checkReferences(definition: JourneyDefinition, refs: DefinitionRefs, options: SemanticsOptions, report: Report): void {
  const templates = new Map([...refs.templates].map(([id, template]) => [id.toLowerCase(), template]));
  const groups = new Set([...refs.subscriptionGroups].map((id) => id.toLowerCase()));
  const senders = new Set([...refs.senderProfiles].map((id) => id.toLowerCase()));
  for (const [id, step] of Object.entries(definition.steps)) {
    if (step.type !== 'send_email') continue;
    const base = at('/steps', id);
    const template = templates.get(step.templateId.toLowerCase());
    if (template === undefined) {
      report(at(base, 'templateId'), `template ${step.templateId} does not exist`);
    } else {
      if (template.purpose !== 'Transactional' && step.subscriptionGroupId === undefined) {
        report(at(base, 'subscriptionGroupId'), `required: template ${step.templateId} has purpose ${template.purpose}, not Transactional`);
      }
      if (options.requirePublished && template.archived) {
        report(at(base, 'templateId'), `template_archived: template ${step.templateId} is archived`);
      } else if (options.requirePublished && !template.published) {
        report(at(base, 'templateId'), `template_not_published: template ${step.templateId} is not published`);
      }
    }
    if (step.subscriptionGroupId !== undefined && !groups.has(step.subscriptionGroupId.toLowerCase())) {
      report(at(base, 'subscriptionGroupId'), `subscription group ${step.subscriptionGroupId} does not exist`);
    }
    if (step.senderProfileId !== undefined && !senders.has(step.senderProfileId.toLowerCase())) {
      report(at(base, 'senderProfileId'), `sender profile ${step.senderProfileId} does not exist`);
    }
  }
}
