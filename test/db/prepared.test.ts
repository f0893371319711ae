/**
 * Prepared queries (src/db/prepared.ts) against real SQLite and PostgreSQL: built once per
 * dialect, run with each call's values, constants kept, shapes keyed by their columns, misuse
 * refused, and the same transaction semantics as any other query; on PostgreSQL, named
 * statements prepared once per connection, and what happens when one cannot be used.
 */
import { createHash } from 'node:crypto';
import { test, beforeEach, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { GroupCommitter } from '../../src/db/group-commit.js';
import { isNamedStatementLost } from '../../src/db/pg-named.js';
import type { Database } from '../../src/db/tables.js';
import { PreparedQuery, preparedInsert, preparedUpdate } from '../../src/db/prepared.js';
import { createTestDatabase, forEachDialect, testDialects, type TestDatabase } from '../harness/database.js';

const insertJob = preparedInsert('jobs');
const updateJob = preparedUpdate('jobs', 'id');

function job(id: string, overrides: Partial<Database['jobs']> = {}): Database['jobs'] {
  return {
    id,
    type: 'test.kind',
    organization_id: null,
    payload: '{}',
    status: 'queued',
    run_at: 1000,
    attempts: 0,
    max_attempts: 5,
    locked_by: null,
    lease_expires_at: null,
    last_error: null,
    unique_key: null,
    created_at: 1,
    updated_at: 1,
    ...overrides,
  };
}

forEachDialect('prepared queries', (dialect) => {
  let t: TestDatabase;
  let db: Kysely<Database>;
  beforeEach(async () => {
    t = await createTestDatabase(dialect);
    db = t.db.kysely;
  });
  afterEach(() => t.destroy());

  test('builds once, then runs with each call’s values; constants of the query stay', async () => {
    let builds = 0;
    const due = new PreparedQuery((q, p: { runAt: number; limit: number }) => {
      builds++;
      return q.selectFrom('jobs').select(['id', 'run_at']).where('status', '=', 'queued').where('run_at', '<=', p.runAt).orderBy('run_at').limit(p.limit);
    });
    await insertJob(db, job('a', { run_at: 10 }));
    await insertJob(db, job('b', { run_at: 20 }));
    await insertJob(db, job('c', { run_at: 30, status: 'completed' }));

    assert.deepEqual(await due.all(db, { runAt: 15, limit: 10 }), [{ id: 'a', run_at: 10 }]);
    assert.deepEqual(await due.all(db, { runAt: 100, limit: 10 }), [{ id: 'a', run_at: 10 }, { id: 'b', run_at: 20 }]);
    assert.deepEqual(await due.all(db, { runAt: 100, limit: 1 }), [{ id: 'a', run_at: 10 }]);
    assert.deepEqual(await due.first(db, { runAt: 5, limit: 10 }), undefined);
    assert.equal(builds, 1);
  });

  test('a parameter used twice gets its value in both places', async () => {
    const same = new PreparedQuery((q, p: { id: string }) => q.selectFrom('jobs').select('id').where('id', '=', p.id).where('unique_key', '=', p.id));
    await insertJob(db, job('k1', { unique_key: 'k1' }));
    await insertJob(db, job('k2', { unique_key: 'other' }));
    assert.deepEqual(await same.all(db, { id: 'k1' }), [{ id: 'k1' }]);
    assert.deepEqual(await same.all(db, { id: 'k2' }), []);
  });

  test('inserts write exactly the defined columns; updates change only the given ones and count rows', async () => {
    await insertJob(db, job('a', { last_error: 'earlier failure' }));
    await insertJob(db, { ...job('b'), last_error: undefined });
    const rows = await db.selectFrom('jobs').select(['id', 'last_error', 'status']).orderBy('id').execute();
    assert.deepEqual(rows, [
      { id: 'a', last_error: 'earlier failure', status: 'queued' },
      { id: 'b', last_error: null, status: 'queued' },
    ]);

    // `undefined` leaves a column alone: a NULL written instead would erase a's last_error.
    assert.equal(await updateJob(db, 'a', { status: 'running', locked_by: 'w1', last_error: undefined }), 1n);
    assert.equal(await updateJob(db, 'b', { last_error: 'boom' }), 1n);
    assert.equal(await updateJob(db, 'missing', { last_error: 'boom' }), 0n);
    assert.equal(await updateJob(db, 'a', {}), 0n);
    const after = await db.selectFrom('jobs').select(['id', 'status', 'locked_by', 'last_error']).orderBy('id').execute();
    assert.deepEqual(after, [
      { id: 'a', status: 'running', locked_by: 'w1', last_error: 'earlier failure' },
      { id: 'b', status: 'queued', locked_by: null, last_error: 'boom' },
    ]);
  });

  test('runs inside the caller’s transaction: a rollback undoes it', async () => {
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await insertJob(trx, job('rolled-back'));
        assert.equal((await trx.selectFrom('jobs').select('id').execute()).length, 1);
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.deepEqual(await db.selectFrom('jobs').select('id').execute(), []);
  });

  test('refuses to compute or branch on a placeholder, and calls with arrays or undefined', async () => {
    const computed = new PreparedQuery((q, p: { at: number }) => q.selectFrom('jobs').select('id').where('run_at', '<=', (p.at as number) + 1000));
    await assert.rejects(computed.all(db, { at: 1 }), (error: unknown) => error instanceof TypeError && /parameter at was used in a computation/.test(error.message));

    const branched = new PreparedQuery((q, p: { id: string; onlyQueued: boolean }) =>
      q.selectFrom('jobs').select('id').where('id', '=', p.id).$if(p.onlyQueued, (b) => b.where('status', '=', 'queued')));
    await assert.rejects(branched.all(db, { id: 'a', onlyQueued: false }), /parameter onlyQueued was read while building but is not a value of the query/);

    const byId = new PreparedQuery((q, p: { id: string | string[] | undefined }) => q.selectFrom('jobs').select('id').where('id', '=', p.id as string));
    await assert.rejects(byId.all(db, { id: ['a', 'b'] }), /parameter id must be a single value, not an array/);
    await assert.rejects(byId.all(db, { id: undefined }), /parameter id must be a single value, not undefined/);
    assert.deepEqual(await byId.all(db, { id: 'nothing' }), []);
  });
});

// Named statements (src/db/pg-named.ts) exist on PostgreSQL only.
if (testDialects().includes('postgres')) {
  describe('prepared queries run as named statements [postgres]', () => {
    let t: TestDatabase;
    let db: Kysely<Database>;
    beforeEach(async () => {
      t = await createTestDatabase('postgres');
      db = t.db.kysely;
    });
    afterEach(() => t.destroy());

    const byId = new PreparedQuery((q, p: { id: string }) => q.selectFrom('jobs').selectAll().where('id', '=', p.id));
    const byType = new PreparedQuery((q, p: { type: string }) => q.selectFrom('jobs').selectAll().where('type', '=', p.type));
    /** The names of the statements prepared on this connection (only byId's, with `onlyById`). */
    const preparedHere = async (conn: Kysely<Database>, onlyById = false) =>
      (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements order by name`.execute(conn)).rows
        .filter((r) => !onlyById || r.statement === 'select * from "jobs" where "id" = $1')
        .map((r) => r.name);
    /** Two connections of the pool at once. */
    const withTwo = (fn: (a: Kysely<Database>, b: Kysely<Database>) => Promise<void>) =>
      db.connection().execute((a) => db.connection().execute((b) => fn(a, b)));

    test('a prepared query is parsed once per connection, under a name derived from its text', async () => {
      await insertJob(db, job('a'));
      const names = await db.connection().execute(async (conn) => {
        assert.equal((await byId.first(conn, { id: 'a' }))?.id, 'a');
        assert.equal(await byId.first(conn, { id: 'b' }), undefined);
        return preparedHere(conn, true);
      });
      // The name is the text's hash (and a generation, see below), the same in every process:
      // behind a pooler that shares server sessions, a name can only ever mean one text.
      const hash = createHash('sha256').update('select * from "jobs" where "id" = $1').digest('hex').slice(0, 32);
      assert.deepEqual(names, [`sf_0_${hash}`]);
    });

    test('a statement the server lost (DISCARD ALL, a pooler) fails once, then no connection of the pool names anything', async () => {
      await insertJob(db, job('a'));
      await withTwo(async (a, b) => {
        assert.equal((await byId.first(a, { id: 'a' }))?.id, 'a');
        await sql`deallocate all`.execute(a);
        await assert.rejects(byId.first(a, { id: 'a' }), (error: unknown) => (error as { code?: string }).code === '26000' && isNamedStatementLost(error));
        assert.equal((await byId.first(a, { id: 'a' }))?.id, 'a');
        const onB = await preparedHere(b);
        assert.equal((await byType.first(b, { type: 'test.kind' }))?.id, 'a');
        assert.deepEqual(await preparedHere(a), []);
        assert.deepEqual(await preparedHere(b), onB);
      });
    });

    test('a name the server session already holds (a pooler sharing sessions) fails once, then no connection of the pool names anything', async () => {
      await insertJob(db, job('a'));
      const name = await db.connection().execute(async (conn) => {
        await byId.first(conn, { id: 'a' });
        return (await preparedHere(conn, true))[0]!;
      });
      await withTwo(async (first, second) => {
        // At most one of the two prepared it; on the other, "another client" took the name.
        const conn = (await preparedHere(first, true)).length === 0 ? first : second;
        const before = await preparedHere(conn);
        await sql.raw(`prepare ${name} as select 1`).execute(conn);
        await assert.rejects(byId.first(conn, { id: 'a' }), (error: unknown) => (error as { code?: string }).code === '42P05' && isNamedStatementLost(error));
        assert.equal((await byId.first(conn, { id: 'a' }))?.id, 'a');
        assert.equal((await byType.first(conn, { type: 'test.kind' }))?.id, 'a');
        assert.deepEqual((await preparedHere(conn)).sort(), [...before, name].sort());
      });
    });

    test('a migration that changes the columns of a SELECT *: one query fails, then every connection uses fresh names', async () => {
      await insertJob(db, job('a'));
      await withTwo(async (a, b) => {
        for (const conn of [a, b]) {
          assert.equal((await byId.first(conn, { id: 'a' }))?.id, 'a');
          assert.equal((await byType.first(conn, { type: 'test.kind' }))?.id, 'a');
        }
        await sql`alter table jobs add column extra_for_test text`.execute(db);
        // Recognised by its routine, not by its (translatable) message.
        await assert.rejects(byId.first(a, { id: 'a' }), (error: unknown) => (error as { routine?: string }).routine === 'RevalidateCachedQuery' && isNamedStatementLost(error));
        // Neither the other text nor the other connection fails again.
        for (const conn of [a, b]) {
          assert.ok('extra_for_test' in ((await byId.first(conn, { id: 'a' })) ?? {}));
          assert.ok('extra_for_test' in ((await byType.first(conn, { type: 'test.kind' })) ?? {}));
        }
      });
    });

    test('after a migration, a single unit using several stale statements is retried by the group committer and succeeds', async () => {
      // Five texts, more than the committer retries a unit: they must not fail one by one.
      const stale = ['a', 'b', 'c', 'd', 'e'].map((k) => new PreparedQuery((q, p: { id: string }) => q.selectFrom('jobs').selectAll().where('id', '=', p.id).where('type', '!=', `not-${k}`)));
      await insertJob(db, job('a'));
      await db.connection().execute(async (conn) => {
        for (const query of stale) assert.equal((await query.first(conn, { id: 'a' }))?.id, 'a');
        await sql`alter table jobs add column extra_for_test text`.execute(db);
        // The committer runs on this one connection; a lone unit is retried only because the error counts as a conflict.
        const committer = new GroupCommitter({ ...t.db, kysely: conn }, { lanes: 1 });
        const rows = await committer.run(async (trx) => Promise.all(stale.map((query) => query.first(trx, { id: 'a' }))));
        assert.ok(rows.every((row) => row !== undefined && 'extra_for_test' in row));
      });
    });
  });
}
