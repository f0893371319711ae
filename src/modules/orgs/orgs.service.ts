/**
 * Organizations: the tenants. Created by the CLI (and once by bootstrap); every other record
 * belongs to exactly one, and the API only ever sees its own.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { isUuid } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import {
  insertOrganization,
  selectOrganizationById,
  selectOrganizationByName,
  selectOrganizations,
  type OrganizationRow,
} from './orgs.store.js';

export interface Organization {
  id: string;
  name: string;
  createdAt: string;
}

export type OrgLookupError =
  | { type: 'not_found'; ref: string }
  | { type: 'ambiguous'; organizations: Organization[] }
  | { type: 'none' };

export function toOrganization(row: OrganizationRow): Organization {
  return { id: row.id, name: row.name, createdAt: toIso(row.created_at) };
}

export async function createOrganization(
  db: Kysely<Database>,
  deps: { clock: Clock; ids: IdGenerator },
  name: string,
): Promise<Result<Organization, { type: 'already_exists'; name: string } | { type: 'invalid_name' }>> {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 200 || /[\u0000-\u001f\u007f]/.test(trimmed)) return err({ type: 'invalid_name' });
  const row = { id: deps.ids(), name: trimmed, created_at: deps.clock.now(), delivery_webhook_secret: null };
  const created = await insertOrganization(db, row);
  return created ? ok(toOrganization(row)) : err({ type: 'already_exists', name: trimmed });
}

export async function listOrganizations(db: Kysely<Database>): Promise<Organization[]> {
  return (await selectOrganizations(db)).map(toOrganization);
}

export async function getOrganization(db: Kysely<Database>, id: string): Promise<Organization | null> {
  const row = await selectOrganizationById(db, id);
  return row ? toOrganization(row) : null;
}

/** `--org <id|name>`, or the only organization when omitted (cli.md). */
export async function findOrganization(db: Kysely<Database>, ref: string | undefined): Promise<Result<Organization, OrgLookupError>> {
  if (ref === undefined) {
    const all = await listOrganizations(db);
    if (all.length === 1) return ok(all[0]!);
    return err(all.length === 0 ? { type: 'none' } : { type: 'ambiguous', organizations: all });
  }
  const row = (isUuid(ref) ? await selectOrganizationById(db, ref.toLowerCase()) : undefined) ?? (await selectOrganizationByName(db, ref));
  return row ? ok(toOrganization(row)) : err({ type: 'not_found', ref });
}
