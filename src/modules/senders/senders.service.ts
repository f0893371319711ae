/**
 * Sending identities (emails.md §8.1–8.2): Domains, verified by a DNS TXT record, and
 * SenderProfiles, the from-addresses on them. Exactly one SenderProfile per organization is the
 * default once any exists: the first one becomes it, and making another the default clears the
 * previous one. First start in capture mode creates the verified development domain
 * `example.test` with the default sender `Segmentflow <hello@example.test>` (cli.md §3).
 */
import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import type { Kysely } from 'kysely';
import { journeysUsing } from '../journeys/journeys.references.js';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import { canonicalEmail } from '../../lib/email.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { templateIdsUsingSenderProfile } from '../templates/templates.service.js';
import { checkVerificationRecord, verificationRecord, type TxtResolver } from './domain-verification.js';
import {
  clearOtherDefaults,
  deleteDomainRow,
  deleteSenderProfileRow,
  insertDomain,
  insertSenderProfile,
  selectDefaultSenderProfile,
  selectDomain,
  selectDomainByName,
  selectDomainsByIds,
  selectDomainsPage,
  selectOldestSenderProfile,
  selectSenderProfile,
  selectSenderProfileByEmail,
  selectSenderProfileIdsByDomain,
  selectSenderProfilesPage,
  updateDomainRow,
  updateSenderProfileRow,
  type DomainRow,
  type SenderProfileRow,
} from './senders.store.js';

export const DEV_DOMAIN = 'example.test';
export const DEV_SENDER = { name: 'Segmentflow', email: 'hello@example.test' };

export type SenderError =
  | { type: 'not_found'; resource: 'Domain' | 'SenderProfile' }
  | { type: 'invalid_field'; pointer: string; message: string }
  | { type: 'already_exists'; field: 'name' | 'email' }
  | { type: 'resource_in_use'; references: { type: string; id: string }[] }
  | { type: 'reference_not_found'; pointers: string[] }
  | { type: 'immutable_field'; field: 'email' };

export type DomainStatus = 'pending' | 'verified' | 'failed';

export interface DomainView {
  id: string;
  name: string;
  status: DomainStatus;
  verificationRecord: { type: 'TXT'; name: string; value: string };
  verifiedAt: string | null;
  lastCheckedAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface SenderProfileView {
  id: string;
  name: string;
  email: string;
  domainId: string;
  replyTo: string | null;
  isDefault: boolean;
  verified: boolean;
  createdAt: string;
  updatedAt: string;
}

interface Deps {
  clock: Clock;
  ids: IdGenerator;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The stored form of a domain name: trimmed, IDN → punycode, lower-cased, without a trailing
 * dot; null unless it is a host name of at least two labels, ≤ 253 characters, with a
 * non-numeric top-level label (so IP addresses are refused).
 */
export function normalizeDomainName(raw: string): string | null {
  let name = domainToASCII(raw.trim());
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.length > 253) return null;
  const labels = name.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  return /^[0-9]+$/.test(labels.at(-1)!) ? null : name;
}

export function domainStatus(row: Pick<DomainRow, 'verified_at' | 'last_checked_at'>): DomainStatus {
  if (row.verified_at !== null) return 'verified';
  return row.last_checked_at === null ? 'pending' : 'failed';
}

export function toDomainView(row: DomainRow): DomainView {
  return {
    id: row.id,
    name: row.name,
    status: domainStatus(row),
    verificationRecord: verificationRecord(row.name, row.verification_token),
    verifiedAt: row.verified_at === null ? null : toIso(row.verified_at),
    lastCheckedAt: row.last_checked_at === null ? null : toIso(row.last_checked_at),
    lastError: row.last_error,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

function toSenderProfileView(row: SenderProfileRow, domain: DomainRow | undefined): SenderProfileView {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    domainId: row.domain_id,
    replyTo: row.reply_to,
    isDefault: row.is_default === 1,
    verified: domain !== undefined && domain.verified_at !== null,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

async function toSenderProfileViews(db: Kysely<Database>, organizationId: string, rows: SenderProfileRow[]): Promise<SenderProfileView[]> {
  const domains = new Map((await selectDomainsByIds(db, organizationId, [...new Set(rows.map((r) => r.domain_id))])).map((d) => [d.id, d]));
  return rows.map((row) => toSenderProfileView(row, domains.get(row.domain_id)));
}

// ---- Domains ----

export async function createDomain(db: Kysely<Database>, deps: Deps, organizationId: string, rawName: string): Promise<Result<DomainView, SenderError>> {
  const name = normalizeDomainName(rawName);
  if (name === null) return err({ type: 'invalid_field', pointer: '/name', message: 'must be a valid domain name (at most 253 characters)' });
  if (await selectDomainByName(db, organizationId, name)) return err({ type: 'already_exists', field: 'name' });
  const now = deps.clock.now();
  const row: DomainRow = {
    id: deps.ids(),
    organization_id: organizationId,
    name,
    verification_token: randomBytes(16).toString('hex'),
    verified_at: null,
    last_checked_at: null,
    last_error: null,
    created_at: now,
    updated_at: now,
  };
  await insertDomain(db, row);
  return ok(toDomainView(row));
}

export async function getDomain(db: Kysely<Database>, organizationId: string, id: string): Promise<DomainView | null> {
  const row = await selectDomain(db, organizationId, id.toLowerCase());
  return row ? toDomainView(row) : null;
}

/** A Domain by name (any spelling the API accepts: case, IDN), for the CLI. */
export async function findDomainByName(db: Kysely<Database>, organizationId: string, rawName: string): Promise<DomainView | null> {
  const name = normalizeDomainName(rawName);
  const row = name === null ? undefined : await selectDomainByName(db, organizationId, name);
  return row ? toDomainView(row) : null;
}

export async function listDomains(db: Kysely<Database>, organizationId: string, page: { limit: number; beforeId: string | null }): Promise<DomainView[]> {
  return (await selectDomainsPage(db, organizationId, page)).map(toDomainView);
}

/**
 * Looks the TXT record up (emails.md §8.1): found → `verified`, otherwise `failed` with
 * `lastError` (also for a Domain verified before: the record is what proves ownership).
 * `trust` marks the Domain verified without DNS (`segmentflow domains verify --trust`).
 */
export async function verifyDomain(
  db: Kysely<Database>,
  deps: Deps & { resolveTxt: TxtResolver },
  organizationId: string,
  id: string,
  options: { trust?: boolean } = {},
): Promise<Result<DomainView, SenderError>> {
  const row = await selectDomain(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'not_found', resource: 'Domain' });
  const check = options.trust === true ? ({ verified: true } as const) : await checkVerificationRecord(deps.resolveTxt, row.name, row.verification_token);
  const now = deps.clock.now();
  const changes = check.verified
    ? { verified_at: row.verified_at ?? now, last_checked_at: now, last_error: null, updated_at: now }
    : { verified_at: null, last_checked_at: now, last_error: check.error, updated_at: now };
  await updateDomainRow(db, row.id, changes);
  return ok(toDomainView({ ...row, ...changes }));
}

export async function deleteDomain(db: Kysely<Database>, organizationId: string, id: string): Promise<Result<null, SenderError>> {
  const row = await selectDomain(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'not_found', resource: 'Domain' });
  const senders = await selectSenderProfileIdsByDomain(db, organizationId, row.id);
  if (senders.length > 0) return err({ type: 'resource_in_use', references: senders.map((s) => ({ type: 'SenderProfile', id: s.id })) });
  await deleteDomainRow(db, organizationId, row.id);
  return ok(null);
}

// ---- SenderProfiles ----

export interface SenderProfileInput {
  name: string;
  email: string;
  replyTo?: string | null;
  isDefault?: boolean;
}

export async function createSenderProfile(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  input: SenderProfileInput,
): Promise<Result<SenderProfileView, SenderError>> {
  const email = canonicalEmail(input.email);
  const domain = await selectDomainByName(db, organizationId, email.slice(email.lastIndexOf('@') + 1));
  if (!domain) return err({ type: 'reference_not_found', pointers: ['/email'] });
  if (await selectSenderProfileByEmail(db, organizationId, email)) return err({ type: 'already_exists', field: 'email' });
  const now = deps.clock.now();
  // The first SenderProfile becomes the default whatever the request says.
  const isDefault = input.isDefault === true || (await selectDefaultSenderProfile(db, organizationId)) === undefined;
  const row: SenderProfileRow = {
    id: deps.ids(),
    organization_id: organizationId,
    domain_id: domain.id,
    name: input.name,
    email,
    reply_to: input.replyTo == null ? null : canonicalEmail(input.replyTo),
    is_default: isDefault ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
  if (isDefault) await clearOtherDefaults(db, organizationId, row.id, now);
  await insertSenderProfile(db, row);
  return ok(toSenderProfileView(row, domain));
}

export async function getSenderProfile(db: Kysely<Database>, organizationId: string, id: string): Promise<SenderProfileView | null> {
  const row = await selectSenderProfile(db, organizationId, id.toLowerCase());
  return row ? ((await toSenderProfileViews(db, organizationId, [row]))[0] ?? null) : null;
}

export async function listSenderProfiles(
  db: Kysely<Database>,
  organizationId: string,
  page: { limit: number; beforeId: string | null },
): Promise<SenderProfileView[]> {
  return toSenderProfileViews(db, organizationId, await selectSenderProfilesPage(db, organizationId, page));
}

/**
 * Partial update. `email` cannot change (422 `immutable_field`; sending the current address is
 * fine). `isDefault: true` makes this the default and clears the previous one; `false` changes
 * nothing, since an organization always keeps exactly one default: make another one the default.
 */
export async function updateSenderProfile(
  db: Kysely<Database>,
  deps: Deps,
  organizationId: string,
  id: string,
  input: Partial<SenderProfileInput>,
): Promise<Result<SenderProfileView, SenderError>> {
  const row = await selectSenderProfile(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'not_found', resource: 'SenderProfile' });
  if (input.email !== undefined && canonicalEmail(input.email) !== row.email) return err({ type: 'immutable_field', field: 'email' });
  const now = deps.clock.now();
  const next: SenderProfileRow = {
    ...row,
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.replyTo !== undefined ? { reply_to: input.replyTo === null ? null : canonicalEmail(input.replyTo) } : {}),
    ...(input.isDefault === true ? { is_default: 1 } : {}),
    updated_at: now,
  };
  if (next.is_default === 1 && row.is_default === 0) await clearOtherDefaults(db, organizationId, row.id, now);
  await updateSenderProfileRow(db, row.id, { name: next.name, reply_to: next.reply_to, is_default: next.is_default, updated_at: now });
  return ok((await toSenderProfileViews(db, organizationId, [next]))[0]!);
}

/**
 * Deletes a SenderProfile no Template or live Journey references (409 `resource_in_use` otherwise). Deleting the
 * default passes the role to the oldest remaining SenderProfile.
 */
export async function deleteSenderProfile(db: Kysely<Database>, deps: { clock: Clock }, organizationId: string, id: string): Promise<Result<null, SenderError>> {
  const row = await selectSenderProfile(db, organizationId, id.toLowerCase());
  if (!row) return err({ type: 'not_found', resource: 'SenderProfile' });
  const templates = await templateIdsUsingSenderProfile(db, organizationId, row.id);
  const references = [...templates.map((t) => ({ type: 'Template', id: t })), ...(await journeysUsing(db, organizationId, 'senderProfile', row.id))];
  if (references.length > 0) return err({ type: 'resource_in_use', references });
  await deleteSenderProfileRow(db, organizationId, row.id);
  if (row.is_default === 1) {
    const heir = await selectOldestSenderProfile(db, organizationId);
    if (heir) await updateSenderProfileRow(db, heir.id, { is_default: 1, updated_at: deps.clock.now() });
  }
  return ok(null);
}

/** First start in capture mode (cli.md §3): the verified dev domain and the default sender. */
export async function createDevSender(db: Kysely<Database>, deps: Deps, organizationId: string): Promise<void> {
  const now = deps.clock.now();
  const domainId = deps.ids();
  await insertDomain(db, {
    id: domainId,
    organization_id: organizationId,
    name: DEV_DOMAIN,
    verification_token: randomBytes(16).toString('hex'),
    verified_at: now,
    last_checked_at: null,
    last_error: null,
    created_at: now,
    updated_at: now,
  });
  await insertSenderProfile(db, {
    id: deps.ids(),
    organization_id: organizationId,
    domain_id: domainId,
    name: DEV_SENDER.name,
    email: DEV_SENDER.email,
    reply_to: null,
    is_default: 1,
    created_at: now,
    updated_at: now,
  });
}
