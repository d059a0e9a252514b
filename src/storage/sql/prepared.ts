/**
 * Kysely builds and compiles every query afresh: an operation tree, frozen, visited into SQL. On
 * the hot path (a handful of queries per ACME request) that cost ~8 % of the gateway's CPU in the
 * benchmark profile (issue #6). A `Prepared` query is built once per dialect with placeholder
 * values, and later calls only fill in the parameters, so the SQL text is exactly what Kysely
 * writes, and the query stays typed where it is built.
 *
 * Rules for a builder: every argument must end up as a bound parameter (not an identifier, not a
 * list whose length varies; give each list length its own Prepared, see `PreparedByCount`), and
 * the query's shape must not depend on the values.
 */
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import type { Database } from './schema.js';

/** Placeholder values, recognisable in the compiled parameters and never a real value. */
const MARK = '\u0000kysely-prepared-param:';
type Slot = number | { constant: unknown };
interface Shape {
  sql: string;
  slots: Slot[];
}

type Db = Kysely<Database>;
/** What a builder gets for argument i: a placeholder, typed `never` so it fits any column. */
export type Params = (i: number) => never;
export type Builder = (db: Db, p: Params) => Compilable<unknown>;

export class Prepared<Args extends readonly unknown[]> {
  /** By the dialect's adapter class: SQLite and PostgreSQL write different SQL for one query. */
  private readonly shapes = new Map<unknown, Shape>();

  constructor(
    private readonly arity: Args['length'],
    private readonly build: Builder,
  ) {}

  private shape(db: Db): Shape {
    const key = db.getExecutor().adapter.constructor;
    let shape = this.shapes.get(key);
    if (shape === undefined) {
      const mark = ((i: number) => `${MARK}${i}`) as unknown as Params;
      const compiled = this.build(db, mark).compile();
      const seen = new Set<number>();
      const slots = compiled.parameters.map((p): Slot => {
        if (typeof p === 'string' && p.startsWith(MARK)) {
          const i = Number(p.slice(MARK.length));
          seen.add(i);
          return i;
        }
        return { constant: p };
      });
      if (seen.size !== this.arity) throw new Error(`prepared query uses ${seen.size} of its ${this.arity} arguments as parameters: ${compiled.sql}`);
      shape = { sql: compiled.sql, slots };
      this.shapes.set(key, shape);
    }
    return shape;
  }

  compile(db: Db, args: Args): CompiledQuery {
    const { sql, slots } = this.shape(db);
    const parameters = slots.map((s) => {
      if (typeof s !== 'number') return s.constant;
      const v = args[s];
      if (v === undefined) throw new TypeError(`prepared query argument ${s} is undefined: ${sql}`);
      return v;
    });
    return CompiledQuery.raw(sql, parameters);
  }

  execute<Row>(db: Db, args: Args): Promise<QueryResult<Row>> {
    return db.executeQuery<Row>(this.compile(db, args));
  }

  async first<Row>(db: Db, args: Args): Promise<Row | undefined> {
    return (await this.execute<Row>(db, args)).rows[0];
  }
}

/** Queries whose shape depends on a count (`in (?, ?, ?)`, multi-row inserts): one Prepared per count. */
export class PreparedByCount {
  private readonly byCount = new Map<number, Prepared<readonly unknown[]>>();
  constructor(
    /** Arguments for `count` items. */
    private readonly arity: (count: number) => number,
    private readonly build: (count: number) => Builder,
    private readonly maxCached = 16,
  ) {}

  for(count: number): Prepared<readonly unknown[]> {
    let p = this.byCount.get(count);
    if (p === undefined) {
      p = new Prepared<readonly unknown[]>(this.arity(count), this.build(count));
      if (this.byCount.size < this.maxCached) this.byCount.set(count, p);
    }
    return p;
  }
}

type TableName = keyof Database & string;
const writes = new Map<string, Prepared<readonly unknown[]>>();
const WRITES_MAX = 64;

function cachedWrite(key: string, arity: number, build: Builder): Prepared<readonly unknown[]> {
  let p = writes.get(key);
  if (p === undefined) {
    p = new Prepared<readonly unknown[]>(arity, build);
    if (writes.size < WRITES_MAX) writes.set(key, p);
  }
  return p;
}

/** `update <table> set <row's columns> where id = ?`; the number of rows changed. */
export async function updateById(db: Db, table: TableName, values: object, id: string): Promise<bigint> {
  const row = values as Readonly<Record<string, unknown>>;
  const columns = Object.keys(row);
  const prepared = cachedWrite(`update ${table} ${columns.join(',')}`, columns.length + 1, (d, p) =>
    d.updateTable(table).set(Object.fromEntries(columns.map((c, i) => [c, p(i)])) as never).where('id' as never, '=', p(columns.length)),
  );
  const result = await prepared.execute(db, [...columns.map((c) => row[c]), id]);
  return result.numAffectedRows ?? 0n;
}

/** `insert into <table> (<columns>) values (...), ...` of rows with the same columns; rows inserted. */
export async function insertRows(db: Db, table: TableName, values: readonly object[], opts: { ignoreConflicts?: boolean } = {}): Promise<bigint> {
  const rows = values as readonly Readonly<Record<string, unknown>>[];
  const first = rows[0];
  if (first === undefined) return 0n;
  const columns = Object.keys(first);
  const ignore = opts.ignoreConflicts === true;
  const prepared = cachedWrite(`insert ${table} ${columns.join(',')} x${rows.length}${ignore ? ' ignore' : ''}`, columns.length * rows.length, (d, p) => {
    const values = rows.map((_, r) => Object.fromEntries(columns.map((c, i) => [c, p(r * columns.length + i)])));
    const q = d.insertInto(table).values(values as never);
    return ignore ? q.onConflict((oc) => oc.doNothing()) : q;
  });
  const args = rows.flatMap((row) => {
    if (Object.keys(row).length !== columns.length) throw new TypeError(`insertRows: rows of ${table} differ in their columns`);
    return columns.map((c) => row[c]);
  });
  const result = await prepared.execute(db, args);
  return result.numAffectedRows ?? 0n;
}
