/**
 * `profile.anonymousId` of `POST /api/v1/journeys/{journeyKey}/trigger` (journeys.md §7.1,
 * profiles.md §2, ingest.md §2.2): linked to the resolved Profile as an `anonymous_id` identity in
 * the run's transaction; never finds or creates a Profile; linking again changes nothing; an
 * anonymousId linked to another Profile moves to the newer one and the move is logged (ids
 * only); a refused trigger links nothing. events.track has no `profile.anonymousId` (events.md §1).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { forEachDialect } from '../../harness/database.js';
import { createTestApp, json, track, type TestApp, type TestOrg } from '../../harness/app.js';
import { call, insertJourney, orgWithSender, setJourneyStatus } from './support.js';

forEachDialect('journey trigger: profile.anonymousId', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  const logs: Record<string, unknown>[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    t = await createTestApp(dialect, { logger: pino({ level: 'info' }, sink) });
    org = await orgWithSender(t);
  });
  after(() => t.close());

  const trigger = (journeyKey: string, body: unknown) =>
    call(t.app, org.key, 'POST', `/api/v1/journeys/${encodeURIComponent(journeyKey)}/trigger`, body, { 'idempotency-key': `anon-${Math.random()}` });

  const links = (anonymousId: string) =>
    t.database.db.kysely
      .selectFrom('profile_identities')
      .select(['profile_id', 'created_at'])
      .where('organization_id', '=', org.id)
      .where('kind', '=', 'anonymous_id')
      .where('value', '=', anonymousId)
      .execute();

  const profileOfRun = async (runId: string) =>
    (await t.database.db.kysely.selectFrom('journey_runs').select('profile_id').where('id', '=', runId).executeTakeFirstOrThrow()).profile_id;

  test('linked to the resolved Profile; a second trigger with the same link writes nothing new', async () => {
    await insertJourney(t, org.id, { entry: { type: 'api' }, start: 'd', steps: { d: { type: 'delay', duration: 'P1D' } } }, { key: 'anon-link' });
    const first = await trigger('anon-link', { profile: { email: 'anon1@example.com', anonymousId: 'anon-1' } });
    assert.equal(first.statusCode, 202, first.body);
    const profileId = await profileOfRun(String(json(first).runId));
    const linked = await links('anon-1');
    assert.deepEqual(linked.map((l) => l.profile_id), [profileId]);
    assert.equal(Number(linked[0]!.created_at), t.clock.now());

    t.clock.advance(60_000);
    const again = await trigger('anon-link', { profile: { email: 'anon1@example.com', anonymousId: 'anon-1' } });
    assert.equal(again.statusCode, 202, again.body);
    assert.equal(await profileOfRun(String(json(again).runId)), profileId);
    const after = await links('anon-1');
    assert.deepEqual(after.map((l) => [l.profile_id, Number(l.created_at)]), [[profileId, Number(linked[0]!.created_at)]], 'idempotent: the link is untouched');
    // The link is not an identity for finding Profiles: the lookups by email/externalId are unchanged.
    const profile = json(await call(t.app, org.key, 'GET', `/api/v1/profiles/${profileId}`));
    assert.equal(profile.email, 'anon1@example.com');
    assert.equal(profile.externalId, null);
  });

  test('never finds or creates a Profile: an unknown externalId with a linked anonymousId is still profile_not_found', async () => {
    await insertJourney(t, org.id, { entry: { type: 'api' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'anon-find' });
    const linked = await trigger('anon-find', { profile: { email: 'anon2@example.com', anonymousId: 'anon-2' } });
    assert.equal(linked.statusCode, 202, linked.body);
    const profiles = await t.database.db.kysely.selectFrom('profiles').select('id').where('organization_id', '=', org.id).execute();
    const refused = await trigger('anon-find', { profile: { externalId: 'cus_unknown', anonymousId: 'anon-2' } });
    assert.equal(refused.statusCode, 422);
    assert.equal(json(refused).error, 'profile_not_found');
    const fresh = await trigger('anon-find', { profile: { externalId: 'cus_unknown', anonymousId: 'anon-new' } });
    assert.equal(json(fresh).error, 'profile_not_found');
    assert.equal((await t.database.db.kysely.selectFrom('profiles').select('id').where('organization_id', '=', org.id).execute()).length, profiles.length);
    assert.deepEqual(await links('anon-new'), []);
  });

  test('an anonymousId linked to another Profile moves to the newer one, and the move is logged with ids only', async () => {
    await insertJourney(t, org.id, { entry: { type: 'api' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'anon-move' });
    const a = await trigger('anon-move', { profile: { email: 'anon-a@example.com', anonymousId: 'anon-shared' } });
    const profileA = await profileOfRun(String(json(a).runId));
    logs.length = 0;
    const b = await trigger('anon-move', { profile: { email: 'anon-b@example.com', anonymousId: 'anon-shared' } });
    assert.equal(b.statusCode, 202, b.body);
    const runB = String(json(b).runId);
    const profileB = await profileOfRun(runB);
    assert.notEqual(profileA, profileB);
    assert.deepEqual((await links('anon-shared')).map((l) => l.profile_id), [profileB]);
    const moved = logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('re-linked an anonymousId'));
    assert.equal(moved.length, 1, JSON.stringify(logs));
    assert.equal(moved[0]!.previousProfileId, profileA);
    assert.equal(moved[0]!.profileId, profileB);
    assert.equal(moved[0]!.runId, runB);
    assert.ok(!JSON.stringify(logs).includes('anon-shared'), 'the anonymousId itself is not logged');
  });

  test('a refused trigger links nothing (not_eligible, invalid_state)', async () => {
    await insertJourney(t, org.id, { entry: { type: 'api' }, eligibility: { reEntry: 'once' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'anon-once' });
    assert.equal((await trigger('anon-once', { profile: { email: 'anon-once@example.com' } })).statusCode, 202);
    const refused = await trigger('anon-once', { profile: { email: 'anon-once@example.com', anonymousId: 'anon-refused' } });
    assert.equal(refused.statusCode, 422);
    assert.deepEqual(json(refused).details, { reason: 'not_eligible', rule: 'already_entered' });
    assert.deepEqual(await links('anon-refused'), []);

    const paused = await insertJourney(t, org.id, { entry: { type: 'api' }, start: 'd', steps: { d: { type: 'exit' } } }, { key: 'anon-paused' });
    await setJourneyStatus(t, paused.id, 'Paused');
    const notActive = await trigger('anon-paused', { profile: { email: 'anon-once@example.com', anonymousId: 'anon-refused' } });
    assert.equal(notActive.statusCode, 409);
    assert.deepEqual(await links('anon-refused'), []);
  });

  test('events.track does not take profile.anonymousId (events.md §1): 400, nothing linked', async () => {
    const res = await track(t.app, org.key, { event: 'x', profile: { email: 'anon-track@example.com', anonymousId: 'anon-track' } });
    assert.equal(res.statusCode, 400);
    assert.equal(json(res).error, 'validation_failed');
    assert.deepEqual(await links('anon-track'), []);
  });
});
