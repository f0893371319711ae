/**
 * `POST /api/v1/journeys/{journeyKey}/trigger` (journeys.md §7.1, §10 example 7): happy path with
 * variables reaching the run state, idempotent replay, refusals that write nothing
 * (not_eligible, journey_not_api_entry, invalid_state, unknown key), validation and scopes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, type TestApp, type TestOrg } from '../../harness/app.js';
import { call, capturedHtml, emailSendsOfRun, getRun, insertJourney, newWorker, orgWithSender, publishedTemplate, setJourneyStatus } from './support.js';

forEachDialect('journey trigger route', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  let templateId: string;
  before(async () => {
    t = await createTestApp(dialect);
    org = await orgWithSender(t);
    templateId = await publishedTemplate(t, org, 'Reset your password', 'Transactional', 'reset=${/variables/resetUrl}');
  });
  after(() => t.close());

  const trigger = (journeyKey: string, body: unknown, key: string | null = `trigger-${Math.random()}`, apiKey = org.key) =>
    call(t.app, apiKey, 'POST', `/api/v1/journeys/${encodeURIComponent(journeyKey)}/trigger`, body, key === null ? {} : { 'idempotency-key': key });

  const profileCount = async () => Number((await t.database.db.kysely.selectFrom('profiles').select((eb) => eb.fn.countAll().as('n')).where('organization_id', '=', org.id).executeTakeFirstOrThrow()).n);

  test('202 {runId, status: queued}; same key and request → replay; the run sees /variables and sends', async () => {
    const journey = await insertJourney(
      t,
      org.id,
      {
        entry: { type: 'api' },
        start: 'tag',
        steps: {
          tag: { type: 'update_profile', properties: { resetUrl: { $state: '/variables/resetUrl' } }, next: 'mail' },
          mail: { type: 'send_email', templateId },
        },
      },
      { key: 'password-reset' },
    );
    const body = { profile: { email: 'U1@example.com', userId: 'u1', properties: { plan: 'Pro' } }, variables: { resetUrl: 'https://app.example.com/r/x' } };
    const first = await trigger('password-reset', body, 'reset:u1');
    assert.equal(first.statusCode, 202, first.body);
    const answer = json(first);
    assert.equal(answer.status, 'queued');
    assert.deepEqual(Object.keys(answer).sort(), ['runId', 'status']);
    const replay = await trigger('password-reset', body, 'reset:u1');
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, first.body);
    const reuse = await trigger('password-reset', { ...body, variables: { resetUrl: 'other' } }, 'reset:u1');
    assert.equal(json(reuse).error, 'idempotency_key_reuse');

    await newWorker(t).runner.runDueJobsOnce();
    const run = await getRun(t, org, String(answer.runId));
    assert.equal(run.status, 'completed');
    assert.equal(run.journeyKey, 'password-reset');
    assert.deepEqual(run.entry, { type: 'api', variables: { resetUrl: 'https://app.example.com/r/x' } });
    const sends = await emailSendsOfRun(t, run.runId);
    assert.equal(sends.length, 1);
    // The email renders the trigger's variables (journeys.md §6.3), read from the run at delivery.
    assert.match(await capturedHtml(t, org, sends[0]!.id), /reset=https:\/\/app\.example\.com\/r\/x/);
    const profile = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${run.profileId}`)) as { email: string; externalId: string; properties: Record<string, { value: unknown; source: string }> };
    assert.equal(profile.email, 'u1@example.com');
    assert.equal(profile.externalId, 'u1');
    assert.deepEqual(profile.properties.plan, { ...profile.properties.plan, value: 'Pro', source: 'journeys.trigger' });
    assert.equal(profile.properties.resetUrl!.value, 'https://app.example.com/r/x');
    const decisions = json(await call(t.app, org.key, 'GET', `/api/v1/journeys/${journey.id}/entry-decisions`)) as { data: { outcome: string; runId: string; eventId: string | null }[] };
    assert.deepEqual(decisions.data.map((d) => [d.outcome, d.runId, d.eventId]), [['enrolled', run.runId, null]]);
  });

  test('not_eligible (once, once_per_key on /variables): 422 with details.rule, nothing written', async () => {
    await insertJourney(t, org.id, { entry: { type: 'api' }, eligibility: { reEntry: 'once' }, start: 'd', steps: { d: { type: 'delay', duration: 'P1D' } } }, { key: 'once-only' });
    assert.equal((await trigger('once-only', { profile: { email: 'once@example.com' } })).statusCode, 202);
    const profiles = await profileCount();
    const refused = await trigger('once-only', { profile: { email: 'once@example.com', properties: { touched: true } } });
    assert.equal(refused.statusCode, 422);
    assert.deepEqual(json(refused).details, { reason: 'not_eligible', rule: 'already_entered' });
    const p = await t.database.db.kysely.selectFrom('profile_properties').select('key').where('key', '=', 'touched').execute();
    assert.equal(p.length, 0, 'properties of a refused trigger are not written');
    assert.equal(await profileCount(), profiles);

    await insertJourney(t, org.id, { entry: { type: 'api' }, eligibility: { reEntry: 'once_per_key', key: '/variables/orderId' }, start: 'd', steps: { d: { type: 'delay', duration: 'P1D' } } }, { key: 'per-order' });
    const missing = await trigger('per-order', { profile: { email: 'brand-new@example.com' } });
    assert.deepEqual(json(missing).details, { reason: 'not_eligible', rule: 'entry_key_missing' });
    assert.equal(await profileCount(), profiles, 'the Profile a refused trigger would have created does not exist');
    assert.equal((await trigger('per-order', { profile: { email: 'order@example.com' }, variables: { orderId: 'o1' } })).statusCode, 202);
    const dup = await trigger('per-order', { profile: { email: 'order@example.com' }, variables: { orderId: 'o1' } });
    assert.deepEqual(json(dup).details, { reason: 'not_eligible', rule: 'entry_key_duplicate' });
  });

  test('event-entry journey → 422 journey_not_api_entry; Paused → 409 invalid_state; unknown key → 404', async () => {
    await insertJourney(t, org.id, { entry: { type: 'event', event: 'x' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'event-entry' });
    const notApi = await trigger('event-entry', { profile: { email: 'x@example.com' } });
    assert.equal(notApi.statusCode, 422);
    assert.equal((json(notApi).details as { reason: string }).reason, 'journey_not_api_entry');
    const paused = await insertJourney(t, org.id, { entry: { type: 'api' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'paused-one' });
    await setJourneyStatus(t, paused.id, 'Paused');
    const before = await profileCount();
    const refused = await trigger('paused-one', { profile: { email: 'paused@example.com' } });
    assert.equal(refused.statusCode, 409);
    assert.deepEqual(json(refused).details, { status: 'Paused' });
    assert.equal(await profileCount(), before);
    assert.equal((await trigger('no-such-journey', { profile: { email: 'x@example.com' } })).statusCode, 404);
    const other = await t.newOrg();
    assert.equal((await trigger('paused-one', { profile: { email: 'x@example.com' } }, 'k', other.key)).statusCode, 404, 'keys are per organization');
  });

  test('validation: Idempotency-Key required, identity required, userId ≠ externalId, variables ≤ 64 KiB; scope journeys:trigger', async () => {
    await insertJourney(t, org.id, { entry: { type: 'api' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'validated' });
    const noKey = await trigger('validated', { profile: { email: 'v@example.com' } }, null);
    assert.equal(json(noKey).error, 'idempotency_key_required');
    const noIdentity = await trigger('validated', { profile: { anonymousId: 'a-1' } });
    assert.equal(noIdentity.statusCode, 400);
    assert.equal((json(noIdentity).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/profile');
    const mismatch = await trigger('validated', { profile: { externalId: 'a', userId: 'b', email: 'v@example.com' } });
    assert.equal((json(mismatch).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/profile/userId');
    const big = await trigger('validated', { profile: { email: 'v@example.com' }, variables: { blob: 'x'.repeat(70_000) } });
    assert.equal((json(big).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/variables');
    const unknownField = await trigger('validated', { profile: { email: 'v@example.com' }, extra: 1 });
    assert.equal((json(unknownField).details as { errors: { pointer: string }[] }).errors[0]!.pointer, '/extra');
    const nobody = await trigger('validated', { profile: { externalId: 'nobody' } });
    assert.equal(json(nobody).error, 'profile_not_found');
    const reader = await org.keyWith(['journeys:read', 'journeys:write']);
    const forbidden = await trigger('validated', { profile: { email: 'v@example.com' } }, 'k2', reader);
    assert.equal(forbidden.statusCode, 403);
    assert.deepEqual(json(forbidden).details, { required: ['journeys:trigger'] });
    const triggerer = await org.keyWith(['journeys:trigger']);
    assert.equal((await trigger('validated', { profile: { email: 'v@example.com', anonymousId: 'a-1' } }, 'k3', triggerer)).statusCode, 202);
  });
});
