/** The abandoned-cart definition of journeys.md §2 with real ids, and the organization it refers to. */
import type { DefinitionRefs, JourneyDefinition } from '../../../src/modules/journeys/definition/definition.js';

export const TEMPLATE_ID = '0190f400-0000-7000-8000-000000000001';
export const TRANSACTIONAL_TEMPLATE_ID = '0190f400-0000-7000-8000-000000000002';
export const GROUP_ID = '0190f3f0-0000-7000-8000-000000000001';
export const SENDER_ID = '0190f3e0-0000-7000-8000-000000000001';

export function abandonedCart(): JourneyDefinition {
  return {
    entry: { type: 'event', event: 'checkout.started', filter: { path: '/event/total', op: 'gte', value: 20 } },
    eligibility: { reEntry: 'once_per_key', key: '/event/cartId' },
    exitOn: [{ event: 'account.closed' }],
    start: 'wait_order',
    steps: {
      wait_order: {
        type: 'wait_for_event',
        event: 'order.completed',
        filter: { path: '/candidate/cartId', op: 'eq', value: { $state: '/event/cartId' } },
        timeout: 'PT1H',
        onEvent: 'done',
        onTimeout: 'remind',
      },
      remind: { type: 'send_email', templateId: TEMPLATE_ID, subscriptionGroupId: GROUP_ID, next: 'done' },
      done: { type: 'exit' },
    },
  };
}

export function organization(overrides: { published?: boolean; archived?: boolean } = {}): DefinitionRefs {
  return {
    templates: new Map([
      [TEMPLATE_ID, { purpose: 'General', published: overrides.published ?? true, archived: overrides.archived ?? false }],
      [TRANSACTIONAL_TEMPLATE_ID, { purpose: 'Transactional', published: true, archived: false }],
    ]),
    subscriptionGroups: new Set([GROUP_ID]),
    senderProfiles: new Set([SENDER_ID]),
  };
}

/** A deep copy that can be changed freely, typed loosely for building invalid definitions. */
export function loose(definition: JourneyDefinition = abandonedCart()): Record<string, any> {
  return structuredClone(definition) as Record<string, any>;
}
