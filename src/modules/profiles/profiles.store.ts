/** SQL for Profiles, their identities and their properties. */
import type { Kysely } from 'kysely';
import type { Database, IdentityKind, ProfilePropertiesTable, ProfilesTable } from '../../db/tables.js';

export type ProfileRow = ProfilesTable;
export type PropertyRow = ProfilePropertiesTable;

/** The Profiles owning the given email and/or externalId, read in one statement. */
export async function selectIdentityOwners(
  db: Kysely<Database>,
  organizationId: string,
  identities: { email?: string; externalId?: string },
): Promise<{ byEmail: ProfileRow | null; byExternalId: ProfileRow | null }> {
  const rows = await db
    .selectFrom('profile_identities as i')
    .innerJoin('profiles as p', 'p.id', 'i.profile_id')
    .select(['i.kind', 'p.id', 'p.organization_id', 'p.email', 'p.external_id', 'p.phone', 'p.sources', 'p.created_at', 'p.updated_at'])
    .where('i.organization_id', '=', organizationId)
    .where((eb) => {
      const ors = [];
      if (identities.email !== undefined) ors.push(eb.and([eb('i.kind', '=', 'email'), eb('i.value', '=', identities.email)]));
      if (identities.externalId !== undefined) ors.push(eb.and([eb('i.kind', '=', 'external_id'), eb('i.value', '=', identities.externalId)]));
      return eb.or(ors);
    })
    .execute();
  const owner = (kind: IdentityKind): ProfileRow | null => {
    const row = rows.find((r) => r.kind === kind);
    if (!row) return null;
    const { kind: _kind, ...profile } = row;
    return profile;
  };
  return { byEmail: owner('email'), byExternalId: owner('external_id') };
}

export async function insertProfile(db: Kysely<Database>, row: ProfileRow): Promise<void> {
  await db.insertInto('profiles').values(row).execute();
}

export async function insertIdentities(
  db: Kysely<Database>,
  rows: { organization_id: string; kind: IdentityKind; value: string; profile_id: string; created_at: number }[],
): Promise<void> {
  if (rows.length > 0) await db.insertInto('profile_identities').values(rows).execute();
}

export async function deleteIdentity(db: Kysely<Database>, organizationId: string, kind: IdentityKind, value: string): Promise<void> {
  await db
    .deleteFrom('profile_identities')
    .where('organization_id', '=', organizationId)
    .where('kind', '=', kind)
    .where('value', '=', value)
    .execute();
}

export function selectProfile(db: Kysely<Database>, organizationId: string, id: string): Promise<ProfileRow | undefined> {
  return db.selectFrom('profiles').selectAll().where('organization_id', '=', organizationId).where('id', '=', id).executeTakeFirst();
}

export async function updateProfile(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Pick<ProfileRow, 'email' | 'external_id' | 'phone' | 'sources' | 'updated_at'>>,
): Promise<void> {
  await db.updateTable('profiles').set(changes).where('id', '=', id).execute();
}

/**
 * Last-write-wins upsert: a stored value is replaced only when the incoming `updated_at` is not
 * older (ties go to the later write). Returns the keys actually written.
 */
export async function upsertProperties(db: Kysely<Database>, rows: PropertyRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const written = await db
    .insertInto('profile_properties')
    .values(rows)
    .onConflict((oc) =>
      oc
        .columns(['profile_id', 'key'])
        .doUpdateSet((eb) => ({
          value_json: eb.ref('excluded.value_json'),
          source: eb.ref('excluded.source'),
          updated_at: eb.ref('excluded.updated_at'),
          event_id: eb.ref('excluded.event_id'),
        }))
        .where((eb) => eb('profile_properties.updated_at', '<=', eb.ref('excluded.updated_at'))),
    )
    .returning('key')
    .execute();
  return written.map((r) => r.key);
}

export function selectProperties(db: Kysely<Database>, profileId: string): Promise<PropertyRow[]> {
  return db.selectFrom('profile_properties').selectAll().where('profile_id', '=', profileId).orderBy('key').execute();
}

export async function selectPropertyValue(db: Kysely<Database>, profileId: string, key: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('profile_properties')
    .select('value_json')
    .where('profile_id', '=', profileId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.value_json;
}
