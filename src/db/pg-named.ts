/**
 * Named (server-side prepared) statements on PostgreSQL for the texts `PreparedQuery` compiles
 * (docs/adr/0003, last addendum). Kysely sends every query unnamed, so PostgreSQL parses and
 * plans it on every execution; for the short key lookups and updates of the job paths that was
 * most of their server-side cost. A text registered here is parsed once per connection and then
 * only bound and executed.
 *
 * Only `PreparedQuery` texts are named: their shape never changes and their parameters are keys,
 * so PostgreSQL's generic plan (chosen after five executions when no worse) is the right plan.
 * (The fixed `Statement`s of events.track stay unnamed: a generic plan of the nullable identity
 * lookup was slower.)
 *
 * A name is derived from its text (a hash), never from the order texts were registered: behind a
 * pooler in transaction mode a connection can meet a session where another process prepared the
 * name, and pg then only binds and executes it — it must be the same text.
 *
 * What can go wrong, per pool (a `namingClient()` class is made per pool):
 * - the server no longer has a statement (SQLSTATE 26000: a `DISCARD ALL`, or such a pooler
 *   moving the connection to another server session), or already has the name (42P05: the pooler
 *   shared the session): naming stops for the whole pool, since its connections evidently
 *   cannot keep named statements;
 * - a migration changed the columns behind a `SELECT *` (0A000 from `RevalidateCachedQuery`,
 *   "cached plan must not change result type", recognised by its routine since the message is
 *   translated): every connection of the pool moves to fresh names, parsed against the new schema.
 * Either way the query that met it fails once; `isNamedStatementLost` lets the group committer
 * retry the unit, which then succeeds.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

const names = new Map<string, string>();

/** Marks a PostgreSQL text whose shape never changes to be prepared once per connection. */
export function nameStatement(text: string): void {
  if (!names.has(text)) names.set(text, createHash('sha256').update(text).digest('hex').slice(0, 32));
}

function isStaleResultType(error: { code?: unknown; routine?: unknown }): boolean {
  return error.code === '0A000' && error.routine === 'RevalidateCachedQuery';
}

/** The errors after which a pool stops naming or renames its statements (see the header). */
export function isNamedStatementLost(error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown; routine?: unknown };
  return e.code === '26000' || e.code === '42P05' || isStaleResultType(e);
}

/** A pg client class that runs registered texts as named statements; pass one per pool as its `Client`. */
export function namingClient(): typeof pg.Client {
  /** Shared by the pool's connections: naming switched off, and the generation of the names. */
  const pool = { off: false, generation: 0 };
  return class NamingClient extends pg.Client {
    // pg's `query` has a dozen overloads; this forwards them all unchanged except a plain
    // `(text, values)` call with a registered text, which Kysely makes for every query.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
    override query(config: any, values?: any, callback?: any): any {
      const hash = typeof config === 'string' && !pool.off ? names.get(config) : undefined;
      if (hash === undefined || typeof values === 'function' || callback !== undefined) return super.query(config, values, callback);
      const generation = pool.generation;
      return (super.query({ name: `sf_${generation}_${hash}`, text: config as string, values }) as Promise<pg.QueryResult>).catch((error: unknown) => {
        if (isStaleResultType(error as { code?: unknown; routine?: unknown })) {
          // Once per schema change, not once per connection that meets it.
          if (pool.generation === generation) pool.generation++;
        } else if (isNamedStatementLost(error)) {
          pool.off = true;
        }
        throw error;
      });
    }
  };
}
