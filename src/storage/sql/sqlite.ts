/**
 * SQLite through better-sqlite3: one connection, so one writer. Kysely's SqliteDriver guards that
 * connection with a mutex held for a whole transaction, so concurrent `transaction()` calls run one
 * after the other and a plain read waits for the open transaction to finish.
 */
import Database from 'better-sqlite3';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

/** Enough for every query shape the store builds (getAuthzs varies with its list length). */
const STATEMENT_CACHE_SIZE = 256;
const BUSY_TIMEOUT_MS = 5_000;

export function sqliteDialect(path: string): SqliteDialect {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    // WAL + NORMAL: a commit survives a process crash; a power cut may lose the last commits.
    db.pragma('synchronous = NORMAL');
  } catch (err) {
    db.close();
    throw new Error(`cannot set up the SQLite database at ${path}`, { cause: err });
  }
  return new SqliteDialect({ database: cachedStatements(db) });
}

/**
 * Kysely prepares every query afresh; better-sqlite3 statements are reusable, so keep the compiled
 * ones by SQL text. Safe because the single connection never runs two statements at once.
 */
function cachedStatements(db: Database.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: (sql) => {
      let stmt = cache.get(sql);
      if (stmt === undefined) {
        // Every store transaction writes: take the write lock at BEGIN, so a second process on the
        // file waits for busy_timeout instead of failing at its first write with SQLITE_BUSY.
        stmt = db.prepare(sql === 'begin' ? 'begin immediate' : sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}
