/**
 * StoreReader on Kysely, shared by both dialects. Used on the database itself (reads outside a
 * transaction) and on a transaction (reads inside one).
 */
import { sql, type Kysely } from 'kysely';
import { Prepared, PreparedByCount } from './prepared.js';
import {
  NotFoundError,
  type AccountId,
  type AccountRecord,
  type AuthzId,
  type AuthzRecord,
  type CertificateId,
  type CertificateRecord,
  type ChallengeId,
  type ChallengeRecord,
  type EabKeyRecord,
  type OrderId,
  type OrderRecord,
  type Page,
  type StoreReader,
} from '../store.js';
import type { Identifier } from '../../protocol/types.js';
import type { Database } from './schema.js';
import {
  decodeCertificateCursor,
  decodeOrderCursor,
  encodeCertificateCursor,
  encodeOrderCursor,
  rowToAccount,
  rowToCertificate,
  rowToChallenge,
  rowToEabKey,
  rowToOrder,
  rowsToAuthzs,
  toMs,
  type AuthzJoinRow,
} from './mapping.js';
import type { AccountsTable, CertificatesTable, ChallengesTable, OrdersTable } from './schema.js';

/** Authorizations joined to their challenges: what rowsToAuthzs reads. */
function authzsWithChallenges(db: Kysely<Database>) {
  return db
    .selectFrom('authorizations as a')
    .leftJoin('challenges as c', 'c.authz_id', 'a.id')
    .selectAll('a')
    .select([
      'c.id as c_id',
      'c.type as c_type',
      'c.token as c_token',
      'c.status as c_status',
      'c.validated_at as c_validated_at',
      'c.error as c_error',
      'c.validation_record as c_validation_record',
      'c.updated_at as c_updated_at',
    ]);
}

/** The queries every ACME request makes, built once (see prepared.ts). */
const hot = {
  account: new Prepared<[string]>(1, (db, p) => db.selectFrom('accounts').selectAll().where('id', '=', p(0))),
  order: new Prepared<[string]>(1, (db, p) => db.selectFrom('orders').selectAll().where('id', '=', p(0))),
  challenge: new Prepared<[string]>(1, (db, p) => db.selectFrom('challenges').selectAll().where('id', '=', p(0))),
  certificate: new Prepared<[string]>(1, (db, p) => db.selectFrom('certificates').selectAll().where('id', '=', p(0))),
  authzs: new PreparedByCount(
    (n) => n,
    (n) => (db, p) => authzsWithChallenges(db).where('a.id', 'in', Array.from({ length: n }, (_, i) => p(i))).orderBy('a.id').orderBy('c.position'),
  ),
};

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
}

export class SqlReader implements StoreReader {
  constructor(protected readonly db: Kysely<Database>) {}

  async getAccount(id: AccountId): Promise<AccountRecord | undefined> {
    const row = await hot.account.first<AccountsTable>(this.db, [id]);
    return row && rowToAccount(row);
  }

  async findAccountByThumbprint(profile: string, thumbprint: string): Promise<AccountRecord | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .selectAll()
      .where('profile', '=', profile)
      .where('jwk_thumbprint', '=', thumbprint)
      .executeTakeFirst();
    return row && rowToAccount(row);
  }

  async getOrder(id: OrderId): Promise<OrderRecord | undefined> {
    const row = await hot.order.first<OrdersTable>(this.db, [id]);
    return row && rowToOrder(row);
  }

  /** Keyset paging on (created_at, id), newest first; the cursor names the last item returned. */
  async listOrders(accountId: AccountId, cursor: string | null, limit: number): Promise<Page<OrderId>> {
    checkLimit(limit);
    let query = this.db.selectFrom('orders').select(['id', 'created_at']).where('account_id', '=', accountId);
    if (cursor !== null) {
      const after = decodeOrderCursor(cursor);
      if (after === undefined) throw new NotFoundError(`order list cursor "${cursor}"`);
      query = query.where((eb) =>
        eb.and([
          eb('created_at', '<=', after.createdAt),
          eb.or([eb('created_at', '<', after.createdAt), eb('id', '<', after.id)]),
        ]),
      );
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((r) => r.id as OrderId),
      next: rows.length > limit && last !== undefined ? encodeOrderCursor(last.created_at, last.id) : null,
    };
  }

  async getAuthz(id: AuthzId): Promise<AuthzRecord | undefined> {
    const [authz] = await this.getAuthzs([id]);
    return authz;
  }

  /** One query (authorizations joined to their challenges); results follow `ids`, missing ids are left out. */
  async getAuthzs(ids: readonly AuthzId[]): Promise<AuthzRecord[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const rows = (await hot.authzs.for(unique.length).execute<AuthzJoinRow>(this.db, unique)).rows;
    const byId = new Map(rowsToAuthzs(rows).map((a) => [a.id, a]));
    return unique.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * RFC 8555 §7.1.4: wildcard and plain authorizations share the identifier value, so both come
   * back; the caller picks by `wildcard`. Longest-lived first.
   */
  async findValidAuthzs(accountId: AccountId, identifier: Identifier, now: Date): Promise<AuthzRecord[]> {
    const rows = await authzsWithChallenges(this.db)
      .where('a.account_id', '=', accountId)
      .where('a.identifier_type', '=', identifier.type)
      .where('a.identifier_value', '=', identifier.value)
      .where('a.status', '=', 'valid')
      .where('a.expires', '>', toMs(now))
      .orderBy('a.expires', 'desc')
      .orderBy('a.id')
      .orderBy('c.position')
      .execute();
    return rowsToAuthzs(rows);
  }

  async getChallenge(id: ChallengeId): Promise<ChallengeRecord | undefined> {
    const row = await hot.challenge.first<ChallengesTable>(this.db, [id]);
    return row && rowToChallenge(row);
  }

  async getCertificate(id: CertificateId): Promise<CertificateRecord | undefined> {
    const row = await hot.certificate.first<CertificatesTable>(this.db, [id]);
    return row && rowToCertificate(row);
  }

  async findCertificateBySerial(serial: string): Promise<CertificateRecord | undefined> {
    const row = await this.db.selectFrom('certificates').selectAll().where('serial', '=', serial).executeTakeFirst();
    return row && rowToCertificate(row);
  }

  async getEabKey(kid: string): Promise<EabKeyRecord | undefined> {
    const row = await this.db.selectFrom('eab_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
    return row && rowToEabKey(row);
  }

  async listAccountsByRegistration(registrationId: string): Promise<AccountRecord[]> {
    const rows = await this.db.selectFrom('accounts').selectAll().where('registration_id', '=', registrationId).orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToAccount);
  }

  async listAccountsByEab(kid: string): Promise<AccountRecord[]> {
    const rows = await this.db.selectFrom('accounts').selectAll().where('eab_kid', '=', kid).orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToAccount);
  }

  async countAccountsForEab(kid: string): Promise<number> {
    const row = await this.db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('eab_kid', '=', kid)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async listDueOrders(now: Date, limit: number): Promise<OrderRecord[]> {
    checkLimit(limit);
    const rows = await this.db
      .selectFrom('orders')
      .selectAll()
      .where('next_check_at', 'is not', null)
      .where('next_check_at', '<=', toMs(now))
      .orderBy('next_check_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(rowToOrder);
  }

  /** Over the partial index challenges_processing (migration 005): only challenges in processing. */
  async listStaleChallenges(before: Date, now: Date, limit: number): Promise<ChallengeRecord[]> {
    checkLimit(limit);
    const rows = await this.db
      .selectFrom('challenges as c')
      .innerJoin('authorizations as a', 'a.id', 'c.authz_id')
      .selectAll('c')
      // A literal, not a parameter, so that SQLite's planner can match the partial index.
      .where('c.status', '=', sql.lit('processing'))
      .where('c.updated_at', '<=', toMs(before))
      .where('a.status', '=', 'pending')
      .where('a.expires', '>', toMs(now))
      .orderBy('c.updated_at')
      .orderBy('c.id')
      .limit(limit)
      .execute();
    return rows.map(rowToChallenge);
  }

  /** Keyset paging on (not_after, id) over the partial index certificates_unrevoked (migration 004). */
  async listUnrevokedCertificates(now: Date, cursor: string | null, limit: number): Promise<Page<CertificateRecord>> {
    checkLimit(limit);
    let query = this.db.selectFrom('certificates').selectAll().where('revoked_at', 'is', null).where('not_after', '>', toMs(now));
    if (cursor !== null) {
      const after = decodeCertificateCursor(cursor);
      if (after === undefined) throw new NotFoundError(`certificate list cursor "${cursor}"`);
      query = query.where((eb) =>
        eb.and([
          eb('not_after', '>=', after.notAfter),
          eb.or([eb('not_after', '>', after.notAfter), eb('id', '>', after.id)]),
        ]),
      );
    }
    const rows = await query.orderBy('not_after').orderBy('id').limit(limit + 1).execute();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(rowToCertificate),
      next: rows.length > limit && last !== undefined ? encodeCertificateCursor(last.not_after, last.id) : null,
    };
  }

}
