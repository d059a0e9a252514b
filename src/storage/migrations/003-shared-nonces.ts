/**
 * Migration 003: what several gateway instances share besides the records: used nonces (RFC 8555
 * §6.5, "at most once" across instances) and named secrets (the nonce HMAC key).
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from './index.js';

export function sharedNonces(dialect: SqlDialectName): Migration {
  const time = dialect === 'postgres' ? 'bigint' : 'integer';
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('used_nonces')
        .addColumn('nonce', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('used_nonces_expires').on('used_nonces').column('expires_at').execute();
      await db.schema
        .createTable('secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', binary, (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('secrets').execute();
      await db.schema.dropTable('used_nonces').execute();
    },
  };
}
