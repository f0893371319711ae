/**
 * Shared setup of the run-engine tests: journeys inserted directly as rows (Active, entry_event
 * set), an organization with the dev sender and a published template, API helpers, and the
 * worker driven at the fake clock's time.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { JourneyStatus } from '../../../src/db/tables.js';
import type { JourneyDefinition } from '../../../src/modules/journeys/definition/definition.js';
import { createDevSender } from '../../../src/modules/senders/senders.service.js';
import { createWorker, type Worker, type WorkerOptions } from '../../../src/worker.js';
import { idemKey, json, track, type TestApp, type TestOrg } from '../../harness/app.js';

export function call(app: FastifyInstance, key: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method,
    url,
    headers: { 'x-api-key': key, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
}

let keyCounter = 0;

/** Inserts an (Active by default) journey with one version holding `definition`. */
export async function insertJourney(
  t: TestApp,
  organizationId: string,
  definition: unknown,
  options: { key?: string; status?: JourneyStatus } = {},
): Promise<{ id: string; versionId: string; key: string }> {
  const db = t.database.db.kysely;
  const now = t.clock.now();
  const id = t.deps.ids();
  const versionId = t.deps.ids();
  const key = options.key ?? `journey-${process.pid}-${keyCounter++}`;
  const def = definition as JourneyDefinition;
  await db
    .insertInto('journeys')
    .values({
      id,
      organization_id: organizationId,
      key,
      name: key,
      description: null,
      status: options.status ?? 'Active',
      version: 1,
      version_id: versionId,
      entry_event: def.entry.type === 'event' ? def.entry.event : null,
      activated_at: now,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await db.insertInto('journey_versions').values({ id: versionId, organization_id: organizationId, journey_id: id, version: 1, definition: JSON.stringify(definition), created_at: now }).execute();
  return { id, versionId, key };
}

export async function setJourneyStatus(t: TestApp, journeyId: string, status: JourneyStatus): Promise<void> {
  await t.database.db.kysely.updateTable('journeys').set({ status }).where('id', '=', journeyId).execute();
}

const emailBody = (text: string) => ({ root: 'e', elements: { e: { type: 'Email', props: {}, children: ['t'] }, t: { type: 'Text', props: { text: { $template: text } } } } });

/** A published template (Transactional unless said otherwise) whose body is one Text of `text`. */
export async function publishedTemplate(t: TestApp, org: TestOrg, subject = 'Hello', purpose = 'Transactional', text = 'Hello ${/profile/email}'): Promise<string> {
  const created = await call(t.app, org.key, 'POST', '/api/v1/templates', { name: `T ${Math.random()}`, purpose, definition: { subject, body: emailBody(text) } });
  assert.equal(created.statusCode, 201, created.body);
  const id = String(json(created).id);
  const published = await call(t.app, org.key, 'POST', `/api/v1/templates/${id}/publish`);
  assert.equal(published.statusCode, 200, published.body);
  return id;
}

export async function orgWithSender(t: TestApp): Promise<TestOrg> {
  const org = await t.newOrg();
  await createDevSender(t.database.db.kysely, t.deps, org.id);
  return org;
}

export interface TrackAnswer {
  eventId: string;
  profileId: string;
  matchedJourneys: number;
  enrolledJourneys: number;
  skippedJourneys: number;
}

export async function trackOk(t: TestApp, org: TestOrg, event: string, email: string, data: Record<string, unknown> = {}): Promise<TrackAnswer> {
  const res = await track(t.app, org.key, { event, profile: { email }, data }, idemKey());
  assert.equal(res.statusCode, 202, res.body);
  return json(res) as unknown as TrackAnswer;
}

export interface StepJson {
  stepId: string;
  type: string;
  status: string;
  reason: string | null;
  enteredAt: string;
  dueAt: string | null;
  completedAt: string | null;
  next: string | null;
  outcome: Record<string, unknown> | null;
}

export interface RunJson {
  runId: string;
  journeyId: string;
  journeyKey: string;
  version: number;
  profileId: string;
  workflowId: null;
  status: string;
  entry: Record<string, unknown>;
  triggeredAt: string;
  completedAt: string | null;
  error: string | null;
  exitReason: string | null;
  exitEventId: string | null;
  currentStepId: string | null;
  steps: StepJson[];
}

export async function getRun(t: TestApp, org: TestOrg, runId: string): Promise<RunJson> {
  const res = await call(t.app, org.key, 'GET', `/api/v1/journeys/runs/${runId}`);
  assert.equal(res.statusCode, 200, res.body);
  return json(res) as unknown as RunJson;
}

/** The runs of a journey (newest first). */
export async function runsOf(t: TestApp, org: TestOrg, journeyId: string, query = ''): Promise<RunJson[]> {
  const res = await call(t.app, org.key, 'GET', `/api/v1/journeys/${journeyId}/runs${query}`);
  assert.equal(res.statusCode, 200, res.body);
  return (json(res) as { data: RunJson[] }).data;
}

export async function onlyRun(t: TestApp, org: TestOrg, journeyId: string): Promise<RunJson> {
  const runs = await runsOf(t, org, journeyId);
  assert.equal(runs.length, 1, JSON.stringify(runs));
  return getRun(t, org, runs[0]!.runId);
}

export function emailSendsOfRun(t: TestApp, runId: string) {
  return t.database.db.kysely.selectFrom('email_sends').selectAll().where('journey_run_id', '=', runId).orderBy('created_at').orderBy('id').execute();
}

export function newWorker(t: TestApp, options: WorkerOptions = {}): Worker {
  return createWorker(t.deps, options);
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** The HTML body of the message the capture transport kept for a send. */
export async function capturedHtml(t: TestApp, org: TestOrg, emailSendId: string): Promise<string> {
  const res = await call(t.app, org.key, 'GET', `/api/v1/emails/${emailSendId}/message`);
  assert.equal(res.statusCode, 200, res.body);
  return String(json(res).html);
}
