/**
 * Migration 002: what ARI (RFC 9773) and the registration views need.
 * - certificates.authority_key_id: base64url AKI keyIdentifier, half of the ARI certID (§4.1);
 * - certificates.replaced_by: the order that replaced it (§5: a certificate is replaced once);
 * - an index to list accounts by registration (admin CLI); accounts by EAB key id has one since 001.
 */
import type { Kysely, Migration } from 'kysely';

export function ariAndRegistrations(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('certificates').addColumn('authority_key_id', 'text').execute();
      await db.schema.alterTable('certificates').addColumn('replaced_by', 'text').execute();
      await db.schema.createIndex('accounts_registration').on('accounts').column('registration_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('accounts_registration').execute();
      await db.schema.alterTable('certificates').dropColumn('replaced_by').execute();
      await db.schema.alterTable('certificates').dropColumn('authority_key_id').execute();
    },
  };
}
