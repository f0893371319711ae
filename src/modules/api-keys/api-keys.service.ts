/**
 * API keys: creation (secret shown once), listing, revocation, and authentication of the
 * `x-api-key` header. Authentication hashes the presented secret and looks the hash up; verified
 * keys are cached for one second so a hot API does not read the key row per request (a
 * revocation through the API takes effect at once in this process, elsewhere within a second).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import { toIso } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import {
  insertApiKey,
  revokeApiKeyRow,
  selectApiKeyByHash,
  selectApiKeyOrganizationId,
  selectApiKeysPage,
  touchApiKey,
  type ApiKeyRow,
} from './api-keys.store.js';
import type { Scope } from './scopes.js';
import { generateApiKeySecret, hashesEqual, hashSecret, hasPlausibleChecksum } from './secrets.js';

export interface ApiKeyView {
  id: string;
  label: string;
  prefix: string;
  last4: string;
  scopes: Scope[];
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface Principal {
  organizationId: string;
  apiKeyId: string;
  scopes: ReadonlySet<string>;
}

export function toApiKeyView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    label: row.label,
    prefix: row.prefix,
    last4: row.last4,
    scopes: JSON.parse(row.scopes) as Scope[],
    createdAt: toIso(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : toIso(row.last_used_at),
    expiresAt: row.expires_at === null ? null : toIso(row.expires_at),
    revokedAt: row.revoked_at === null ? null : toIso(row.revoked_at),
  };
}

export interface CreateApiKeyInput {
  organizationId: string;
  label: string;
  scopes: readonly Scope[];
  expiresAt?: number | null;
  /** A caller-chosen secret (the bootstrap key); generated when absent. */
  secret?: string;
}

export async function createApiKey(
  db: Kysely<Database>,
  deps: { clock: Clock; ids: IdGenerator },
  input: CreateApiKeyInput,
): Promise<{ apiKey: ApiKeyView; key: string }> {
  const secret = input.secret ?? generateApiKeySecret();
  const row: ApiKeyRow = {
    id: deps.ids(),
    organization_id: input.organizationId,
    label: input.label,
    key_hash: hashSecret(secret),
    prefix: secret.slice(0, 12),
    last4: secret.slice(-4),
    scopes: JSON.stringify([...new Set(input.scopes)]),
    created_at: deps.clock.now(),
    last_used_at: null,
    expires_at: input.expiresAt ?? null,
    revoked_at: null,
  };
  await insertApiKey(db, row);
  return { apiKey: toApiKeyView(row), key: secret };
}

export async function listApiKeys(
  db: Kysely<Database>,
  organizationId: string,
  page: { limit: number; beforeId: string | null },
): Promise<ApiKeyView[]> {
  return (await selectApiKeysPage(db, organizationId, page)).map(toApiKeyView);
}

export function revokeApiKey(db: Kysely<Database>, deps: { clock: Clock }, organizationId: string, id: string): Promise<boolean> {
  return revokeApiKeyRow(db, organizationId, id.toLowerCase(), deps.clock.now());
}

/** The organization a key belongs to, or null for an unknown id (the CLI revokes by id alone). */
export async function apiKeyOrganization(db: Kysely<Database>, id: string): Promise<string | null> {
  return (await selectApiKeyOrganizationId(db, id.toLowerCase())) ?? null;
}

const CACHE_TTL_MS = 1000;
const TOUCH_INTERVAL_MS = 60_000;

export class ApiKeyAuthenticator {
  readonly #cache = new Map<string, { row: ApiKeyRow; cachedAt: number }>();
  readonly #touched = new Map<string, number>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly onBackgroundError: (error: unknown) => void,
  ) {}

  async authenticate(secret: string | undefined): Promise<Principal | null> {
    if (secret === undefined || secret.length === 0 || secret.length > 200) return null;
    if (!hasPlausibleChecksum(secret)) return null;
    const hash = hashSecret(secret);
    const now = this.clock.now();
    // The cache uses wall time for freshness: a fake clock in tests must not pin stale rows.
    const wall = Date.now();
    let entry = this.#cache.get(hash);
    if (!entry || wall - entry.cachedAt > CACHE_TTL_MS) {
      const row = await selectApiKeyByHash(this.db, hash);
      if (!row) {
        this.#cache.delete(hash);
        return null;
      }
      entry = { row, cachedAt: wall };
      this.#cache.set(hash, entry);
    }
    const { row } = entry;
    if (!hashesEqual(row.key_hash, hash)) return null;
    if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
    this.#touch(row.id, now);
    return { organizationId: row.organization_id, apiKeyId: row.id, scopes: new Set(JSON.parse(row.scopes) as string[]) };
  }

  /** Drops cached rows of a key (after a revocation in this process). */
  invalidate(apiKeyId: string): void {
    for (const [hash, entry] of this.#cache) if (entry.row.id === apiKeyId) this.#cache.delete(hash);
  }

  #touch(id: string, now: number): void {
    const last = this.#touched.get(id);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    this.#touched.set(id, now);
    // lastUsedAt is informational: written outside the request's transaction, at most once a minute.
    touchApiKey(this.db, id, now).catch(this.onBackgroundError);
  }
}
