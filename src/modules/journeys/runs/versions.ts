/**
 * Journey versions as the engine reads them: parsed definitions, cached by version id. Versions
 * are immutable and their ids are never reused, so a cached entry can never be stale; the cache
 * only bounds its size. Every events.track request for a journey's entry event and every step
 * reads a definition, so parsing the JSON once matters.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../db/tables.js';
import type { JourneyDefinition } from '../definition/definition.js';

export interface LoadedVersion {
  id: string;
  journeyId: string;
  version: number;
  definition: JourneyDefinition;
}

const MAX_CACHED = 1000;
const cache = new Map<string, LoadedVersion>();

export async function loadVersion(db: Kysely<Database>, versionId: string): Promise<LoadedVersion> {
  const cached = cache.get(versionId);
  if (cached !== undefined) return cached;
  const row = await db.selectFrom('journey_versions').select(['id', 'journey_id', 'version', 'definition']).where('id', '=', versionId).executeTakeFirst();
  if (!row) throw new Error(`journey version ${versionId} does not exist`);
  const loaded: LoadedVersion = { id: row.id, journeyId: row.journey_id, version: row.version, definition: JSON.parse(row.definition) as JourneyDefinition };
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(versionId, loaded);
  return loaded;
}
