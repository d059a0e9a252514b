/**
 * storage/sql/prepared.ts: a query built once per dialect with placeholders, re-run with new
 * parameters. The SQL must be exactly Kysely's, and a builder that does not turn every argument
 * into a parameter must be refused, not run with the wrong values.
 */
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, DummyDriver } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../../src/storage/migrations/index.js';
import { Prepared, PreparedByCount, insertRows, updateById } from '../../../src/storage/sql/prepared.js';
import type { Database } from '../../../src/storage/sql/schema.js';
import { sqliteDialect } from '../../../src/storage/sql/sqlite.js';

let db: Kysely<Database>;
beforeAll(async () => {
  db = new Kysely<Database>({ dialect: sqliteDialect(':memory:') });
  await migrateToLatest(db as Kysely<unknown>, 'sqlite');
});
afterAll(() => db?.destroy());

const secret = (name: string) => ({ name, value: Buffer.from(name) });

describe('Prepared', () => {
  const byName = new Prepared<[string]>(1, (d, p) => d.selectFrom('secrets').selectAll().where('name', '=', p(0)));

  it('writes the SQL Kysely writes and fills in each call\'s parameters', async () => {
    await insertRows(db, 'secrets', [secret('a'), secret('b')]);
    expect(byName.compile(db, ['a']).sql).toBe(db.selectFrom('secrets').selectAll().where('name', '=', 'x').compile().sql);
    expect((await byName.first<{ name: string }>(db, ['a']))?.name).toBe('a');
    expect((await byName.first<{ name: string }>(db, ['b']))?.name).toBe('b');
    expect(await byName.first(db, ['c'])).toBeUndefined();
  });

  it('keeps one shape per dialect', () => {
    const pg = new Kysely<Database>({
      dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler() },
    });
    expect(byName.compile(pg, ['a']).sql).toBe('select * from "secrets" where "name" = $1');
    expect(byName.compile(db, ['a']).sql).toBe('select * from "secrets" where "name" = ?');
  });

  it('refuses a builder that does not use every argument as a parameter, and an undefined argument', async () => {
    const unused = new Prepared<[string, string]>(2, (d, p) => d.selectFrom('secrets').selectAll().where('name', '=', p(0)));
    expect(() => unused.compile(db, ['a', 'b'])).toThrow(/uses 1 of its 2 arguments/);
    expect(() => byName.compile(db, [undefined as unknown as string])).toThrow(/argument 0 is undefined/);
  });

  it('PreparedByCount builds one shape per list length', async () => {
    const some = new PreparedByCount((n) => n, (n) => (d, p) => d.selectFrom('secrets').select('name').where('name', 'in', Array.from({ length: n }, (_, i) => p(i))).orderBy('name'));
    expect((await some.for(2).execute<{ name: string }>(db, ['a', 'b'])).rows.map((r) => r.name)).toEqual(['a', 'b']);
    expect((await some.for(1).execute<{ name: string }>(db, ['b'])).rows.map((r) => r.name)).toEqual(['b']);
    expect(some.for(3).compile(db, ['a', 'b', 'c']).sql).toMatch(/in \(\?, \?, \?\)/);
  });
});

describe('updateById and insertRows', () => {
  it('count the rows they changed, and insertRows can ignore a conflict', async () => {
    expect(await insertRows(db, 'secrets', [secret('c')])).toBe(1n);
    expect(await insertRows(db, 'secrets', [secret('c')], { ignoreConflicts: true })).toBe(0n);
    await expect(insertRows(db, 'secrets', [secret('c')])).rejects.toThrow(/UNIQUE/);
    expect(await updateById(db, 'accounts', { status: 'deactivated' }, 'nobody')).toBe(0n);
  });

  it('refuses rows of one insert that differ in their columns', async () => {
    await expect(insertRows(db, 'secrets', [secret('d'), { name: 'e' }])).rejects.toThrow(/differ in their columns/);
  });
});
