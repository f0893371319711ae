/**
 * Which live journeys reference a template, subscription group or sender profile: deleting one of
 * those answers 409 `resource_in_use` while an Active or Paused journey's current version uses it
 * (templates.md §2, emails.md §8.2–8.3).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { referencedIds, type JourneyDefinition } from './definition/definition.js';

export type ReferenceKind = 'template' | 'subscriptionGroup' | 'senderProfile';

export async function journeysUsing(db: Kysely<Database>, organizationId: string, kind: ReferenceKind, id: string): Promise<{ type: 'Journey'; id: string }[]> {
  const rows = await db
    .selectFrom('journeys')
    .innerJoin('journey_versions', 'journey_versions.id', 'journeys.version_id')
    .select(['journeys.id as id', 'journey_versions.definition as definition'])
    .where('journeys.organization_id', '=', organizationId)
    .where('journeys.status', 'in', ['Active', 'Paused'])
    .execute();
  const target = id.toLowerCase();
  return rows
    .filter((row) => {
      const ids = referencedIds(JSON.parse(row.definition) as JourneyDefinition);
      const list = kind === 'template' ? ids.templateIds : kind === 'subscriptionGroup' ? ids.subscriptionGroupIds : ids.senderProfileIds;
      return list.includes(target);
    })
    .map((row) => ({ type: 'Journey' as const, id: row.id }));
}
