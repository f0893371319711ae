/**
 * Fixtures of bench/journeys.ts, written straight into a fresh, migrated SQLite database:
 * an organization with an API key, the dev sender, a published Transactional template, and
 * either many Active journeys listening to events nobody sends (part a) or many journey runs
 * whose `delay` step is waiting on a timer job due at a chosen instant (part b).
 *
 * Rows are inserted in bulk, in the shapes the product writes them (entry.ts `enrollRun`,
 * step-engine.ts for the waiting delay row, lifecycle.ts `enqueueTimer` for the timer job), so
 * 100,000 runs take seconds instead of 100,000 trigger requests.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LogLevel } from '../src/config.js';
import { connectDatabase, type Db } from '../src/db/connect.js';
import type {
  JobsTable,
  JourneyProfileStateTable,
  JourneyRunStepsTable,
  JourneysTable,
  JourneyVersionsTable,
  ProfileIdentitiesTable,
  ProfilesTable,
} from '../src/db/tables.js';
import type { Deps } from '../src/deps.js';
import { createBenchOrganization } from './bench-org.js';
import type { Clock } from '../src/lib/clock.js';
import { uuidV7 } from '../src/lib/ids.js';
import { createJourney, transitionJourney } from '../src/modules/journeys/journeys.service.js';
import { journeyRunControl, STEP_JOB, STEP_MAX_ATTEMPTS, timerJobKey } from '../src/modules/journeys/runs/lifecycle.js';
import type { RunRow } from '../src/modules/journeys/runs/runs.store.js';
import { createTemplate, publishTemplate } from '../src/modules/templates/templates.service.js';

/** A reminder of ordinary size: header, greeting with profile data, text, button, footer. */
const REMINDER = {
  subject: { $template: 'Still thinking it over, ${/profile/email}?' },
  preheader: 'Your cart is waiting for you',
  body: {
    root: 'email',
    elements: {
      email: { type: 'Email', props: {}, children: ['header', 'main', 'footer'] },
      header: { type: 'Section', props: { padding: '24px', align: 'center', backgroundColor: '#f4f4f5' }, children: ['brand'] },
      brand: { type: 'Heading', props: { text: 'Example Shop', level: 2 } },
      main: { type: 'Section', props: { padding: '24px' }, children: ['title', 'intro', 'cta', 'note'] },
      title: { type: 'Heading', props: { text: { $template: 'Hello ${/profile/email}' } } },
      intro: { type: 'Text', props: { text: 'You left a few things in your cart. They are saved for you, but stock is limited.' } },
      cta: { type: 'Button', props: { label: 'Back to your cart', href: 'https://shop.example/cart' } },
      note: { type: 'Text', props: { text: 'Questions? Reply to this email — we answer within a day.', fontSize: 14 } },
      footer: { type: 'Section', props: { padding: '16px 24px' }, children: ['address'] },
      address: { type: 'Text', props: { text: 'Example Shop · 1 Main St · Springfield', fontSize: 12, color: '#71717a' } },
    },
  },
};

export const DELAY_STEP = 'wait';
export const SEND_STEP = 'send';
const CHUNK = 500;

export interface BenchDb {
  db: Db;
  deps: Deps;
  path: string;
  url: string;
  organizationId: string;
  apiKey: string;
  /** Closes the connection but keeps the file (a server child opens it next); idempotent. */
  close(): Promise<void>;
  /** Closes (if still open) and removes the file. */
  dispose(): Promise<void>;
}

/** A fresh migrated SQLite file under `parentDir` with one organization, an API key and the dev sender. */
export async function createBenchDb(
  parentDir: string,
  options: { clock: Clock; logLevel: LogLevel; workerConcurrency?: number; synchronous?: 'FULL' | 'NORMAL' },
): Promise<BenchDb> {
  mkdirSync(parentDir, { recursive: true });
  const dir = mkdtempSync(join(parentDir, 'bench-journeys-'));
  const path = join(dir, 'bench.db');
  const database = { dialect: 'sqlite' as const, path, synchronous: options.synchronous ?? 'FULL' };
  const db = connectDatabase(database);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await db.close();
  };
  const dispose = async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const { deps, organizationId, apiKey } = await createBenchOrganization(db, { database, ...options });
    return {
      db,
      deps,
      path,
      url: `sqlite:${path}`,
      organizationId,
      apiKey,
      close,
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * `count` Active journeys, entry events `other.event.<i>` (events the load never sends), each a
 * one-hour delay: what events.track must look past. Inserted directly (journeys + versions),
 * with `entry_event` set as createJourney sets it, so the (organization_id, entry_event, status)
 * index is what the evaluator meets.
 */
export async function insertIdleJourneys(bench: BenchDb, count: number): Promise<void> {
  const now = bench.deps.clock.now();
  for (let first = 0; first < count; first += CHUNK) {
    const journeys: JourneysTable[] = [];
    const versions: JourneyVersionsTable[] = [];
    for (let i = first; i < Math.min(count, first + CHUNK); i++) {
      const journeyId = uuidV7();
      const versionId = uuidV7();
      const event = `other.event.${i}`;
      const definition = {
        entry: { type: 'event', event },
        start: DELAY_STEP,
        steps: { [DELAY_STEP]: { type: 'delay', duration: 'PT1H' } },
      };
      versions.push({ id: versionId, organization_id: bench.organizationId, journey_id: journeyId, version: 1, definition: JSON.stringify(definition), created_at: now });
      journeys.push({
        id: journeyId,
        organization_id: bench.organizationId,
        key: `idle-${i}`,
        name: `Idle journey ${i}`,
        description: null,
        status: 'Active',
        version: 1,
        version_id: versionId,
        entry_event: event,
        activated_at: now,
        created_at: now,
        updated_at: now,
      });
    }
    await bench.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto('journeys').values(journeys).execute();
      await trx.insertInto('journey_versions').values(versions).execute();
    });
  }
}

/**
 * A published Transactional template and an Active API-entry journey `delay PT1H → send_email`,
 * created through the services (so the definition passes validation and activation checks).
 */
export async function createDelayedSendJourney(bench: BenchDb): Promise<{ journeyId: string; versionId: string; templateId: string }> {
  const { db, deps, organizationId } = bench;
  const template = await createTemplate(db.kysely, deps, organizationId, { name: 'Cart reminder', purpose: 'Transactional', definition: REMINDER });
  if (!template.ok) throw new Error(`creating the template: ${JSON.stringify(template.error)}`);
  const published = await publishTemplate(db.kysely, deps, organizationId, template.value.id);
  if (!published.ok) throw new Error(`publishing the template: ${JSON.stringify(published.error)}`);
  const definition = {
    entry: { type: 'api' },
    start: DELAY_STEP,
    steps: {
      [DELAY_STEP]: { type: 'delay', duration: 'PT1H', next: SEND_STEP },
      [SEND_STEP]: { type: 'send_email', templateId: template.value.id },
    },
  };
  const journey = await createJourney(db.kysely, deps, organizationId, { key: `delayed-send-${randomBytes(3).toString('hex')}`, name: 'Delayed send', definition });
  if (!journey.ok) throw new Error(`creating the journey: ${JSON.stringify(journey.error)}`);
  const active = await transitionJourney(db.kysely, deps, journeyRunControl(deps), organizationId, journey.value.id, 'activate');
  if (!active.ok) throw new Error(`activating the journey: ${JSON.stringify(active.error)}`);
  const version = await db.kysely.selectFrom('journeys').select('version_id').where('id', '=', journey.value.id).executeTakeFirstOrThrow();
  return { journeyId: journey.value.id, versionId: version.version_id, templateId: template.value.id };
}

/**
 * `dueAt(i)` gives the due instant of run i. Per run: a Profile (and its email identity), a
 * `running` run whose current step is the delay, its profile-state row, the delay's `waiting`
 * step row and the timer job — the state a run is in one hour before its send.
 */
export async function insertWaitingRuns(
  bench: BenchDb,
  journey: { journeyId: string; versionId: string },
  count: number,
  dueAt: (i: number) => number,
  enteredAt: number,
): Promise<void> {
  const org = bench.organizationId;
  const tag = randomBytes(3).toString('hex');
  for (let first = 0; first < count; first += CHUNK) {
    const profiles: ProfilesTable[] = [];
    const identities: ProfileIdentitiesTable[] = [];
    const runs: RunRow[] = [];
    const states: JourneyProfileStateTable[] = [];
    const steps: JourneyRunStepsTable[] = [];
    const jobs: JobsTable[] = [];
    for (let i = first; i < Math.min(count, first + CHUNK); i++) {
      const profileId = uuidV7();
      const runId = uuidV7();
      const email = `p${i}.${tag}@example.com`;
      const due = dueAt(i);
      profiles.push({ id: profileId, organization_id: org, email, external_id: null, phone: null, sources: '["api"]', created_at: enteredAt, updated_at: enteredAt });
      identities.push({ organization_id: org, kind: 'email', value: email, profile_id: profileId, created_at: enteredAt });
      runs.push({
        id: runId,
        organization_id: org,
        journey_id: journey.journeyId,
        version_id: journey.versionId,
        profile_id: profileId,
        status: 'running',
        entry: JSON.stringify({ type: 'api' }),
        event_id: null,
        variables: '{}',
        entry_key: null,
        current_step_id: DELAY_STEP,
        exit_reason: null,
        exit_event_id: null,
        error: null,
        created_at: enteredAt,
        started_at: enteredAt,
        finished_at: null,
        updated_at: enteredAt,
      });
      states.push({ journey_id: journey.journeyId, profile_id: profileId, organization_id: org, runs_started: 1, active_runs: 1, updated_at: enteredAt });
      steps.push({
        id: uuidV7(),
        organization_id: org,
        run_id: runId,
        step_id: DELAY_STEP,
        type: 'delay',
        status: 'waiting',
        reason: null,
        outcome: null,
        due_at: due,
        entered_at: enteredAt,
        completed_at: null,
      });
      jobs.push({
        id: uuidV7(),
        type: STEP_JOB,
        organization_id: org,
        payload: JSON.stringify({ runId, stepId: DELAY_STEP }),
        status: 'queued',
        run_at: due,
        attempts: 0,
        max_attempts: STEP_MAX_ATTEMPTS,
        locked_by: null,
        lease_expires_at: null,
        last_error: null,
        unique_key: timerJobKey(runId, DELAY_STEP, 'due'),
        created_at: enteredAt,
        updated_at: enteredAt,
      });
    }
    await bench.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto('profiles').values(profiles).execute();
      await trx.insertInto('profile_identities').values(identities).execute();
      await trx.insertInto('journey_runs').values(runs).execute();
      await trx.insertInto('journey_profile_state').values(states).execute();
      await trx.insertInto('journey_run_steps').values(steps).execute();
      await trx.insertInto('jobs').values(jobs).execute();
    });
  }
}
