/**
 * The SQL Store: one Kysely code path over SQLite (better-sqlite3) or PostgreSQL (pg). Only
 * `src/app/` imports this; everything else sees `Store` from `storage/store.ts`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, type Dialect } from 'kysely';
import type { Store, StoreTx } from '../store.js';
import { migrateToLatest, type SqlDialectName } from '../migrations/index.js';
import type { Database } from './schema.js';
import { SqlReader } from './reader.js';
import { SqlTx } from './tx.js';
import { sqliteDialect } from './sqlite.js';
import { ensureSchema, postgresDialect } from './postgres.js';
import type { Logger } from '../../lib/logger.js';

export type SqlStoreOptions = (
  | {
      driver: 'sqlite';
      /** Database file; its directory is created if missing. `:memory:` for a throwaway store. */
      path: string;
    }
  | {
      driver: 'postgres';
      /** libpq-style URL, e.g. `postgres://gateway@db.internal:5432/acme`. */
      url: string;
      /** Most connections the pool opens; default 10. */
      poolSize?: number;
      /** Schema holding the tables (created if missing); default `public`. */
      schema?: string;
    }
) & {
  /** Where to report what the store survives on its own (a pooled connection breaking). */
  log?: Pick<Logger, 'warn'>;
};

const DEFAULT_POOL_SIZE = 10;

class SqlStore extends SqlReader implements Store {
  constructor(
    private readonly kysely: Kysely<Database>,
    /** PostgreSQL takes row locks; SQLite's single writer needs none. */
    private readonly rowLocks: boolean,
  ) {
    super(kysely);
  }

  /**
   * SQLite: the single connection is held for the whole of `fn`, so transactions queue one after
   * the other, and a read through this Store (not `tx`) made inside `fn` would wait forever:
   * inside `fn`, use `tx` only. PostgreSQL: READ COMMITTED on a pooled connection.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.kysely.transaction().execute((trx) => fn(new SqlTx(trx, this.rowLocks)));
  }

  async useNonce(nonce: string, expiresAt: Date): Promise<boolean> {
    const r = await this.kysely.insertInto('used_nonces').values({ nonce, expires_at: expiresAt.getTime() }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return r.numInsertedOrUpdatedRows === 1n;
  }

  async pruneNonces(now: Date): Promise<number> {
    const r = await this.kysely.deleteFrom('used_nonces').where('expires_at', '<', now.getTime()).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** One upsert, so two instances racing for the lease cannot both win. */
  async tryJobLease(job: string, owner: string, until: Date, now: Date): Promise<boolean> {
    const r = await this.kysely
      .insertInto('job_leases')
      .values({ name: job, lease_owner: owner, lease_until: until.getTime() })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ lease_owner: owner, lease_until: until.getTime() })
          .where((eb) => eb.or([eb('job_leases.lease_until', '<=', now.getTime()), eb('job_leases.lease_owner', '=', owner)])),
      )
      .executeTakeFirst();
    return r.numInsertedOrUpdatedRows === 1n;
  }

  async sharedSecret(name: string, create: () => Uint8Array): Promise<Uint8Array> {
    // The first instance to ask writes it; everyone (the first included) reads what was stored.
    await this.kysely.insertInto('secrets').values({ name, value: create() }).onConflict((oc) => oc.doNothing()).execute();
    const row = await this.kysely.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
    return new Uint8Array(row.value);
  }

  close(): Promise<void> {
    return this.kysely.destroy();
  }
}

/** Opens the database, brings it to the latest migration and returns the Store. */
export async function createSqlStore(opts: SqlStoreOptions): Promise<Store> {
  let dialect: Dialect;
  let dialectName: SqlDialectName;
  let schema: string | undefined;
  if (opts.driver === 'sqlite') {
    if (opts.path !== ':memory:' && opts.path !== '') mkdirSync(dirname(opts.path), { recursive: true });
    dialect = sqliteDialect(opts.path);
    dialectName = 'sqlite';
  } else {
    schema = opts.schema ?? 'public';
    dialect = postgresDialect(opts.url, opts.poolSize ?? DEFAULT_POOL_SIZE, schema, opts.log);
    dialectName = 'postgres';
  }
  const db = new Kysely<Database>({ dialect });
  try {
    if (schema !== undefined) await ensureSchema(db as Kysely<unknown>, schema);
    // Migrator reads its bookkeeping tables in every visible schema unless told which one.
    await migrateToLatest(db as Kysely<unknown>, dialectName, schema);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlStore(db, dialectName === 'postgres');
}
