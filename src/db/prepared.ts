/**
 * Kysely queries built and compiled once per dialect, then run with new parameter values.
 *
 * Building and compiling a query with Kysely's builder costs several microseconds, as much as
 * SQLite takes to run a small statement; on the job paths (journey steps, deliveries) that was
 * about a sixth of all CPU. A `PreparedQuery` keeps the builder's type checking: its `build`
 * function is an ordinary Kysely query over named parameters. It is called once per dialect with
 * placeholder values, compiled, and the compiled SQL is reused, the placeholders replaced by each
 * call's values (see docs/adr/0003).
 *
 * The placeholders stand for whole values: `build` may put them where a value goes (`where`,
 * `set`, `values`, `limit`, `sql` interpolations) but may not compute with them or branch on
 * them, and a shape that depends on the values (an `in` list, optional columns) is not one query.
 * What can be caught is refused: coercing a placeholder throws, a parameter read while building
 * that does not end up as a value of the query throws (a branch on it), and so does calling with
 * an array or `undefined`. A placeholder is an object, so `p.x ?? other` or `p.x === y` cannot be
 * caught: do not write them. `preparedInsert` and `preparedUpdate` key one query per set of
 * columns for rows whose columns vary. The compiled text is cached per dialect only: run these
 * on the plain instance or its transactions, not through `withSchema` or `withPlugin`.
 */
import { CompiledQuery, type Compilable, type Insertable, type Kysely, type Updateable } from 'kysely';
import { nameStatement } from './pg-named.js';
import { isPostgres } from './statement.js';
import type { Database } from './tables.js';

export type Params = Record<string, unknown>;

/** Stands for the parameter `name` while a query is built. */
class Placeholder {
  constructor(readonly name: string) {
    Object.freeze(this);
  }

  [Symbol.toPrimitive](): never {
    throw new TypeError(`prepared query: parameter ${this.name} was used in a computation while building; pass the computed value instead`);
  }
}

/** For each compiled parameter: the name of a call parameter, or a constant of the query itself. */
type Slot = { name: string } | { constant: unknown };

interface Compiled {
  sql: string;
  slots: Slot[];
}

function placeholders<P extends Params>(made: Map<string, Placeholder>): P {
  // Any property read yields that parameter's placeholder; the proxy stands for the `P` object.
  return new Proxy({}, {
    get(_target, key) {
      if (typeof key !== 'string') return undefined;
      let placeholder = made.get(key);
      if (!placeholder) {
        placeholder = new Placeholder(key);
        made.set(key, placeholder);
      }
      return placeholder;
    },
  }) as P;
}

export class PreparedQuery<P extends Params, Row> {
  readonly #build: (db: Kysely<Database>, p: P) => Compilable<Row>;
  #sqlite: Compiled | undefined;
  #postgres: Compiled | undefined;

  constructor(build: (db: Kysely<Database>, p: P) => Compilable<Row>) {
    this.#build = build;
  }

  async all(db: Kysely<Database>, params: P): Promise<Row[]> {
    return (await db.executeQuery<Row>(this.#query(db, params))).rows;
  }

  async first(db: Kysely<Database>, params: P): Promise<Row | undefined> {
    return (await this.all(db, params))[0];
  }

  /** Runs a statement and answers how many rows it inserted, updated or deleted. */
  async run(db: Kysely<Database>, params: P): Promise<bigint> {
    return (await db.executeQuery(this.#query(db, params))).numAffectedRows ?? 0n;
  }

  #query(db: Kysely<Database>, params: P): CompiledQuery<Row> {
    const postgres = isPostgres(db);
    let compiled = postgres ? this.#postgres : this.#sqlite;
    if (!compiled) {
      compiled = this.#compile(db);
      if (postgres) {
        nameStatement(compiled.sql);
        this.#postgres = compiled;
      } else {
        this.#sqlite = compiled;
      }
    }
    const values = compiled.slots.map((slot) => {
      if ('constant' in slot) return slot.constant;
      const value = params[slot.name];
      if (value === undefined || Array.isArray(value)) {
        throw new TypeError(`prepared query: parameter ${slot.name} must be a single value, not ${Array.isArray(value) ? 'an array' : 'undefined'}`);
      }
      return value;
    });
    return CompiledQuery.raw(compiled.sql, values) as CompiledQuery<Row>;
  }

  #compile(db: Kysely<Database>): Compiled {
    const read = new Map<string, Placeholder>();
    const { sql, parameters } = this.#build(db, placeholders<P>(read)).compile();
    const slots: Slot[] = parameters.map((value) => (value instanceof Placeholder ? { name: value.name } : { constant: value }));
    const unused = [...read.keys()].filter((name) => !slots.some((slot) => 'name' in slot && slot.name === name));
    if (unused.length > 0) {
      throw new TypeError(`prepared query: parameter ${unused.join(', ')} was read while building but is not a value of the query (a branch on it?)`);
    }
    return { sql, slots };
  }
}

/** One `PreparedQuery` per key, for queries whose shape depends on a few known variants. */
class PreparedFamily<P extends Params, Row> {
  readonly #byKey = new Map<string, PreparedQuery<P, Row>>();
  constructor(private readonly make: (key: string) => PreparedQuery<P, Row>) {}

  of(key: string): PreparedQuery<P, Row> {
    let query = this.#byKey.get(key);
    if (!query) {
      query = this.make(key);
      this.#byKey.set(key, query);
    }
    return query;
  }
}

/** The columns of `row` Kysely would write: those whose value is not `undefined`. */
function definedColumns(row: object): string[] {
  return Object.keys(row).filter((key) => (row as Record<string, unknown>)[key] !== undefined);
}

function pick(p: Params, columns: readonly string[]): Params {
  return Object.fromEntries(columns.map((column) => [column, p[column]]));
}

/**
 * The generic insert and update below name their columns at run time, which the builder's types
 * cannot follow; rows are typed at the call instead.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped view of the schema, see above
type Untyped = Kysely<any>;

/** `insert into <table>` of one row, compiled once per set of columns. */
export function preparedInsert<T extends keyof Database & string>(table: T): (db: Kysely<Database>, row: Insertable<Database[T]>) => Promise<void> {
  const family = new PreparedFamily<Params, unknown>((key) =>
    new PreparedQuery((db, p) => (db as unknown as Untyped).insertInto(table as string).values(pick(p, key.split(',')))),
  );
  return async (db, row) => {
    await family.of(definedColumns(row).join(',')).run(db, row as Params);
  };
}

/**
 * `update <table> set … where <keyColumn> = ?`, compiled once per set of changed columns; answers
 * the number of rows updated. Columns whose value is `undefined` are left alone, as Kysely does.
 */
export function preparedUpdate<T extends keyof Database & string>(
  table: T,
  keyColumn: keyof Database[T] & string,
): (db: Kysely<Database>, key: string, changes: Updateable<Database[T]>) => Promise<bigint> {
  const family = new PreparedFamily<Params, unknown>((columns) =>
    // `$key` cannot be a column name.
    new PreparedQuery((db, p) => (db as unknown as Untyped).updateTable(table as string).set(pick(p, columns.split(','))).where(keyColumn as string, '=', p.$key)),
  );
  return (db, key, changes) => {
    const columns = definedColumns(changes);
    if (columns.length === 0) return Promise.resolve(0n);
    return family.of(columns.join(',')).run(db, { ...changes, $key: key });
  };
}
