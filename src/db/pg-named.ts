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
 * When the server no longer has the statement (SQLSTATE 26000: a `DISCARD ALL`, or a pooler in
 * transaction mode handing the next transaction another server connection), already has one of
 * that name (42P05: such a pooler again, the name prepared by another client), or a migration
 * changed the columns of a `SELECT *` (0A000, cached plan must not change result type), that
 * query fails once and the connection sends the text unnamed from then on — every text, for the
 * first two, which say the connection cannot keep named statements; `isNamedStatementLost` lets
 * the group committer retry the unit, which then succeeds.
 */
import pg from 'pg';

const names = new Map<string, string>();

/** Marks a PostgreSQL text whose shape never changes to be prepared once per connection. */
export function nameStatement(text: string): void {
  if (!names.has(text)) names.set(text, `sf_${names.size}`);
}

/** The errors after which a connection stops naming a text (see the header). */
export function isNamedStatementLost(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '26000' || code === '42P05' || (code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type'));
}

/** A pg client that runs registered texts as named statements (pass as the Pool's `Client`). */
export class NamingClient extends pg.Client {
  /** Texts this connection sends unnamed after the server invalidated their statement. */
  readonly #unnamed = new Set<string>();
  /** Set once the server lost a statement or had its name already: nothing is named any more. */
  #noNames = false;

  // pg's `query` has a dozen overloads; this forwards them all unchanged except a plain
  // `(text, values)` call with a registered text, which Kysely makes for every query.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  override query(config: any, values?: any, callback?: any): any {
    const name = typeof config === 'string' && !this.#noNames && !this.#unnamed.has(config) ? names.get(config) : undefined;
    if (name === undefined || typeof values === 'function' || callback !== undefined) return super.query(config, values, callback);
    const text = config as string;
    return (super.query({ name, text, values }) as Promise<pg.QueryResult>).catch((error: unknown) => {
      if (isNamedStatementLost(error)) {
        if ((error as { code?: unknown }).code === '0A000') this.#unnamed.add(text);
        else this.#noNames = true;
      }
      throw error;
    });
  }
}
