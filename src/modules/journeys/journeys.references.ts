/**
 * Which journeys reference a template, subscription group or sender profile: deleting one of
 * those answers 409 `resource_in_use` while it is used by the current version of an Active or
 * Paused journey, or by an older version that live runs still follow (a run finishes on the
 * version it started, journeys.md §2) — templates.md §2, emails.md §8.2–8.3.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { referencedIds, type JourneyDefinition } from './definition/definition.js';

export type ReferenceKind = 'template' | 'subscriptionGroup' | 'senderProfile';

export async function journeysUsing(db: Kysely<Database>, organizationId: string, kind: ReferenceKind, id: string): Promise<{ type: 'Journey'; id: string }[]> {
  // Each version once, whether it is current, followed by live runs, or both.
  const rows = await db
    .selectFrom('journey_versions')
    .select(['journey_versions.journey_id as id', 'journey_versions.definition as definition'])
    .where('journey_versions.organization_id', '=', organizationId)
    .where((eb) =>
      eb.or([
        eb('journey_versions.id', 'in', eb.selectFrom('journeys').select('journeys.version_id').where('journeys.organization_id', '=', organizationId).where('journeys.status', 'in', ['Active', 'Paused'])),
        eb('journey_versions.id', 'in', eb.selectFrom('journey_runs').select('journey_runs.version_id').where('journey_runs.organization_id', '=', organizationId).where('journey_runs.status', 'in', ['queued', 'running'])),
      ]),
    )
    .execute();
  const target = id.toLowerCase();
  const using = new Set<string>();
  for (const row of rows) {
    const ids = referencedIds(JSON.parse(row.definition) as JourneyDefinition);
    const list = kind === 'template' ? ids.templateIds : kind === 'subscriptionGroup' ? ids.subscriptionGroupIds : ids.senderProfileIds;
    if (list.includes(target)) using.add(row.id);
  }
  return [...using].map((journeyId) => ({ type: 'Journey' as const, id: journeyId }));
}
