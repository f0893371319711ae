/**
 * SQL of the run engine: runs, the step log, waits, entry decisions, the per-(journey, Profile)
 * entry state and entry keys. The three reads events.track makes on every request (journeys of
 * the event name, this Profile's waits and live runs) are fixed Statements (docs/adr/0003), and
 * a group of requests asks the same as one yes/no (`anyEventTouchpoint`);
 * the statements of every run's steps are PreparedQueries, built once; the rest uses the builder.
 */
import { sql, type Kysely } from 'kysely';
import { PreparedQuery, preparedInsert, preparedUpdate } from '../../../db/prepared.js';
import { Statement } from '../../../db/statement.js';
import type {
  Database,
  JourneyEntryDecisionsTable,
  JourneyRunsTable,
  JourneyRunStatus,
  JourneyRunStepsTable,
  JourneysTable,
  JourneyWaitsTable,
} from '../../../db/tables.js';

export type RunRow = JourneyRunsTable;
export type RunStepRow = JourneyRunStepsTable;
export type WaitRow = JourneyWaitsTable;
export type EntryDecisionRow = JourneyEntryDecisionsTable;

export const LIVE_RUN_STATUSES: readonly JourneyRunStatus[] = ['queued', 'running'];

// ---- the events.track hot path ----

/**
 * Everything events.track needs to know before it can skip journeys entirely, in one round trip:
 * the Active journeys entered by this event name (the `journeys_entry_idx` index), the Profile's
 * live runs (`journey_runs_profile_idx`, for `exitOn`) and its waits for this name
 * (`journey_waits_profile_idx`). With no journeys in play that is the whole cost per event.
 */
const selectTouchpoints = new Statement<{ kind: 'journey' | 'run' | 'wait'; id: string; version_id: string | null; event_id: string | null; step_id: string | null; deadline: number | null }>(
  `select 'journey' as kind, id, version_id, cast(null as text) as event_id, cast(null as text) as step_id, cast(null as bigint) as deadline
     from journeys where organization_id = ? and entry_event = ? and status = 'Active'
   union all
   select 'run', id, version_id, event_id, null, null
     from journey_runs where organization_id = ? and profile_id = ? and status in ('queued', 'running')
   union all
   select 'wait', run_id, null, null, step_id, deadline
     from journey_waits where organization_id = ? and profile_id = ? and event = ? and status = 'waiting'`,
);

export interface EventTouchpoints {
  /** Ordered by id, so concurrent transactions take entry-state locks in the same order. */
  journeys: { id: string; versionId: string }[];
  liveRuns: { id: string; versionId: string; eventId: string | null }[];
  waits: { runId: string; stepId: string; deadline: number }[];
}

export async function selectEventTouchpoints(db: Kysely<Database>, organizationId: string, profileId: string, event: string): Promise<EventTouchpoints> {
  const rows = await selectTouchpoints.all(db, [organizationId, event, organizationId, profileId, organizationId, profileId, event]);
  const out: EventTouchpoints = { journeys: [], liveRuns: [], waits: [] };
  for (const r of rows) {
    if (r.kind === 'journey') out.journeys.push({ id: r.id, versionId: r.version_id! });
    else if (r.kind === 'run') out.liveRuns.push({ id: r.id, versionId: r.version_id!, eventId: r.event_id });
    else out.waits.push({ runId: r.id, stepId: r.step_id!, deadline: Number(r.deadline) });
  }
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  out.journeys.sort(byId);
  out.liveRuns.sort(byId);
  out.waits.sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  return out;
}

/**
 * `selectEventTouchpoints` for a group of events at once, as a yes/no: any Active journey entered
 * by one of the names, any live run of one of the Profiles, any wait of one of them for one of
 * the names. One statement, stopping at the first row.
 */
export async function anyEventTouchpoint(db: Kysely<Database>, organizationId: string, events: string[], profileIds: string[]): Promise<boolean> {
  if (events.length === 0) return false;
  const names = sql.join(events);
  let query = sql`select 1 as hit from journeys where organization_id = ${organizationId} and entry_event in (${names}) and status = 'Active'`;
  if (profileIds.length > 0) {
    const ids = sql.join(profileIds);
    query = sql`${query}
      union all select 1 from journey_runs where organization_id = ${organizationId} and profile_id in (${ids}) and status in ('queued', 'running')
      union all select 1 from journey_waits where organization_id = ${organizationId} and profile_id in (${ids}) and event in (${names}) and status = 'waiting'`;
  }
  const { rows } = await sql<{ hit: number }>`select hit from (${query}) touchpoints limit 1`.execute(db);
  return rows.length > 0;
}

// ---- entry ----

/**
 * Creates or touches the (journey, Profile) entry state and returns its counters. On PostgreSQL
 * `INSERT … ON CONFLICT DO UPDATE` locks the row until commit, so concurrent entry decisions for
 * one Profile and journey run one after the other and each sees the counters the previous left.
 */
export async function lockProfileState(
  db: Kysely<Database>,
  row: { journeyId: string; profileId: string; organizationId: string; now: number },
): Promise<{ runs_started: number; active_runs: number }> {
  return db
    .insertInto('journey_profile_state')
    .values({ journey_id: row.journeyId, profile_id: row.profileId, organization_id: row.organizationId, runs_started: 0, active_runs: 0, updated_at: row.now })
    .onConflict((oc) => oc.columns(['journey_id', 'profile_id']).doUpdateSet({ updated_at: row.now }))
    .returning(['runs_started', 'active_runs'])
    .executeTakeFirstOrThrow();
}

/** One more run started and live (creating the state row when no check needed it first). */
export async function countRunStarted(db: Kysely<Database>, row: { journeyId: string; profileId: string; organizationId: string; now: number }): Promise<void> {
  await db
    .insertInto('journey_profile_state')
    .values({ journey_id: row.journeyId, profile_id: row.profileId, organization_id: row.organizationId, runs_started: 1, active_runs: 1, updated_at: row.now })
    .onConflict((oc) =>
      oc.columns(['journey_id', 'profile_id']).doUpdateSet((eb) => ({
        runs_started: eb('journey_profile_state.runs_started', '+', 1),
        active_runs: eb('journey_profile_state.active_runs', '+', 1),
        updated_at: row.now,
      })),
    )
    .execute();
}

const RUN_FINISHED = new PreparedQuery((db, p: { journeyId: string; profileId: string; now: number }) =>
  db
    .updateTable('journey_profile_state')
    .set((eb) => ({ active_runs: eb('active_runs', '-', 1), updated_at: p.now }))
    .where('journey_id', '=', p.journeyId)
    .where('profile_id', '=', p.profileId)
    .where('active_runs', '>', 0),
);

export async function countRunFinished(db: Kysely<Database>, journeyId: string, profileId: string, now: number): Promise<void> {
  await RUN_FINISHED.run(db, { journeyId, profileId, now });
}

export async function entryKeyExists(db: Kysely<Database>, journeyId: string, profileId: string, key: string): Promise<boolean> {
  const row = await db
    .selectFrom('journey_entry_keys')
    .select('run_id')
    .where('journey_id', '=', journeyId)
    .where('profile_id', '=', profileId)
    .where('entry_key', '=', key)
    .executeTakeFirst();
  return row !== undefined;
}

/** Claims the entry key; false when it was taken (never raises a unique violation). */
export async function claimEntryKey(db: Kysely<Database>, row: { journeyId: string; profileId: string; key: string; runId: string }): Promise<boolean> {
  const inserted = await db
    .insertInto('journey_entry_keys')
    .values({ journey_id: row.journeyId, profile_id: row.profileId, entry_key: row.key, run_id: row.runId })
    .onConflict((oc) => oc.columns(['journey_id', 'profile_id', 'entry_key']).doNothing())
    .returning('run_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export const insertRun: (db: Kysely<Database>, row: RunRow) => Promise<void> = preparedInsert('journey_runs');

export async function insertEntryDecision(db: Kysely<Database>, row: EntryDecisionRow): Promise<void> {
  await db.insertInto('journey_entry_decisions').values(row).execute();
}

// ---- runs and steps ----

/**
 * Locks the run for the rest of the transaction and returns it: a no-op UPDATE takes the row
 * lock on PostgreSQL and the write lock on SQLite up front, so the step transaction never has to
 * upgrade a read lock later.
 */
const LOCK_RUN = new PreparedQuery((db, p: { runId: string }) =>
  db
    .updateTable('journey_runs')
    .set((eb) => ({ status: eb.ref('status') }))
    .where('id', '=', p.runId)
    .returningAll(),
);

export function lockRun(db: Kysely<Database>, runId: string): Promise<RunRow | undefined> {
  return LOCK_RUN.first(db, { runId });
}

const RUN = new PreparedQuery((db, p: { organizationId: string; runId: string }) =>
  db.selectFrom('journey_runs').selectAll().where('organization_id', '=', p.organizationId).where('id', '=', p.runId));

export function selectRun(db: Kysely<Database>, organizationId: string, runId: string): Promise<RunRow | undefined> {
  return RUN.first(db, { organizationId, runId });
}

const UPDATE_RUN = preparedUpdate('journey_runs', 'id');

export async function updateRun(db: Kysely<Database>, runId: string, changes: Partial<Omit<RunRow, 'id' | 'organization_id'>>): Promise<void> {
  await UPDATE_RUN(db, runId, changes);
}

/** Ends a live run; undefined when it had already finished (someone else ended it first). */
export function finishLiveRun(
  db: Kysely<Database>,
  runId: string,
  changes: Pick<RunRow, 'status' | 'finished_at' | 'updated_at'> & Partial<Pick<RunRow, 'exit_reason' | 'exit_event_id' | 'error'>>,
): Promise<RunRow | undefined> {
  return db
    .updateTable('journey_runs')
    .set({ ...changes, current_step_id: null })
    .where('id', '=', runId)
    .where('status', 'in', LIVE_RUN_STATUSES)
    .returningAll()
    .executeTakeFirst();
}

export function selectLiveRunIdsOfJourney(db: Kysely<Database>, organizationId: string, journeyId: string): Promise<{ id: string }[]> {
  return db
    .selectFrom('journey_runs')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('journey_id', '=', journeyId)
    .where('status', 'in', LIVE_RUN_STATUSES)
    .orderBy('id')
    .execute();
}

const STEP = new PreparedQuery((db, p: { runId: string; stepId: string }) =>
  db.selectFrom('journey_run_steps').selectAll().where('run_id', '=', p.runId).where('step_id', '=', p.stepId));

export function selectStep(db: Kysely<Database>, runId: string, stepId: string): Promise<RunStepRow | undefined> {
  return STEP.first(db, { runId, stepId });
}

export function selectSteps(db: Kysely<Database>, runId: string): Promise<RunStepRow[]> {
  return db.selectFrom('journey_run_steps').selectAll().where('run_id', '=', runId).orderBy('entered_at').orderBy('id').execute();
}

export const insertStep: (db: Kysely<Database>, row: RunStepRow) => Promise<void> = preparedInsert('journey_run_steps');

const FINISH_WAITING_STEP = new PreparedQuery((db, p: { runId: string; stepId: string } & Pick<RunStepRow, 'status' | 'reason' | 'outcome' | 'completed_at'>) =>
  db
    .updateTable('journey_run_steps')
    .set({ status: p.status, reason: p.reason, outcome: p.outcome, completed_at: p.completed_at })
    .where('run_id', '=', p.runId)
    .where('step_id', '=', p.stepId)
    .where('status', '=', 'waiting'),
);

/** Finishes a `waiting` step; false when it was no longer waiting. */
export async function finishWaitingStep(
  db: Kysely<Database>,
  runId: string,
  stepId: string,
  changes: Pick<RunStepRow, 'status' | 'reason' | 'outcome' | 'completed_at'>,
): Promise<boolean> {
  return (await FINISH_WAITING_STEP.run(db, { runId, stepId, ...changes })) > 0n;
}

export async function failStep(db: Kysely<Database>, id: string, now: number): Promise<void> {
  await db.updateTable('journey_run_steps').set({ status: 'failed', reason: 'internal_error', completed_at: now }).where('id', '=', id).execute();
}

/** Marks the run's unfinished steps skipped (`run_exited`); returns their ids. */
export async function skipOpenSteps(db: Kysely<Database>, runId: string, now: number): Promise<string[]> {
  const rows = await db
    .updateTable('journey_run_steps')
    .set({ status: 'skipped', reason: 'run_exited', completed_at: now })
    .where('run_id', '=', runId)
    .where('status', 'in', ['entered', 'waiting'])
    .returning('step_id')
    .execute();
  return rows.map((r) => r.step_id);
}

const MATCHED_WAITS = new PreparedQuery((db, p: { runId: string }) =>
  db.selectFrom('journey_run_steps').select(['step_id', 'outcome']).where('run_id', '=', p.runId).where('type', '=', 'wait_for_event').where('reason', '=', 'event_received'),
);

/** Outcomes of the run's wait_for_event steps that an event satisfied: stepId → matchedEventId. */
export async function selectMatchedWaits(db: Kysely<Database>, runId: string): Promise<{ stepId: string; eventId: string }[]> {
  const rows = await MATCHED_WAITS.all(db, { runId });
  const out: { stepId: string; eventId: string }[] = [];
  for (const row of rows) {
    const outcome = row.outcome === null ? null : (JSON.parse(row.outcome) as { matchedEventId?: unknown });
    if (typeof outcome?.matchedEventId === 'string') out.push({ stepId: row.step_id, eventId: outcome.matchedEventId });
  }
  return out;
}

// ---- waits ----

export async function insertWait(db: Kysely<Database>, row: WaitRow): Promise<void> {
  await db.insertInto('journey_waits').values(row).execute();
}

/**
 * The one decision between a matching event and the deadline: only the first conditional update
 * of the `waiting` row succeeds.
 */
export async function settleWait(db: Kysely<Database>, runId: string, stepId: string, status: 'matched' | 'timed_out'): Promise<boolean> {
  const result = await db
    .updateTable('journey_waits')
    .set({ status })
    .where('run_id', '=', runId)
    .where('step_id', '=', stepId)
    .where('status', '=', 'waiting')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function cancelWaits(db: Kysely<Database>, runId: string): Promise<void> {
  await db.updateTable('journey_waits').set({ status: 'cancelled' }).where('run_id', '=', runId).where('status', '=', 'waiting').execute();
}

// ---- events read by steps ----

export async function selectEventData(db: Kysely<Database>, organizationId: string, eventIds: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const map = new Map<string, Record<string, unknown>>();
  if (eventIds.length === 0) return map;
  const rows = await db.selectFrom('user_events').select(['id', 'data']).where('organization_id', '=', organizationId).where('id', 'in', eventIds).execute();
  for (const row of rows) map.set(row.id, JSON.parse(row.data) as Record<string, unknown>);
  return map;
}

/**
 * Events of the Profile with this name received in [from, to], oldest first: the candidates of
 * a wait_for_event step that were stored while no wait row could see them.
 */
export function selectCandidateEvents(
  db: Kysely<Database>,
  q: { organizationId: string; profileId: string; event: string; from: number; to: number; limit: number },
): Promise<{ id: string; data: string; received_at: number }[]> {
  return db
    .selectFrom('user_events')
    .select(['id', 'data', 'received_at'])
    .where('organization_id', '=', q.organizationId)
    .where('profile_id', '=', q.profileId)
    .where('received_at', '>=', q.from)
    .where('received_at', '<=', q.to)
    .where('event', '=', q.event)
    .orderBy('received_at')
    .orderBy('id')
    .limit(q.limit)
    .execute();
}

// ---- jobs ----

/** Pending (not yet claimed) jobs with these unique keys are marked done: their run ended. */
export async function cancelQueuedJobs(db: Kysely<Database>, uniqueKeys: readonly string[], now: number): Promise<void> {
  if (uniqueKeys.length === 0) return;
  await db
    .updateTable('jobs')
    .set({ status: 'completed', last_error: 'cancelled: the journey run ended', updated_at: now })
    .where('unique_key', 'in', uniqueKeys)
    .where('status', '=', 'queued')
    .execute();
}

/**
 * A page of failed jobs of `type` (step jobs), by id. Failed step jobs are rare — the handler
 * completes its job even when the step fails for good — and purged with the other finished jobs,
 * so the reaper can afford to look at all of them every time.
 */
export function selectFailedJobs(db: Kysely<Database>, type: string, afterId: string | null, limit: number): Promise<{ id: string; payload: string; last_error: string | null }[]> {
  return db
    .selectFrom('jobs')
    .select(['id', 'payload', 'last_error'])
    .where('status', '=', 'failed')
    .where('type', '=', type)
    .$if(afterId !== null, (q) => q.where('id', '>', afterId ?? ''))
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** The live runs among `runIds` with the step they are at. */
export function selectLiveRunSteps(db: Kysely<Database>, runIds: readonly string[]): Promise<{ id: string; current_step_id: string | null }[]> {
  if (runIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('journey_runs').select(['id', 'current_step_id']).where('id', 'in', runIds).where('status', 'in', LIVE_RUN_STATUSES).execute();
}

const JOURNEY_STATUS = new PreparedQuery((db, p: { journeyId: string }) => db.selectFrom('journeys').select(['status', 'organization_id']).where('id', '=', p.journeyId));

export function selectJourneyStatus(db: Kysely<Database>, journeyId: string): Promise<Pick<JourneysTable, 'status' | 'organization_id'> | undefined> {
  return JOURNEY_STATUS.first(db, { journeyId });
}
