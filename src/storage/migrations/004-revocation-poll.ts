/**
 * Migration 004: what the revocation status poller (src/ra/revocation-poller.ts) needs.
 * - certificates_unrevoked: the poller walks certificates that are neither revoked nor expired in
 *   (not_after, id) order; a partial index on those columns, over unrevoked rows only, makes each
 *   batch a range scan that starts at max(now, cursor) and never visits expired or revoked rows;
 * - job_leases: one row per background job that only one instance should run at a time, taken and
 *   extended with a conditional upsert (the holder, and until when).
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialectName } from './index.js';

export function revocationPoll(dialect: SqlDialectName): Migration {
  const time = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('certificates_unrevoked')
        .on('certificates')
        .columns(['not_after', 'id'])
        .where(sql.ref('revoked_at'), 'is', null)
        .execute();
      await db.schema
        .createTable('job_leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('lease_owner', 'text', (c) => c.notNull())
        .addColumn('lease_until', time, (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('job_leases').execute();
      await db.schema.dropIndex('certificates_unrevoked').execute();
    },
  };
}
