/**
 * The organization's suppression list (emails.md §4, §8.4): addresses no email is sent to, after
 * a hard bounce, a complaint, or a manual entry. The lookup key is an HMAC-SHA256 of the
 * canonical address with the instance secret, so the hashed markers erasure leaves behind
 * (`email` null, profiles.md §5.1) keep matching the address without storing it.
 */
import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, SuppressionReason } from '../../db/tables.js';
import { toIso } from '../../lib/clock.js';
import { canonicalEmail } from '../../lib/email.js';
import { uuidV7, type IdGenerator } from '../../lib/ids.js';
import {
  deleteSuppressionByHash,
  insertSuppressionIfAbsent,
  selectSuppressionByHash,
  selectSuppressionsPage,
  updateSuppressionRow,
  type SuppressionRow,
} from './suppressions.store.js';

export type { SuppressionReason } from '../../db/tables.js';
export type SuppressionSource = 'smtp' | 'webhook' | 'api' | 'cli';

export interface SuppressionEntry {
  reason: SuppressionReason;
  suppressedAt: number;
  latestBounceReason: string | null;
  latestBounceDiagnosticCode: string | null;
}

export interface SuppressionView {
  /** Null for a hashed marker left by erasure. */
  email: string | null;
  reason: SuppressionReason;
  source: string;
  suppressedAt: string;
  latestBounceReason: string | null;
  latestBounceDiagnosticCode: string | null;
}

/** The lookup key of an address: hex HMAC-SHA256(instance secret, canonical email). */
export function suppressionHash(secret: string, email: string): string {
  return createHmac('sha256', secret).update(canonicalEmail(email)).digest('hex');
}

export function toSuppressionView(row: SuppressionRow): SuppressionView {
  return {
    email: row.email,
    reason: row.reason,
    source: row.source,
    suppressedAt: toIso(row.suppressed_at),
    latestBounceReason: row.latest_bounce_reason,
    latestBounceDiagnosticCode: row.latest_bounce_diagnostic_code,
  };
}

/** The suppression of an address (clear entry or erasure marker), or null. */
export async function findSuppression(
  db: Kysely<Database>,
  secret: string,
  organizationId: string,
  email: string,
): Promise<{ reason: SuppressionReason; suppressedAt: number; latestBounceReason: string | null; latestBounceDiagnosticCode: string | null } | null> {
  const row = await selectSuppressionByHash(db, organizationId, suppressionHash(secret, email));
  if (!row) return null;
  return { reason: row.reason, suppressedAt: row.suppressed_at, latestBounceReason: row.latest_bounce_reason, latestBounceDiagnosticCode: row.latest_bounce_diagnostic_code };
}

/** The listed entry of an address, as the API shows it. */
export async function getSuppression(db: Kysely<Database>, secret: string, organizationId: string, email: string): Promise<SuppressionView | null> {
  const row = await selectSuppressionByHash(db, organizationId, suppressionHash(secret, email));
  return row ? toSuppressionView(row) : null;
}

/**
 * Adds an address to the list; idempotent. An address already listed keeps its entry (time,
 * source, and the clear address or its absence for an erasure marker); a later hard bounce or
 * complaint replaces the reason (a manual add never does) and records the bounce details given.
 */
export async function addSuppression(
  db: Kysely<Database>,
  secret: string,
  organizationId: string,
  input: {
    email: string;
    reason: SuppressionReason;
    source: 'smtp' | 'webhook' | 'api' | 'cli';
    bounceReason?: string | null;
    diagnosticCode?: string | null;
    at: number;
  },
  ids: IdGenerator = uuidV7,
): Promise<{ created: boolean }> {
  const emailHash = suppressionHash(secret, input.email);
  const created = await insertSuppressionIfAbsent(db, {
    id: ids(),
    organization_id: organizationId,
    email: canonicalEmail(input.email),
    email_hash: emailHash,
    reason: input.reason,
    source: input.source,
    suppressed_at: input.at,
    latest_bounce_reason: input.bounceReason ?? null,
    latest_bounce_diagnostic_code: input.diagnosticCode ?? null,
  });
  if (created) return { created: true };
  const existing = await selectSuppressionByHash(db, organizationId, emailHash);
  if (!existing) return { created: false };
  await updateSuppressionRow(db, existing.id, {
    ...(input.reason !== 'manual' ? { reason: input.reason } : {}),
    ...(input.bounceReason != null ? { latest_bounce_reason: input.bounceReason } : {}),
    ...(input.diagnosticCode != null ? { latest_bounce_diagnostic_code: input.diagnosticCode } : {}),
  });
  return { created: false };
}

/** Removes the entry (or erasure marker) of an address; false when there is none. */
export function removeSuppression(db: Kysely<Database>, secret: string, organizationId: string, email: string): Promise<boolean> {
  return deleteSuppressionByHash(db, organizationId, suppressionHash(secret, email));
}

export async function listSuppressions(
  db: Kysely<Database>,
  secret: string,
  organizationId: string,
  filter: { reason?: SuppressionReason; email?: string },
  page: { limit: number; beforeId: string | null },
): Promise<{ id: string; view: SuppressionView }[]> {
  const rows = await selectSuppressionsPage(
    db,
    organizationId,
    {
      ...(filter.reason !== undefined ? { reason: filter.reason } : {}),
      ...(filter.email !== undefined ? { emailHash: suppressionHash(secret, filter.email) } : {}),
    },
    page,
  );
  return rows.map((row) => ({ id: row.id, view: toSuppressionView(row) }));
}
