/**
 * Fixed SQL statements for hot paths. Kysely's builder spends ~13 µs building and compiling each
 * query, more than SQLite spends executing a small one; for statements whose shape never changes,
 * that work is done once here. The text is written once in SQL both dialects accept, with `?`
 * placeholders (renumbered `$1…$n` for PostgreSQL), and runs through Kysely's executor, so it
 * uses the same connection and transaction as every other query. See docs/adr/0003.
 */
import { CompiledQuery, PostgresAdapter, type Kysely } from 'kysely';
import type { Database } from './tables.js';

/** Whether `db` (an instance or one of its transactions) talks to PostgreSQL. */
export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

export class Statement<Row = Record<string, unknown>> {
  readonly #sqlite: string;
  readonly #postgres: string;

  constructor(text: string) {
    this.#sqlite = text;
    this.#postgres = numberPlaceholders(text);
  }

  async all(db: Kysely<Database>, parameters: readonly unknown[]): Promise<Row[]> {
    const text = isPostgres(db) ? this.#postgres : this.#sqlite;
    return (await db.executeQuery<Row>(CompiledQuery.raw(text, [...parameters]))).rows;
  }

  async first(db: Kysely<Database>, parameters: readonly unknown[]): Promise<Row | undefined> {
    return (await this.all(db, parameters))[0];
  }
}

/** `?` → `$1…$n` outside string literals; a `?` inside one is refused rather than guessed at. */
function numberPlaceholders(text: string): string {
  let out = '';
  let n = 0;
  let quoted = false;
  for (const ch of text) {
    if (ch === "'") quoted = !quoted;
    if (ch === '?') {
      if (quoted) throw new Error(`a ? inside a string literal of a Statement: ${text}`);
      out += `$${++n}`;
    } else out += ch;
  }
  return out;
}

/** `?, ?, …`: `count` placeholders, for an `in (…)` list. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** `(?, …), (?, …)`: `count` rows of `width` placeholders, for a multi-row `values`. */
export function valueRows(count: number, width: number): string {
  const row = `(${placeholders(width)})`;
  return Array.from({ length: count }, () => row).join(', ');
}

/** Parameters per statement of `StatementFamily.allRows`: far below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMETERS = 10_000;

/** Statements whose text depends only on a row count, built once per count. */
export class StatementFamily<Row = Record<string, unknown>> {
  readonly #byCount = new Map<number, Statement<Row>>();
  constructor(private readonly build: (count: number) => string) {}

  of(count: number): Statement<Row> {
    let statement = this.#byCount.get(count);
    if (!statement) {
      statement = new Statement<Row>(this.build(count));
      this.#byCount.set(count, statement);
    }
    return statement;
  }

  /**
   * A multi-row statement over `rows` (the parameters of each row, all of one width), in as few
   * statements as the parameter limit allows; the result rows of all of them.
   */
  async allRows(db: Kysely<Database>, rows: readonly (readonly unknown[])[]): Promise<Row[]> {
    if (rows.length === 0) return [];
    const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / rows[0]!.length));
    const out: Row[] = [];
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = rows.slice(i, i + perStatement);
      out.push(...(await this.of(chunk.length).all(db, chunk.flat())));
    }
    return out;
  }
}
