/**
 * Migration 001: one table per record in `storage/store.ts`, plus `challenges` as a child of
 * `authorizations` (read back with a join, so getAuthz/getAuthzs stay one query).
 *
 * The column types are the one mapping both dialects share (see `storage/sql/mapping.ts`):
 * times are integer epoch milliseconds, JSON is text (jsonb on PostgreSQL), binary is BLOB/bytea,
 * booleans are 0/1 integers.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from './index.js';

interface ColumnTypes {
  time: 'integer' | 'bigint';
  json: 'text' | 'jsonb';
  binary: 'blob' | 'bytea';
}

const TYPES: Record<SqlDialectName, ColumnTypes> = {
  sqlite: { time: 'integer', json: 'text', binary: 'blob' },
  postgres: { time: 'bigint', json: 'jsonb', binary: 'bytea' },
};

export function initial(dialect: SqlDialectName): Migration {
  const t = TYPES[dialect];
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('eab_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('hmac_key', t.binary, (c) => c.notNull())
        .addColumn('registration_id', 'text')
        .addColumn('max_bindings', 'integer', (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('revoked_at', t.time)
        .execute();

      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('jwk', t.json, (c) => c.notNull())
        .addColumn('jwk_thumbprint', 'text', (c) => c.notNull())
        .addColumn('contact', t.json, (c) => c.notNull())
        .addColumn('terms_agreed_at', t.time)
        .addColumn('terms_agreed_version', 'text')
        .addColumn('eab_kid', 'text')
        .addColumn('registration_id', 'text')
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .execute();
      // RFC 8555 §7.3.1: one account per key (per profile here, as profiles are separate directories).
      await db.schema
        .createIndex('accounts_profile_thumbprint')
        .on('accounts')
        .columns(['profile', 'jwk_thumbprint'])
        .unique()
        .execute();
      await db.schema
        .createIndex('accounts_eab_kid')
        .on('accounts')
        .column('eab_kid')
        .where('eab_kid', 'is not', null)
        .execute();

      await db.schema
        .createTable('orders')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('expires', t.time, (c) => c.notNull())
        .addColumn('identifiers', t.json, (c) => c.notNull())
        .addColumn('not_before', t.time)
        .addColumn('not_after', t.time)
        .addColumn('authz_ids', t.json, (c) => c.notNull())
        .addColumn('error', t.json)
        .addColumn('certificate_id', 'text')
        .addColumn('csr', t.binary)
        .addColumn('ticket', 'text')
        .addColumn('next_check_at', t.time)
        .addColumn('issuance_attempts', 'integer', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', t.time)
        .addColumn('policy', t.json)
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .execute();
      // listOrders pages newest first on (created_at, id).
      await db.schema
        .createIndex('orders_account_created')
        .on('orders')
        .columns(['account_id', 'created_at desc', 'id desc'])
        .execute();
      // listDueOrders: only the few orders with issuance in flight carry a next check time.
      await db.schema
        .createIndex('orders_next_check')
        .on('orders')
        .columns(['next_check_at', 'id'])
        .where('next_check_at', 'is not', null)
        .execute();

      await db.schema
        .createTable('authorizations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
        .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id'))
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('identifier_type', 'text', (c) => c.notNull())
        .addColumn('identifier_value', 'text', (c) => c.notNull())
        .addColumn('wildcard', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('expires', t.time, (c) => c.notNull())
        .addColumn('created_at', t.time, (c) => c.notNull())
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .execute();
      // findValidAuthzs (RFC 8555 §7.1.4 authorization reuse).
      await db.schema
        .createIndex('authorizations_reuse')
        .on('authorizations')
        .columns(['account_id', 'identifier_type', 'identifier_value', 'status'])
        .execute();

      await db.schema
        .createTable('challenges')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('authz_id', 'text', (c) => c.notNull().references('authorizations.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('validated_at', t.time)
        .addColumn('error', t.json)
        .addColumn('validation_record', t.json)
        .addColumn('updated_at', t.time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('challenges_authz')
        .on('challenges')
        .columns(['authz_id', 'position'])
        .execute();

      await db.schema
        .createTable('certificates')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id'))
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('serial', 'text', (c) => c.notNull())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('chain_pem', 'text', (c) => c.notNull())
        .addColumn('identifiers', t.json, (c) => c.notNull())
        .addColumn('not_before', t.time, (c) => c.notNull())
        .addColumn('not_after', t.time, (c) => c.notNull())
        .addColumn('spki_sha256', 'text', (c) => c.notNull())
        .addColumn('revoked_at', t.time)
        .addColumn('revocation_reason', 'integer')
        .addColumn('created_at', t.time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('certificates_serial').on('certificates').column('serial').unique().execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['certificates', 'challenges', 'authorizations', 'orders', 'accounts', 'eab_keys']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
