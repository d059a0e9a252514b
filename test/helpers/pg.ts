/**
 * PostgreSQL for tests: the server CI starts on loopback (override with ACME_GATEWAY_TEST_PG_URL),
 * a fresh schema name per test, and dropping it afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.ACME_GATEWAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test uses. */
export function freshPgSchema(): string {
  return `t_${randomBytes(8).toString('hex')}`;
}

/** Drops `schema` and everything in it. */
export async function dropPgSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}
