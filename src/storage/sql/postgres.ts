/**
 * PostgreSQL through a `pg` pool. Every connection gets `search_path` set to the store's schema, so
 * several stores (test runs, tenants) share one database without seeing each other's tables.
 */
import pg from 'pg';
import { CompiledQuery, PostgresDialect, sql, type Kysely } from 'kysely';
import type { Logger } from '../../lib/logger.js';

const OID_INT8 = 20;
const OID_JSONB = 3802;

/**
 * Rows come back as SQLite returns them: bigint (epoch-ms times, counts) as number, which is exact
 * below 2^53, and jsonb as text, so `mapping.ts` has one path for both dialects. This pool only;
 * pg's global parsers stay untouched.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary' && oid === OID_INT8) return (v: string) => Number(v);
    if (format !== 'binary' && oid === OID_JSONB) return (v: string) => v;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function postgresDialect(url: string, poolSize: number, schema: string, log?: Pick<Logger, 'warn'>): PostgresDialect {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types });
  // An idle connection that breaks (server restart, proxy timeout) is dropped by the pool and the
  // next query opens a new one; without a listener, Node would end the process on this event.
  pool.on('error', (err) => log?.warn({ err }, 'idle PostgreSQL connection failed; the pool dropped it'));
  const setSearchPath = CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`);
  return new PostgresDialect({
    pool,
    onCreateConnection: async (connection) => {
      await connection.executeQuery(setSearchPath);
    },
  });
}

/**
 * Creates the schema unless it exists. Checked first because CREATE SCHEMA IF NOT EXISTS still
 * needs the CREATE privilege on the database, which a gateway user on `public` may not have.
 */
export async function ensureSchema(db: Kysely<unknown>, schema: string): Promise<void> {
  const found = await sql<{ one: number }>`select 1 as one from pg_namespace where nspname = ${schema}`.execute(db);
  if (found.rows.length === 0) await db.schema.createSchema(schema).ifNotExists().execute();
}
