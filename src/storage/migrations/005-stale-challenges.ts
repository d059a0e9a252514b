/**
 * Migration 005: what resuming validations left in `processing` by a crash needs
 * (ValidationRunner.resumeStale in src/ra/validation.ts). Every few seconds each instance looks for
 * challenges in `processing` whose `updated_at` is old; a partial index on `updated_at` over those
 * rows only (a handful at any time, however many challenges the table holds) makes that look-up a
 * short range scan instead of a walk over every challenge.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export function staleChallenges(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('challenges_processing')
        .on('challenges')
        .columns(['updated_at', 'id'])
        .where(sql.ref('status'), '=', 'processing')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('challenges_processing').execute();
    },
  };
}
