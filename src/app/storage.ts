import path from 'node:path';
import type { Config } from '../config/schema.js';
import { createSqlStore } from '../storage/sql/index.js';
import type { Store } from '../storage/store.js';

/** The store config names: SQLite under the data dir by default, or PostgreSQL. */
export function openStore(config: Config): Promise<Store> {
  return createSqlStore(
    config.storage.driver === 'sqlite'
      ? { driver: 'sqlite', path: config.storage.path ?? path.join(config.dataDir, 'gateway.sqlite') }
      : { driver: 'postgres', url: config.storage.url, poolSize: config.storage.poolSize, ...(config.storage.schema ? { schema: config.storage.schema } : {}) },
  );
}
