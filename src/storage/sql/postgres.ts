/**
 * PostgreSQL through a `pg` pool. Every connection gets `search_path` set to the store's schema, so
 * several stores (test runs, tenants) share one database without seeing each other's tables.
 */
import pg from 'pg';
import { CompiledQuery, PostgresDialect } from 'kysely';

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

export function postgresDialect(url: string, poolSize: number, schema: string): PostgresDialect {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types });
  const setSearchPath = CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`);
  return new PostgresDialect({
    pool,
    onCreateConnection: async (connection) => {
      await connection.executeQuery(setSearchPath);
    },
  });
}
