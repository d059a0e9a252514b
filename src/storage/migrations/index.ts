/**
 * The versioned migrations, listed in code so they run the same from `src/` and from the compiled
 * `dist/` (nothing reads this folder at run time). A new migration gets the next number and a line
 * in `migrations()`; a shipped migration never changes.
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import { initial } from './001-initial.js';
import { ariAndRegistrations } from './002-ari-and-registrations.js';
import { sharedNonces } from './003-shared-nonces.js';
import { revocationPoll } from './004-revocation-poll.js';
import { staleChallenges } from './005-stale-challenges.js';

export type SqlDialectName = 'sqlite' | 'postgres';

/** Migrations by name; Kysely runs them in name order. */
export function migrations(dialect: SqlDialectName): Record<string, Migration> {
  return {
    '001-initial': initial(dialect),
    '002-ari-and-registrations': ariAndRegistrations(),
    '003-shared-nonces': sharedNonces(dialect),
    '004-revocation-poll': revocationPoll(dialect),
    '005-stale-challenges': staleChallenges(),
  };
}

export function migrationProvider(dialect: SqlDialectName): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}

/**
 * Brings the database to the latest version; throws (with the failing migration's error as
 * `cause`) when one fails. `schema` puts Kysely's bookkeeping tables in that PostgreSQL schema.
 */
export async function migrateToLatest(db: Kysely<unknown>, dialect: SqlDialectName, schema?: string): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const result = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed`, { cause: result.error });
  }
  return result;
}
