/**
 * POST /api/v1/events end to end on a real database: the happy path of events.md §8, identity
 * rules, properties last-write-wins, redaction, idempotency outcomes and rollback.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp, type TestOrg } from '../harness/app.js';

forEachDialect('events.track', (dialect) => {
  let t: TestApp;
  let org: TestOrg;
  before(async () => {
    t = await createTestApp(dialect);
    org = await t.newOrg();
  });
  after(() => t.close());

  const getProfile = async (id: string, key = org.key) =>
    t.app.inject({ method: 'GET', url: `/api/v1/profiles/${id}`, headers: { 'x-api-key': key } });
  const countRows = async (table: 'user_events' | 'profiles' | 'idempotency_records' | 'profile_properties', organizationId: string) => {
    const row = await t.database.db.kysely
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organization_id', '=', organizationId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };

  test('happy path: profile created with canonical email, properties with lineage, event stored redacted', async () => {
    const res = await track(t.app, org.key, {
      event: 'order.created',
      profile: { email: '  Alex@Example.com ', externalId: 'cus_123', properties: { firstName: 'Alex', plan: 'Pro' } },
      data: { orderId: 'ord_9421', total: 49, payment: { token: 'tok_live_abc' } },
      redactedDataPaths: ['/event/payment/token'],
      referenceId: 'ord_9421',
      occurredAt: '2026-05-31T12:00:00.000Z',
    });
    assert.equal(res.statusCode, 202);
    const body = json(res);
    assert.deepEqual(Object.keys(body).sort(), ['enrolledJourneys', 'eventId', 'matchedJourneys', 'profileId', 'skippedJourneys']);
    assert.equal(body.matchedJourneys, 0);
    assert.match(String(body.eventId), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const profile = json(await getProfile(String(body.profileId)));
    assert.equal(profile.email, 'alex@example.com');
    assert.equal(profile.externalId, 'cus_123');
    assert.deepEqual(profile.sources, ['api']);
    const properties = profile.properties as Record<string, unknown>;
    assert.deepEqual(properties.firstName, { value: 'Alex', source: 'events.track', updatedAt: '2026-05-31T12:00:00.000Z', eventId: body.eventId });
    assert.equal(properties.orderId, undefined, 'event data is never copied into properties');
    assert.equal(properties.total, undefined);
    assert.deepEqual(profile.segments, []);
    assert.equal((profile.deliverySuppression as Record<string, unknown>).suppressed, false);

    const event = json(await t.app.inject({ method: 'GET', url: `/api/v1/events/${String(body.eventId)}`, headers: { 'x-api-key': org.key } }));
    assert.deepEqual(event.data, { orderId: 'ord_9421', total: 49, payment: {} });
    assert.deepEqual(event.redactedPaths, ['/event/payment/token']);
    assert.equal(event.referenceId, 'ord_9421');
    assert.equal(event.occurredAt, '2026-05-31T12:00:00.000Z');
    assert.equal(event.source, 'events.track');
    assert.equal(event.profileId, body.profileId);
  });

  test('externalId-only resolves an existing profile; unknown externalId is 422 and writes nothing', async () => {
    const o = await t.newOrg();
    const first = json(await track(t.app, o.key, { event: 'signup', profile: { email: 'p@example.com', externalId: 'cus_1' } }));
    const again = await track(t.app, o.key, { event: 'trial.started', profile: { externalId: 'cus_1' } });
    assert.equal(again.statusCode, 202);
    assert.equal(json(again).profileId, first.profileId);

    const missing = await track(t.app, o.key, { event: 'x', profile: { externalId: 'nobody' } });
    assert.equal(missing.statusCode, 422);
    assert.equal(json(missing).error, 'profile_not_found');
    assert.equal(await countRows('profiles', o.id), 1);
    assert.equal(await countRows('user_events', o.id), 2);
  });

  test('identity conflict: 409 with both profile ids, nothing written', async () => {
    const o = await t.newOrg();
    const p1 = json(await track(t.app, o.key, { event: 'a', profile: { email: 'one@example.com', externalId: 'cus_1' } })).profileId;
    const p2 = json(await track(t.app, o.key, { event: 'a', profile: { email: 'bo@example.com', externalId: 'cus_456' } })).profileId;
    const before = await countRows('user_events', o.id);
    const res = await track(t.app, o.key, { event: 'x', profile: { email: 'bo@example.com', externalId: 'cus_1', properties: { plan: 'X' } } });
    assert.equal(res.statusCode, 409);
    assert.deepEqual(json(res).error, 'identity_conflict');
    assert.deepEqual((json(res).details as Record<string, unknown>), { byExternalId: p1, byEmail: p2 });
    assert.equal(await countRows('user_events', o.id), before);
    assert.equal(await countRows('profile_properties', o.id), 0);

    // Email known with another externalId, new externalId given: conflict too.
    const res2 = await track(t.app, o.key, { event: 'x', profile: { email: 'bo@example.com', externalId: 'cus_new' } });
    assert.equal(res2.statusCode, 409);
    assert.deepEqual(json(res2).details, { byExternalId: null, byEmail: p2 });
    assert.equal(await countRows('profiles', o.id), 2);
  });

  test('email change through externalId, and attaching an externalId to an email-only profile', async () => {
    const o = await t.newOrg();
    const p = json(await track(t.app, o.key, { event: 'a', profile: { email: 'old@example.com', externalId: 'cus_9' } })).profileId;
    const changed = json(await track(t.app, o.key, { event: 'a', profile: { email: 'New@Example.com', externalId: 'cus_9' } }));
    assert.equal(changed.profileId, p);
    assert.equal(json(await getProfile(String(p), o.key)).email, 'new@example.com');
    // The old email no longer resolves: it creates a new profile.
    const fresh = json(await track(t.app, o.key, { event: 'a', profile: { email: 'old@example.com' } }));
    assert.notEqual(fresh.profileId, p);

    const attached = json(await track(t.app, o.key, { event: 'a', profile: { email: 'old@example.com', externalId: 'cus_10' } }));
    assert.equal(attached.profileId, fresh.profileId);
    assert.equal(json(await getProfile(String(fresh.profileId), o.key)).externalId, 'cus_10');
  });

  test('properties: last write wins by occurredAt, null is a value, phone mirrors a string property', async () => {
    const o = await t.newOrg();
    const p = String(
      json(await track(t.app, o.key, { event: 'a', profile: { email: 'lww@example.com', properties: { plan: 'Pro', phone: '+15550100', gone: 1 } }, occurredAt: '2026-05-31T12:00:00Z' })).profileId,
    );
    const older = await track(t.app, o.key, { event: 'b', profile: { email: 'lww@example.com', properties: { plan: 'Free' } }, occurredAt: '2026-05-30T12:00:00Z' });
    assert.equal(older.statusCode, 202, 'an older write is ignored, the event is still stored');
    let props = json(await getProfile(p, o.key)).properties as Record<string, { value: unknown; updatedAt: string }>;
    assert.equal(props.plan!.value, 'Pro');
    assert.equal(json(await getProfile(p, o.key)).phone, '+15550100');

    await track(t.app, o.key, { event: 'c', profile: { email: 'lww@example.com', properties: { plan: 'Team', gone: null, phone: 5 } }, occurredAt: '2026-05-31T12:00:00Z' });
    const profile = json(await getProfile(p, o.key));
    props = profile.properties as typeof props;
    assert.equal(props.plan!.value, 'Team', 'ties go to the later write');
    assert.deepEqual(props.gone!.value, null);
    assert.equal(profile.phone, null, 'phone mirrors only a string value');
    assert.equal(await countRows('user_events', o.id), 3);
  });

  test('replay returns the identical body with Idempotent-Replayed, and stores one event', async () => {
    const o = await t.newOrg();
    const key = idemKey();
    const body = { event: 'order.created', profile: { email: 'r@example.com' }, data: { n: 1 } };
    const first = await track(t.app, o.key, body, key);
    const second = await track(t.app, o.key, body, key);
    assert.equal(first.statusCode, 202);
    assert.equal(second.statusCode, 202);
    assert.equal(second.body, first.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    // Key order in the body does not matter (canonical JSON fingerprint).
    const reordered = await track(t.app, o.key, { data: { n: 1 }, profile: { email: 'r@example.com' }, event: 'order.created' }, key);
    assert.equal(reordered.body, first.body);
    // Quoted structured-field form names the same key.
    const quoted = await track(t.app, o.key, body, `"${key}"`);
    assert.equal(quoted.body, first.body);
    assert.equal(await countRows('user_events', o.id), 1);
  });

  test('same key with another body → 409 idempotency_key_reuse; keys are scoped per organization', async () => {
    const o = await t.newOrg();
    const other = await t.newOrg();
    const key = idemKey();
    await track(t.app, o.key, { event: 'order.created', profile: { email: 'k@example.com' } }, key);
    const reuse = await track(t.app, o.key, { event: 'order.updated', profile: { email: 'k@example.com' } }, key);
    assert.equal(reuse.statusCode, 409);
    assert.equal(json(reuse).error, 'idempotency_key_reuse');
    const elsewhere = await track(t.app, other.key, { event: 'order.updated', profile: { email: 'k@example.com' } }, key);
    assert.equal(elsewhere.statusCode, 202);
    assert.equal(elsewhere.headers['idempotent-replayed'], undefined);
    assert.equal(await countRows('user_events', other.id), 1);
  });

  test('50 concurrent identical requests store exactly one event', async () => {
    const o = await t.newOrg();
    const key = idemKey();
    const body = { event: 'order.created', profile: { email: 'race@example.com' }, data: { orderId: 'o-race' } };
    const responses = await Promise.all(Array.from({ length: 50 }, () => track(t.app, o.key, body, key)));
    const statuses = responses.map((r) => r.statusCode);
    assert.ok(statuses.includes(202));
    for (const r of responses) {
      if (r.statusCode === 409) {
        assert.equal(json(r).error, 'idempotency_in_progress');
        assert.equal(r.headers['retry-after'], '1');
      } else assert.equal(r.statusCode, 202);
    }
    const accepted = responses.filter((r) => r.statusCode === 202).map((r) => r.body);
    assert.equal(new Set(accepted).size, 1, 'every 202 carries the same eventId');
    assert.equal(await countRows('user_events', o.id), 1);
    assert.equal(await countRows('profiles', o.id), 1);
    const retried = await track(t.app, o.key, body, key);
    assert.equal(retried.headers['idempotent-replayed'], 'true');
  });

  test('concurrent first events for one new email end with one profile', async () => {
    const o = await t.newOrg();
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => track(t.app, o.key, { event: 'e', profile: { email: 'same@example.com' }, data: { i } })));
    assert.ok(responses.every((r) => r.statusCode === 202));
    assert.equal(new Set(responses.map((r) => json(r).profileId)).size, 1);
    assert.equal(await countRows('profiles', o.id), 1);
    assert.equal(await countRows('user_events', o.id), 20);
  });

  test('Idempotency-Key missing, empty, too long, non-printable or repeated → 400, nothing stored', async () => {
    const o = await t.newOrg();
    const body = JSON.stringify({ event: 'a', profile: { email: 'i@example.com' } });
    const send = (headers: Record<string, string | string[]>) =>
      t.app.inject({ method: 'POST', url: '/api/v1/events', headers: { 'x-api-key': o.key, 'content-type': 'application/json', ...headers }, payload: body });
    const missing = await send({});
    assert.equal(missing.statusCode, 400);
    assert.equal(json(missing).error, 'idempotency_key_required');
    for (const value of ['', 'x'.repeat(256), 'caf\u00e9', '""']) {
      const res = await send({ 'idempotency-key': value });
      assert.equal(res.statusCode, 400, `key ${JSON.stringify(value)}`);
      assert.equal(json(res).error, 'idempotency_key_invalid');
    }
    const twice = await send({ 'idempotency-key': ['a', 'b'] });
    assert.equal(json(twice).error, 'idempotency_key_invalid');
    assert.equal(await countRows('user_events', o.id), 0);
    assert.equal(await countRows('idempotency_records', o.id), 0);
    assert.equal((await send({ 'idempotency-key': 'x'.repeat(255) })).statusCode, 202);
  });

  test('a validation failure is a stored outcome: the same key replays it', async () => {
    const o = await t.newOrg();
    const key = idemKey();
    const first = await track(t.app, o.key, { event: '', profile: { email: 'v@example.com' } }, key);
    assert.equal(first.statusCode, 400);
    const again = await track(t.app, o.key, { event: '', profile: { email: 'v@example.com' } }, key);
    assert.equal(again.body, first.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
  });

  test('a failure inside the transaction rolls back profile, event and idempotency record; a retry executes', async () => {
    let fail = true;
    const local = await createTestApp(dialect, {
      journeys: {
        evaluateEvent: async () => {
          if (fail) throw new Error('journey evaluation exploded');
          return { matchedJourneys: 0, enrolledJourneys: 0, skippedJourneys: 0 };
        },
        // Always in play, so every event is evaluated (the group path skips evaluation otherwise).
        mayTouch: async () => true,
      },
    });
    try {
      const o = await local.newOrg();
      const key = idemKey();
      const body = { event: 'boom', profile: { email: 'rollback@example.com', properties: { plan: 'Pro' } } };
      const res = await track(local.app, o.key, body, key);
      assert.equal(res.statusCode, 500);
      assert.equal(json(res).error, 'internal_error');
      const count = async (table: 'user_events' | 'profiles' | 'idempotency_records' | 'profile_properties') =>
        Number(
          (await local.database.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('organization_id', '=', o.id).executeTakeFirstOrThrow()).n,
        );
      assert.equal(await count('profiles'), 0);
      assert.equal(await count('profile_properties'), 0);
      assert.equal(await count('user_events'), 0);
      assert.equal(await count('idempotency_records'), 0);
      const identities = await local.database.db.kysely.selectFrom('profile_identities').selectAll().where('organization_id', '=', o.id).execute();
      assert.equal(identities.length, 0);
      fail = false;
      const retry = await track(local.app, o.key, body, key);
      assert.equal(retry.statusCode, 202);
      assert.equal(retry.headers['idempotent-replayed'], undefined);
    } finally {
      await local.close();
    }
  });

  test('a failing request does not fail its neighbours in the same group commit', async () => {
    const local = await createTestApp(dialect, {
      journeys: {
        evaluateEvent: async (_trx, e) => {
          if (e.event === 'poison') throw new Error('poison');
          return { matchedJourneys: 0, enrolledJourneys: 0, skippedJourneys: 0 };
        },
        mayTouch: async () => true,
      },
    });
    try {
      const o = await local.newOrg();
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, i) => track(local.app, o.key, { event: i === 7 ? 'poison' : 'ok', profile: { email: `n${i}@example.com` } })),
      );
      assert.deepEqual(
        responses.map((r) => r.statusCode),
        Array.from({ length: 30 }, (_, i) => (i === 7 ? 500 : 202)),
      );
      const events = await local.database.db.kysely.selectFrom('user_events').select('event').where('organization_id', '=', o.id).execute();
      assert.equal(events.length, 29);
      assert.ok(events.every((e) => e.event === 'ok'));
    } finally {
      await local.close();
    }
  });
});
