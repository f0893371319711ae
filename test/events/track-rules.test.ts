/**
 * events.md rules of POST /api/v1/events that the other suites leave out: the idempotency
 * fingerprint ignores redacted values (§5, conventions.md §8.3), externalId is opaque and event
 * names are case-sensitive (§1), a missing occurredAt is the receipt time and takes part in
 * last-write-wins (§1, §4), the "X and E name the same Profile" row of §3, the control-character
 * and shape rules of §1 with their pointers, and the exact accepted limits of §1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../harness/database.js';
import { createTestApp, idemKey, json, track, type TestApp } from '../harness/app.js';
import { requestFingerprint } from '../../src/http/idempotency.js';
import { insertJourney } from '../journeys/runs/support.js';

type Body = Record<string, unknown>;
type Counted = 'user_events' | 'profiles' | 'profile_identities' | 'idempotency_records';
type FieldError = { in: string; pointer: string; message: string };

const MINUTE = 60_000;

forEachDialect('events.track rules', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp(dialect); // fake clock: 2026-05-31T12:00:00Z; each test makes its own organization
  });
  after(() => t.close());

  const count = async (table: Counted, organizationId: string) =>
    Number(
      (await t.database.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('organization_id', '=', organizationId).executeTakeFirstOrThrow()).n,
    );
  const get = async (key: string, url: string) => {
    const res = await t.app.inject({ method: 'GET', url, headers: { 'x-api-key': key } });
    assert.equal(res.statusCode, 200, res.body);
    return json(res);
  };
  const accepted = async (key: string, body: Body) => {
    const res = await track(t.app, key, body);
    assert.equal(res.statusCode, 202, res.body.slice(0, 300));
    return json(res) as { eventId: string; profileId: string; matchedJourneys: number; enrolledJourneys: number; skippedJourneys: number };
  };
  const errorsOf = (body: string): FieldError[] => (JSON.parse(body) as { details: { errors: FieldError[] } }).details.errors;
  const assertInvalid = async (key: string, body: unknown, pointer: string, label: string) => {
    const res = await track(t.app, key, body);
    assert.equal(res.statusCode, 400, `${label}: ${res.body.slice(0, 300)}`);
    assert.equal(json(res).error, 'validation_failed', label);
    const pointers = errorsOf(res.body).map((e) => e.pointer);
    assert.ok(
      errorsOf(res.body).some((e) => e.in === 'body' && e.pointer === pointer),
      `${label}: expected pointer ${pointer}, got ${JSON.stringify(pointers)}`,
    );
  };

  // ── 1. Fingerprint without the redacted values ──────────────────────────────────────────

  test('same key and body with another secret at a redacted path → replay (not 409); the stored record never saw the secret', async () => {
    const o = await t.newOrg();
    const key = idemKey();
    const withSecrets = (token: string, card: string): Body => ({
      event: 'order.created',
      profile: { email: 'fp@example.com' },
      data: { orderId: 'ord_1', payment: { token, last4: '4242' }, cards: [card, 'visible'] },
      redactedDataPaths: ['/event/payment/token', '/event/cards/0'],
    });
    const first = await track(t.app, o.key, withSecrets('tok_FIRST_secret', 'card_FIRST_secret'), key);
    assert.equal(first.statusCode, 202, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);

    // Another secret at both redacted paths, even of another type: the same request once redacted.
    const second = await track(t.app, o.key, withSecrets('tok_SECOND_secret', 'card_SECOND_secret'), key);
    assert.equal(second.statusCode, 202, second.body);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(second.body, first.body);
    const third = await track(t.app, o.key, { ...withSecrets('x', 'y'), data: { orderId: 'ord_1', payment: { token: { nested: 1 }, last4: '4242' }, cards: [[1], 'visible'] } }, key);
    assert.equal(third.headers['idempotent-replayed'], 'true', third.body);
    assert.equal(third.body, first.body);
    assert.equal(await count('user_events', o.id), 1);

    // A value that is not redacted is still part of the fingerprint.
    const other = await track(t.app, o.key, { ...withSecrets('tok_FIRST_secret', 'card_FIRST_secret'), data: { orderId: 'ord_2', payment: { token: 'tok_FIRST_secret', last4: '4242' }, cards: ['card_FIRST_secret', 'visible'] } }, key);
    assert.equal(other.statusCode, 409, other.body);
    assert.equal(json(other).error, 'idempotency_key_reuse');

    // The stored fingerprint is the hash of the redacted body: the secret was not even hashed.
    const record = await t.database.db.kysely.selectFrom('idempotency_records').selectAll().where('organization_id', '=', o.id).where('key', '=', key).executeTakeFirstOrThrow();
    const redacted = { ...withSecrets('', ''), data: { orderId: 'ord_1', payment: { last4: '4242' }, cards: [null, 'visible'] } };
    assert.equal(record.fingerprint, requestFingerprint('POST', '/api/v1/events', redacted));
    assert.notEqual(record.fingerprint, requestFingerprint('POST', '/api/v1/events', withSecrets('tok_FIRST_secret', 'card_FIRST_secret')));
    const stored = JSON.stringify(record);
    for (const secret of ['tok_FIRST_secret', 'card_FIRST_secret', 'tok_SECOND_secret', 'card_SECOND_secret']) {
      assert.ok(!stored.includes(secret), `${secret} is in the idempotency record`);
    }
  });

  // ── 2. externalId is opaque ─────────────────────────────────────────────────────────────

  test("externalId is opaque: ' cus_1', 'cus_1 ' and 'CUS_1' do not find the Profile of 'cus_1'", async () => {
    const o = await t.newOrg();
    const p1 = (await accepted(o.key, { event: 'signup', profile: { email: 'opaque@example.com', externalId: 'cus_1' } })).profileId;
    for (const externalId of [' cus_1', 'cus_1 ', 'CUS_1', 'Cus_1']) {
      const res = await track(t.app, o.key, { event: 'x', profile: { externalId, properties: { plan: 'Pro' } } });
      assert.equal(res.statusCode, 422, `${JSON.stringify(externalId)}: ${res.body}`);
      assert.equal(json(res).error, 'profile_not_found');
    }
    assert.equal(await count('profiles', o.id), 1);
    assert.equal(await count('user_events', o.id), 1);
    assert.equal((await accepted(o.key, { event: 'x', profile: { externalId: 'cus_1' } })).profileId, p1);

    // With an email, ' cus_1' is a new identity of its own, stored as given (not trimmed).
    const p2 = (await accepted(o.key, { event: 'signup', profile: { email: 'spaced@example.com', externalId: ' cus_1' } })).profileId;
    assert.notEqual(p2, p1);
    assert.equal((await get(o.key, `/api/v1/profiles/${p2}`)).externalId, ' cus_1');
    assert.equal((await accepted(o.key, { event: 'x', profile: { externalId: ' cus_1' } })).profileId, p2);
    assert.equal((await accepted(o.key, { event: 'x', profile: { externalId: 'cus_1' } })).profileId, p1);
  });

  // ── 3. Event names are case-sensitive ───────────────────────────────────────────────────

  test('event names are case-sensitive: a journey on Order.Created is not matched by order.created; the name is stored verbatim', async () => {
    const o = await t.newOrg();
    await insertJourney(t, o.id, { entry: { type: 'event', event: 'Order.Created' }, start: 'done', steps: { done: { type: 'exit' } } });
    const lower = await accepted(o.key, { event: 'order.created', profile: { email: 'case@example.com' } });
    assert.deepEqual([lower.matchedJourneys, lower.enrolledJourneys], [0, 0]);
    const upper = await accepted(o.key, { event: 'ORDER.CREATED', profile: { email: 'case@example.com' } });
    assert.equal(upper.matchedJourneys, 0);
    const exact = await accepted(o.key, { event: 'Order.Created', profile: { email: 'case@example.com' } });
    assert.deepEqual([exact.matchedJourneys, exact.enrolledJourneys], [1, 1]);

    assert.equal((await get(o.key, `/api/v1/events/${exact.eventId}`)).event, 'Order.Created');
    assert.equal((await get(o.key, `/api/v1/events/${upper.eventId}`)).event, 'ORDER.CREATED');
    const listed = (await get(o.key, '/api/v1/events?event=Order.Created')).data as { id: string }[];
    assert.deepEqual(listed.map((e) => e.id), [exact.eventId]);
    const listedLower = (await get(o.key, '/api/v1/events?event=order.created')).data as { id: string }[];
    assert.deepEqual(listedLower.map((e) => e.id), [lower.eventId]);
  });

  // ── 4. occurredAt defaults to the receipt time ──────────────────────────────────────────

  test('a missing occurredAt is the receipt time (FakeClock), and that time drives last-write-wins of properties', async () => {
    const o = await t.newOrg();
    const start = t.clock.now();
    const T = Date.parse('2026-05-31T12:00:00.000Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    const plan = async (profileId: string) => {
      const props = (await get(o.key, `/api/v1/profiles/${profileId}`)).properties as Record<string, { value: unknown; updatedAt: string; eventId: string }>;
      return props.plan!;
    };
    try {
      t.clock.set(T);
      const first = await accepted(o.key, { event: 'a', profile: { email: 'recv@example.com', properties: { plan: 'A' } } });
      const event = await get(o.key, `/api/v1/events/${first.eventId}`);
      assert.equal(event.occurredAt, iso(T));
      assert.equal(event.receivedAt, iso(T));
      assert.deepEqual(await plan(first.profileId), { value: 'A', source: 'events.track', updatedAt: iso(T), eventId: first.eventId });

      // Explicit and one minute older than the receipt time of A: ignored.
      const older = await accepted(o.key, { event: 'b', profile: { email: 'recv@example.com', properties: { plan: 'B' } }, occurredAt: iso(T - MINUTE) });
      assert.equal((await plan(first.profileId)).value, 'A');
      assert.equal((await get(o.key, `/api/v1/events/${older.eventId}`)).occurredAt, iso(T - MINUTE), 'the event is still stored, with its own time');

      // Explicit, 30 minutes ahead of the clock (allowed): wins.
      const ahead = await accepted(o.key, { event: 'c', profile: { email: 'recv@example.com', properties: { plan: 'C' } }, occurredAt: iso(T + 30 * MINUTE) });
      assert.deepEqual(await plan(first.profileId), { value: 'C', source: 'events.track', updatedAt: iso(T + 30 * MINUTE), eventId: ahead.eventId });

      // Received 10 minutes later without occurredAt: its time (T+10) is older than C's (T+30).
      t.clock.set(T + 10 * MINUTE);
      const early = await accepted(o.key, { event: 'd', profile: { email: 'recv@example.com', properties: { plan: 'D' } } });
      assert.equal((await get(o.key, `/api/v1/events/${early.eventId}`)).occurredAt, iso(T + 10 * MINUTE));
      assert.equal((await plan(first.profileId)).value, 'C');

      // Received after C's time without occurredAt: wins, stamped with the receipt time.
      t.clock.set(T + 45 * MINUTE);
      const late = await accepted(o.key, { event: 'e', profile: { email: 'recv@example.com', properties: { plan: 'E' } } });
      assert.deepEqual(await plan(first.profileId), { value: 'E', source: 'events.track', updatedAt: iso(T + 45 * MINUTE), eventId: late.eventId });
      assert.equal(await count('user_events', o.id), 5);
    } finally {
      t.clock.set(start);
    }
  });

  // ── 5. email and externalId naming the same Profile ─────────────────────────────────────

  test('email and externalId naming the same Profile → that Profile, no conflict, identities unchanged', async () => {
    const o = await t.newOrg();
    const p = (await accepted(o.key, { event: 'a', profile: { email: 'same@example.com', externalId: 'cus_same' } })).profileId;
    const identitiesBefore = await count('profile_identities', o.id);
    for (const email of ['same@example.com', '  Same@Example.COM ']) {
      const again = await accepted(o.key, { event: 'b', profile: { email, externalId: 'cus_same', properties: { plan: 'Pro' } } });
      assert.equal(again.profileId, p);
    }
    assert.equal(await count('profiles', o.id), 1);
    assert.equal(await count('profile_identities', o.id), identitiesBefore);
    const profile = await get(o.key, `/api/v1/profiles/${p}`);
    assert.equal(profile.email, 'same@example.com');
    assert.equal(profile.externalId, 'cus_same');
    assert.equal((profile.properties as Record<string, { value: unknown }>).plan!.value, 'Pro');
    // Both identities still resolve on their own.
    assert.equal((await accepted(o.key, { event: 'c', profile: { externalId: 'cus_same' } })).profileId, p);
    assert.equal((await accepted(o.key, { event: 'c', profile: { email: 'same@example.com' } })).profileId, p);
  });

  // ── 6. Shape and control-character rules with their pointers ────────────────────────────

  test('control characters (U+007F, U+0001, U+001F) in event and externalId → 400 with the pointer; nothing stored', async () => {
    const o = await t.newOrg();
    for (const c of ['\u007f', '\u0001', '\u001f']) {
      const label = `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
      await assertInvalid(o.key, { event: `order${c}created`, profile: { email: 'cc@example.com' } }, '/event', `event with ${label}`);
      await assertInvalid(o.key, { event: c, profile: { email: 'cc@example.com' } }, '/event', `event of only ${label}`);
      await assertInvalid(o.key, { event: 'e', profile: { email: 'cc@example.com', externalId: `cus${c}1` } }, '/profile/externalId', `externalId with ${label}`);
      await assertInvalid(o.key, { event: 'e', profile: { externalId: `${c}cus` } }, '/profile/externalId', `externalId-only with ${label}`);
    }
    assert.equal(await count('user_events', o.id), 0);
    assert.equal(await count('profiles', o.id), 0);
    // The neighbours of the forbidden ranges are fine.
    await accepted(o.key, { event: 'space and tilde ~ \u0080', profile: { email: 'cc@example.com', externalId: ' ~\u00a0' } });
  });

  test('a profile that is not an object → 400 pointer /profile', async () => {
    const o = await t.newOrg();
    for (const profile of ['cc@example.com', null, 5, true, [], [{ email: 'cc@example.com' }]]) {
      await assertInvalid(o.key, { event: 'e', profile }, '/profile', `profile ${JSON.stringify(profile)}`);
    }
    assert.equal(await count('user_events', o.id), 0);
  });

  test('redactedDataPaths not an array, with non-string entries, or outside /event/ → 400 with pointers', async () => {
    const o = await t.newOrg();
    const base = { event: 'e', profile: { email: 'rp@example.com' }, data: { a: { b: 1 } } };
    for (const redactedDataPaths of ['/event/a', null, { 0: '/event/a' }, 5]) {
      await assertInvalid(o.key, { ...base, redactedDataPaths }, '/redactedDataPaths', `redactedDataPaths ${JSON.stringify(redactedDataPaths)}`);
    }
    for (const [paths, pointer] of [
      [[5], '/redactedDataPaths/0'],
      [['/event/a', null], '/redactedDataPaths/1'],
      [['/event/a', ['/event/a/b']], '/redactedDataPaths/1'],
      [['/event/a', { path: '/event/a' }], '/redactedDataPaths/1'],
      [['/event'], '/redactedDataPaths/0'],
      [[''], '/redactedDataPaths/0'],
      [['event/a'], '/redactedDataPaths/0'],
      [['/events/a'], '/redactedDataPaths/0'],
      [['/Event/a'], '/redactedDataPaths/0'],
      [['/profile/email'], '/redactedDataPaths/0'],
      [['/event/a', '/data/a'], '/redactedDataPaths/1'],
      [['/event/a~'], '/redactedDataPaths/0'],
    ] as [unknown[], string][]) {
      await assertInvalid(o.key, { ...base, redactedDataPaths: paths }, pointer, `redactedDataPaths ${JSON.stringify(paths)}`);
    }
    // Several bad entries: each reported with its own index.
    const res = await track(t.app, o.key, { ...base, redactedDataPaths: [1, '/event/ok', '/data/x', null] });
    assert.equal(res.statusCode, 400);
    const pointers = errorsOf(res.body).map((e) => e.pointer);
    for (const p of ['/redactedDataPaths/0', '/redactedDataPaths/2', '/redactedDataPaths/3']) assert.ok(pointers.includes(p), `${p} in ${JSON.stringify(pointers)}`);
    assert.ok(!pointers.includes('/redactedDataPaths/1'), JSON.stringify(pointers));
    assert.equal(await count('user_events', o.id), 0);
  });

  // ── 7. Accepted boundaries (events.md §1 exact limits) ──────────────────────────────────

  test('event of exactly 255 characters → 202, stored whole; 256 → 400', async () => {
    const o = await t.newOrg();
    const name = 'E'.repeat(250) + '.done';
    assert.equal(name.length, 255);
    const ok = await accepted(o.key, { event: name, profile: { email: 'b@example.com' } });
    assert.equal((await get(o.key, `/api/v1/events/${ok.eventId}`)).event, name);
    await assertInvalid(o.key, { event: name + 'x', profile: { email: 'b@example.com' } }, '/event', 'event of 256');
  });

  test('a property value of exactly 32 KiB of JSON → 202, stored; one byte more → 400', async () => {
    const o = await t.newOrg();
    const exact = 'x'.repeat(32 * 1024 - 2); // JSON adds the two quotes
    assert.equal(Buffer.byteLength(JSON.stringify(exact)), 32 * 1024);
    const ok = await accepted(o.key, { event: 'e', profile: { email: 'b@example.com', properties: { big: exact, list: [exact.slice(4)] } } });
    const props = (await get(o.key, `/api/v1/profiles/${ok.profileId}`)).properties as Record<string, { value: unknown }>;
    assert.equal(props.big!.value, exact);
    await assertInvalid(o.key, { event: 'e', profile: { email: 'b@example.com', properties: { big: exact + 'x' } } }, '/profile/properties/big', 'property of 32 KiB + 1');
    // Bytes, not characters: 16 Ki two-byte characters are 32 KiB + 2 of JSON.
    await assertInvalid(o.key, { event: 'e', profile: { email: 'b@example.com', properties: { wide: '\u00e9'.repeat(16 * 1024) } } }, '/profile/properties/wide', 'two-byte property');
  });

  test('data of exactly 256 KiB serialised → 202; one byte more → 400 pointer /data', async () => {
    const o = await t.newOrg();
    const LIMIT = 256 * 1024;
    const sized = (bytes: number) => ({ blob: 'x'.repeat(bytes - '{"blob":""}'.length) });
    assert.equal(Buffer.byteLength(JSON.stringify(sized(LIMIT))), LIMIT);
    const ok = await accepted(o.key, { event: 'e', profile: { email: 'b@example.com' }, data: sized(LIMIT) });
    assert.deepEqual((await get(o.key, `/api/v1/events/${ok.eventId}`)).data, sized(LIMIT));
    await accepted(o.key, { event: 'e', profile: { email: 'b@example.com' }, data: sized(LIMIT - 1) });
    await assertInvalid(o.key, { event: 'e', profile: { email: 'b@example.com' }, data: sized(LIMIT + 1) }, '/data', 'data of 256 KiB + 1');
    assert.equal(await count('user_events', o.id), 2);
  });

  test('a redacted path of exactly 1024 characters and 100 paths → 202; 1025 characters or 101 paths → 400', async () => {
    const o = await t.newOrg();
    const segment = 'k'.repeat(1024 - '/event/'.length);
    const path = `/event/${segment}`;
    assert.equal(path.length, 1024);
    const ok = await accepted(o.key, { event: 'e', profile: { email: 'b@example.com' }, data: { [segment]: 'secret-1024', kept: 1 }, redactedDataPaths: [path] });
    const event = await get(o.key, `/api/v1/events/${ok.eventId}`);
    assert.deepEqual(event.data, { kept: 1 });
    assert.deepEqual(event.redactedPaths, [path]);
    await assertInvalid(o.key, { event: 'e', profile: { email: 'b@example.com' }, redactedDataPaths: [path + 'k'] }, '/redactedDataPaths/0', 'path of 1025');

    const hundred = Array.from({ length: 100 }, (_, i) => `/event/k${i}`);
    const many = await accepted(o.key, { event: 'e', profile: { email: 'b@example.com' }, data: { k0: 's', k99: 's', k100: 'kept' }, redactedDataPaths: hundred });
    assert.deepEqual((await get(o.key, `/api/v1/events/${many.eventId}`)).data, { k100: 'kept' });
    await assertInvalid(o.key, { event: 'e', profile: { email: 'b@example.com' }, redactedDataPaths: [...hundred, '/event/k100'] }, '/redactedDataPaths', '101 paths');
  });

  test('property key, referenceId and externalId of exactly 255 characters → 202', async () => {
    const o = await t.newOrg();
    const k = 'k'.repeat(255);
    const ok = await accepted(o.key, { event: 'e', profile: { email: 'b@example.com', externalId: 'X'.repeat(255), properties: { [k]: 1 } }, referenceId: 'R'.repeat(255) });
    const profile = await get(o.key, `/api/v1/profiles/${ok.profileId}`);
    assert.equal(profile.externalId, 'X'.repeat(255));
    assert.equal((profile.properties as Record<string, { value: unknown }>)[k]!.value, 1);
    assert.equal((await get(o.key, `/api/v1/events/${ok.eventId}`)).referenceId, 'R'.repeat(255));
  });
});
