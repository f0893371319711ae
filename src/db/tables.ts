/**
 * The one Database type shared by both dialects. Conventions that keep one code path:
 * times are epoch milliseconds (BIGINT; pg's int8 is parsed to number in connect.ts), JSON is
 * stored as TEXT and parsed by the store that owns the column, flags are 0/1 integers.
 */
export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: number;
  /** Signs inbound delivery webhooks; null until rotated the first time. */
  delivery_webhook_secret: string | null;
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

/** `anonymous_id`: an anonymousId linked to the Profile (profiles.md §2); never used to find one by email or externalId. */
export type IdentityKind = 'email' | 'external_id' | 'anonymous_id';

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
  /** When the TXT record was last looked up (null: never). */
  last_checked_at: number | null;
  /** Why the last lookup did not verify the Domain. */
  last_error: string | null;
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

export interface SubscriptionGroupsTable {
  id: string;
  organization_id: string;
  name: string;
  description: string | null;
  type: 'OptIn' | 'OptOut';
  created_at: number;
  updated_at: number;
}

export interface SubscriptionStatusesTable {
  organization_id: string;
  profile_id: string;
  subscription_group_id: string;
  status: 'subscribed' | 'unsubscribed';
  /** api | unsubscribe_link | one_click | preferences_page | import | journey */
  source: string;
  updated_at: number;
}

export type SuppressionReason = 'hard_bounce' | 'complaint' | 'manual';

export interface SuppressionsTable {
  id: string;
  organization_id: string;
  /** Canonical address; null for a hashed marker left by erasure. */
  email: string | null;
  /** HMAC-SHA256 of the canonical address with the instance secret: the lookup key. */
  email_hash: string;
  reason: SuppressionReason;
  /** smtp | webhook | api | cli */
  source: string;
  suppressed_at: number;
  latest_bounce_reason: string | null;
  latest_bounce_diagnostic_code: string | null;
}

export type EmailSendStatus = 'Queued' | 'Processing' | 'Sent' | 'Failed' | 'Skipped';

export interface EmailSendsTable {
  id: string;
  organization_id: string;
  status: EmailSendStatus;
  template_id: string;
  template_snapshot_id: string;
  sender_profile_id: string;
  from_email: string;
  from_name: string | null;
  reply_to_email: string | null;
  reply_to_name: string | null;
  subject: string | null;
  subscription_group_id: string | null;
  profile_id: string | null;
  to_email: string | null;
  /** JSON array of {email, name}. */
  cc: string;
  /** JSON array of {email, name}; never returned by the API. */
  bcc: string;
  /** JSON object: the /data/* render state. */
  data: string;
  tracking_clicks: number;
  message_id: string | null;
  failure_reason: string | null;
  failure_message: string | null;
  source: 'api' | 'journey' | 'broadcast' | 'newsletter';
  journey_id: string | null;
  journey_run_id: string | null;
  broadcast_id: string | null;
  send_key: string | null;
  sent_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface MessagesTable {
  id: string;
  organization_id: string;
  email_send_id: string;
  message_id_header: string;
  /** The rendered RFC 5322 message until hand-off. */
  mime: string | null;
  /** JSON {from, to[]}: SMTP envelope, bcc included. */
  envelope: string | null;
  transport_message_id: string | null;
  attempts: number;
  last_error: string | null;
  last_event: string | null;
  created_at: number;
  updated_at: number;
}

export interface CapturedMessagesTable {
  message_id_header: string;
  organization_id: string;
  email_send_id: string;
  raw: string;
  handoff_count: number;
  captured_at: number;
}

export interface DeliveryWebhookEventsTable {
  organization_id: string;
  event_id: string;
  received_at: number;
}

export type JourneyStatus = 'Draft' | 'Active' | 'Paused' | 'Archived';
export type JourneyRunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'exited';

export interface JourneysTable {
  id: string;
  organization_id: string;
  key: string;
  name: string;
  description: string | null;
  status: JourneyStatus;
  version: number;
  version_id: string;
  /** The latest version's entry event name; null for API entry. */
  entry_event: string | null;
  activated_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface JourneyVersionsTable {
  id: string;
  organization_id: string;
  journey_id: string;
  version: number;
  /** JSON of the definition. */
  definition: string;
  created_at: number;
}

export interface JourneyRunsTable {
  id: string;
  organization_id: string;
  journey_id: string;
  version_id: string;
  profile_id: string;
  status: JourneyRunStatus;
  /** JSON {type: "event", event, eventId} or {type: "api"}. */
  entry: string;
  event_id: string | null;
  /** JSON object: trigger variables. */
  variables: string;
  entry_key: string | null;
  current_step_id: string | null;
  exit_reason: string | null;
  exit_event_id: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

export interface JourneyRunStepsTable {
  id: string;
  organization_id: string;
  run_id: string;
  step_id: string;
  type: string;
  /** entered | waiting | completed | skipped | failed */
  status: string;
  reason: string | null;
  /** JSON object, e.g. {emailSendId} or {matchedEventId}. */
  outcome: string | null;
  due_at: number | null;
  entered_at: number;
  completed_at: number | null;
}

export interface JourneyWaitsTable {
  run_id: string;
  step_id: string;
  organization_id: string;
  profile_id: string;
  event: string;
  /** waiting | matched | timed_out | cancelled */
  status: string;
  entered_at: number;
  deadline: number;
}

export interface JourneyEntryDecisionsTable {
  id: string;
  organization_id: string;
  journey_id: string;
  version_id: string;
  profile_id: string;
  event_id: string | null;
  outcome: 'enrolled' | 'skipped';
  reason: string | null;
  run_id: string | null;
  decided_at: number;
}

export interface JourneyProfileStateTable {
  journey_id: string;
  profile_id: string;
  organization_id: string;
  runs_started: number;
  active_runs: number;
  updated_at: number;
}

export interface JourneyEntryKeysTable {
  journey_id: string;
  profile_id: string;
  entry_key: string;
  run_id: string;
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
  subscription_groups: SubscriptionGroupsTable;
  subscription_statuses: SubscriptionStatusesTable;
  suppressions: SuppressionsTable;
  email_sends: EmailSendsTable;
  messages: MessagesTable;
  captured_messages: CapturedMessagesTable;
  delivery_webhook_events: DeliveryWebhookEventsTable;
  journeys: JourneysTable;
  journey_versions: JourneyVersionsTable;
  journey_runs: JourneyRunsTable;
  journey_run_steps: JourneyRunStepsTable;
  journey_waits: JourneyWaitsTable;
  journey_entry_decisions: JourneyEntryDecisionsTable;
  journey_profile_state: JourneyProfileStateTable;
  journey_entry_keys: JourneyEntryKeysTable;
}
