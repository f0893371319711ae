/**
 * The one Database type shared by both dialects. Conventions that keep one code path:
 * times are epoch milliseconds (BIGINT; pg's int8 is parsed to number in connect.ts), JSON is
 * stored as TEXT and parsed by the store that owns the column, flags are 0/1 integers.
 */
export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: number;
}

export interface InstanceSettingsTable {
  key: string;
  value: string;
}

export interface ApiKeysTable {
  id: string;
  organization_id: string;
  label: string;
  key_hash: string;
  prefix: string;
  last4: string;
  /** JSON array of scope strings. */
  scopes: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface IdempotencyRecordsTable {
  organization_id: string;
  key: string;
  fingerprint: string;
  status_code: number;
  response_body: string;
  /** The Profile the stored outcome resolved to, so erasure can delete the record. */
  profile_id: string | null;
  created_at: number;
  expires_at: number;
}

export interface ProfilesTable {
  id: string;
  organization_id: string;
  email: string;
  external_id: string | null;
  phone: string | null;
  /** JSON array of source tags in first-seen order. */
  sources: string;
  created_at: number;
  updated_at: number;
}

export type IdentityKind = 'email' | 'external_id';

export interface ProfileIdentitiesTable {
  organization_id: string;
  kind: IdentityKind;
  value: string;
  profile_id: string;
  created_at: number;
}

export interface ProfilePropertiesTable {
  organization_id: string;
  profile_id: string;
  key: string;
  value_json: string;
  source: string;
  updated_at: number;
  event_id: string | null;
}

export interface UserEventsTable {
  id: string;
  organization_id: string;
  profile_id: string | null;
  type: string;
  event: string | null;
  data: string;
  redacted_paths: string;
  reference_id: string | null;
  occurred_at: number;
  received_at: number;
  source: string;
  message_id: string | null;
  user_id: string | null;
  anonymous_id: string | null;
  context: string | null;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface JobsTable {
  id: string;
  type: string;
  organization_id: string | null;
  /** JSON payload: ids only, never personal data copied from a request. */
  payload: string;
  status: JobStatus;
  run_at: number;
  attempts: number;
  max_attempts: number;
  locked_by: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  /** Optional de-duplication key: at most one job per key ever exists. */
  unique_key: string | null;
  created_at: number;
  updated_at: number;
}

export interface DomainsTable {
  id: string;
  organization_id: string;
  name: string;
  verification_token: string;
  verified_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface SenderProfilesTable {
  id: string;
  organization_id: string;
  domain_id: string;
  name: string;
  email: string;
  reply_to: string | null;
  is_default: number;
  created_at: number;
  updated_at: number;
}

export interface TemplatesTable {
  id: string;
  organization_id: string;
  name: string;
  purpose: string;
  status: 'Active' | 'Archived';
  sender_profile_id: string | null;
  brand_kit_id: string | null;
  default_segment_id: string | null;
  sub_type: string | null;
  source: string;
  language: string;
  /** JSON of the normalised definition (the draft). */
  definition: string;
  is_complete: number;
  current_snapshot_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface TemplateSnapshotsTable {
  id: string;
  organization_id: string;
  template_id: string;
  version: number;
  definition: string;
  sender_profile_id: string | null;
  brand_kit_id: string | null;
  purpose: string;
  language: string;
  created_at: number;
}

export interface Database {
  organizations: OrganizationsTable;
  instance_settings: InstanceSettingsTable;
  api_keys: ApiKeysTable;
  idempotency_records: IdempotencyRecordsTable;
  profiles: ProfilesTable;
  profile_identities: ProfileIdentitiesTable;
  profile_properties: ProfilePropertiesTable;
  user_events: UserEventsTable;
  jobs: JobsTable;
  domains: DomainsTable;
  sender_profiles: SenderProfilesTable;
  templates: TemplatesTable;
  template_snapshots: TemplateSnapshotsTable;
}
