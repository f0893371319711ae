/**
 * Journeys as code (`segmentflow journeys apply <file.json>`, cli.md): a file
 * `{ key, name, description?, definition }` creates the journey or updates it by key;
 * applying an unchanged file changes nothing.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { err, ok, type Result } from '../../lib/result.js';
import { createJourney, transitionJourney, updateJourney, type JourneyError, type JourneyView, type JourneyRunControl } from './journeys.service.js';
import { selectJourneyByKey, selectJourneyVersion } from './journeys.store.js';

export interface JourneyFile {
  key: string;
  name: string;
  description?: string | null;
  definition: unknown;
}

export async function applyJourney(
  db: Kysely<Database>,
  deps: Parameters<typeof createJourney>[1],
  runs: JourneyRunControl,
  organizationId: string,
  file: JourneyFile,
  options: { activate: boolean },
): Promise<Result<{ action: 'created' | 'updated' | 'unchanged'; activated: boolean; journey: JourneyView }, JourneyError>> {
  const existing = await selectJourneyByKey(db, organizationId, file.key);
  let action: 'created' | 'updated' | 'unchanged';
  let journey: JourneyView;
  if (!existing) {
    const created = await createJourney(db, deps, organizationId, file);
    if (!created.ok) return created;
    action = 'created';
    journey = created.value;
  } else {
    const version = await selectJourneyVersion(db, existing.version_id);
    const same =
      version !== undefined &&
      canonicalJson(JSON.parse(version.definition)) === canonicalJson(file.definition) &&
      existing.name === file.name &&
      (file.description === undefined || existing.description === file.description);
    const updated = await updateJourney(db, deps, organizationId, existing.id, same ? {} : {
      name: file.name,
      ...(file.description !== undefined ? { description: file.description } : {}),
      definition: file.definition,
    });
    if (!updated.ok) return updated;
    action = same ? 'unchanged' : 'updated';
    journey = updated.value;
  }
  let activated = false;
  if (options.activate && journey.status !== 'Active') {
    const transitioned = await transitionJourney(db, deps, runs, organizationId, journey.id, 'activate');
    if (!transitioned.ok) return err(transitioned.error);
    journey = transitioned.value;
    activated = true;
  }
  return ok({ action, activated, journey });
}
