/**
 * SQL for Profiles, their identities and their properties. The statements events.track runs on
 * every request are fixed texts (`Statement`s, or `StatementFamily`s with one text per row count
 * for a group of requests; see src/db/statement.ts); the rest use the builder.
 */
import type { Kysely } from 'kysely';
import { PreparedQuery } from '../../db/prepared.js';
import { placeholders, Statement, StatementFamily, valueRows } from '../../db/statement.js';
import type { Database, IdentityKind, ProfilePropertiesTable, ProfilesTable } from '../../db/tables.js';

export type ProfileRow = ProfilesTable;
export type PropertyRow = ProfilePropertiesTable;

const PROFILE_COLUMNS = 'p.id, p.organization_id, p.email, p.external_id, p.phone, p.sources, p.created_at, p.updated_at';

const selectOwners = new Statement<ProfileRow & { kind: IdentityKind }>(
  `select i.kind, ${PROFILE_COLUMNS} from profile_identities i inner join profiles p on p.id = i.profile_id
   where i.organization_id = ? and ((i.kind = 'email' and i.value = ?) or (i.kind = 'external_id' and i.value = ?))`,
);

/** The Profiles owning the given email and/or externalId, read in one statement. */
export async function selectIdentityOwners(
  db: Kysely<Database>,
  organizationId: string,
  identities: { email?: string; externalId?: string },
): Promise<{ byEmail: ProfileRow | null; byExternalId: ProfileRow | null }> {
  // An absent identity is bound as NULL, which equals nothing.
  const rows = await selectOwners.all(db, [organizationId, identities.email ?? null, identities.externalId ?? null]);
  const owner = (kind: IdentityKind): ProfileRow | null => {
    const row = rows.find((r) => r.kind === kind);
    if (!row) return null;
    const { kind: _kind, ...profile } = row;
    return profile;
  };
  return { byEmail: owner('email'), byExternalId: owner('external_id') };
}

const selectOwnersIn = new StatementFamily<ProfileRow & { value: string }>(
  (count) =>
    `select i.value, ${PROFILE_COLUMNS} from profile_identities i inner join profiles p on p.id = i.profile_id
     where i.organization_id = ? and i.kind = ? and i.value in (${placeholders(count)})`,
);

/** The Profiles owning any of `values` (identities of one kind), by value: a group's lookups in one statement. */
export async function selectIdentityOwnersIn(db: Kysely<Database>, organizationId: string, kind: IdentityKind, values: string[]): Promise<Map<string, ProfileRow>> {
  const owners = new Map<string, ProfileRow>();
  if (values.length === 0) return owners;
  for (const { value, ...profile } of await selectOwnersIn.of(values.length).all(db, [organizationId, kind, ...values])) owners.set(value, profile);
  return owners;
}

const insertProfileRows = new StatementFamily(
  (count) => `insert into profiles (id, organization_id, email, external_id, phone, sources, created_at, updated_at) values ${valueRows(count, 8)}`,
);

export async function insertProfile(db: Kysely<Database>, row: ProfileRow): Promise<void> {
  await insertProfiles(db, [row]);
}

export async function insertProfiles(db: Kysely<Database>, rows: ProfileRow[]): Promise<void> {
  await insertProfileRows.allRows(db, rows.map((r) => [r.id, r.organization_id, r.email, r.external_id, r.phone, r.sources, r.created_at, r.updated_at]));
}

const insertIdentityRows = new StatementFamily((count) => `insert into profile_identities (organization_id, kind, value, profile_id, created_at) values ${valueRows(count, 5)}`);

export async function insertIdentities(
  db: Kysely<Database>,
  rows: { organization_id: string; kind: IdentityKind; value: string; profile_id: string; created_at: number }[],
): Promise<void> {
  await insertIdentityRows.allRows(db, rows.map((r) => [r.organization_id, r.kind, r.value, r.profile_id, r.created_at]));
}

export async function deleteIdentity(db: Kysely<Database>, organizationId: string, kind: IdentityKind, value: string): Promise<void> {
  await db
    .deleteFrom('profile_identities')
    .where('organization_id', '=', organizationId)
    .where('kind', '=', kind)
    .where('value', '=', value)
    .execute();
}

/** The Profile an anonymousId of the organization is linked to, if any. */
export async function selectAnonymousIdOwner(db: Kysely<Database>, organizationId: string, anonymousId: string): Promise<string | null> {
  const row = await db
    .selectFrom('profile_identities')
    .select('profile_id')
    .where('organization_id', '=', organizationId)
    .where('kind', '=', 'anonymous_id')
    .where('value', '=', anonymousId)
    .executeTakeFirst();
  return row?.profile_id ?? null;
}

/**
 * Links the anonymousId to the Profile, taking it over from any other Profile. One statement on
 * the identity's primary key, so concurrent links of one anonymousId never fail on the unique
 * key: the last to commit holds it. Linking it to the Profile it already belongs to writes nothing.
 */
export async function upsertAnonymousIdLink(
  db: Kysely<Database>,
  row: { organizationId: string; anonymousId: string; profileId: string; now: number },
): Promise<void> {
  await db
    .insertInto('profile_identities')
    .values({ organization_id: row.organizationId, kind: 'anonymous_id', value: row.anonymousId, profile_id: row.profileId, created_at: row.now })
    .onConflict((oc) =>
      oc
        .columns(['organization_id', 'kind', 'value'])
        .doUpdateSet({ profile_id: row.profileId, created_at: row.now })
        .where('profile_identities.profile_id', '<>', row.profileId),
    )
    .execute();
}

const PROFILE = new PreparedQuery((db, p: { organizationId: string; id: string }) => db.selectFrom('profiles').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.id));

export function selectProfile(db: Kysely<Database>, organizationId: string, id: string): Promise<ProfileRow | undefined> {
  return PROFILE.first(db, { organizationId, id });
}

export async function countProfileRows(db: Kysely<Database>, organizationId: string): Promise<number> {
  const row = await db.selectFrom('profiles').select((eb) => eb.fn.countAll().as('n')).where('organization_id', '=', organizationId).executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function updateProfile(
  db: Kysely<Database>,
  id: string,
  changes: Partial<Pick<ProfileRow, 'email' | 'external_id' | 'phone' | 'sources' | 'updated_at'>>,
): Promise<void> {
  await db.updateTable('profiles').set(changes).where('id', '=', id).execute();
}

const upsertPropertyRows = new StatementFamily<{ key: string }>(
  (count) =>
    `insert into profile_properties (organization_id, profile_id, key, value_json, source, updated_at, event_id) values ${valueRows(count, 7)}
     on conflict (profile_id, key) do update set value_json = excluded.value_json, source = excluded.source, updated_at = excluded.updated_at, event_id = excluded.event_id
     where profile_properties.updated_at <= excluded.updated_at
     returning key`,
);

/**
 * Last-write-wins upsert: a stored value is replaced only when the incoming `updated_at` is not
 * older (ties go to the later write). Returns the keys actually written.
 */
export async function upsertProperties(db: Kysely<Database>, rows: PropertyRow[]): Promise<string[]> {
  return (await upsertPropertyRows.allRows(db, rows.map((r) => [r.organization_id, r.profile_id, r.key, r.value_json, r.source, r.updated_at, r.event_id]))).map((r) => r.key);
}

const touchProfileRow = new Statement('update profiles set updated_at = ? where id = ?');
const touchProfileWithPhone = new Statement('update profiles set updated_at = ?, phone = ? where id = ?');

/** Marks a Profile changed after a property write, updating its `phone` mirror when given. */
export async function touchProfile(db: Kysely<Database>, id: string, updatedAt: number, phone?: string | null): Promise<void> {
  if (phone === undefined) await touchProfileRow.all(db, [updatedAt, id]);
  else await touchProfileWithPhone.all(db, [updatedAt, phone, id]);
}

const touchProfileRows = new StatementFamily((count) => `update profiles set updated_at = ? where id in (${placeholders(count)})`);

/** `touchProfile` without a phone change for several Profiles at once. */
export async function touchProfiles(db: Kysely<Database>, ids: string[], updatedAt: number): Promise<void> {
  if (ids.length === 0) return;
  await touchProfileRows.of(ids.length).all(db, [updatedAt, ...ids]);
}

const selectPropertyStampRows = new StatementFamily<{ profile_id: string; key: string; updated_at: number }>(
  (count) => `select profile_id, key, updated_at from profile_properties where profile_id in (${placeholders(count)})`,
);

/** When each stored property of these Profiles was last written, by `<profileId>\n<key>`. */
export async function selectPropertyStamps(db: Kysely<Database>, profileIds: string[]): Promise<Map<string, number>> {
  const stamps = new Map<string, number>();
  if (profileIds.length === 0) return stamps;
  for (const row of await selectPropertyStampRows.of(profileIds.length).all(db, profileIds)) stamps.set(`${row.profile_id}\n${row.key}`, Number(row.updated_at));
  return stamps;
}

const PROPERTIES = new PreparedQuery((db, p: { profileId: string }) => db.selectFrom('profile_properties').selectAll().where('profile_id', '=', p.profileId).orderBy('key'));

export function selectProperties(db: Kysely<Database>, profileId: string): Promise<PropertyRow[]> {
  return PROPERTIES.all(db, { profileId });
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
