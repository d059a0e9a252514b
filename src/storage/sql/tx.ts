/**
 * StoreTx on Kysely: the writes, always run on a Kysely transaction. Each method is one statement
 * where it can be; a unique-key clash becomes ConflictError without aborting the transaction
 * (ON CONFLICT DO NOTHING, then a look-up), so a caller may catch it and carry on.
 */
import { sql, type Kysely, type UpdateResult } from 'kysely';
import {
  ConflictError,
  NotFoundError,
  type AccountRecord,
  type AuthzRecord,
  type CertificateRecord,
  type ChallengeId,
  type ChallengeRecord,
  type EabKeyRecord,
  type OrderId,
  type OrderRecord,
  type StoreTx,
} from '../store.js';
import type { Database } from './schema.js';
import { SqlReader } from './reader.js';
import { isUniqueViolation } from './errors.js';
import { insertRows, Prepared, updateById } from './prepared.js';
import type { OrdersTable } from './schema.js';

const orderForUpdate = new Prepared<[string]>(1, (db, p) => db.selectFrom('orders').selectAll().where('id', '=', p(0)).forUpdate());
import {
  accountToRow,
  authzToRow,
  certificateToRow,
  challengeToRow,
  challengeUpdate,
  eabKeyToRow,
  orderToRow,
  rowToOrder,
  toMs,
} from './mapping.js';

function expectOne(result: UpdateResult, what: string): void {
  if (result.numUpdatedRows === 0n) throw new NotFoundError(what);
}

export class SqlTx extends SqlReader implements StoreTx {
  constructor(
    db: Kysely<Database>,
    private readonly rowLocks: boolean,
  ) {
    super(db);
  }

  async getOrderForUpdate(id: OrderId): Promise<OrderRecord | undefined> {
    if (!this.rowLocks) return this.getOrder(id);
    const row = await orderForUpdate.first<OrdersTable>(this.db, [id]);
    return row && rowToOrder(row);
  }

  /** RFC 8555 §7.3.1: a second account for the same key is a conflict naming the first. */
  async insertAccount(a: AccountRecord): Promise<void> {
    const result = await this.db.insertInto('accounts').values(accountToRow(a)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    if (result.numInsertedOrUpdatedRows !== 0n) return;
    const existing = await this.accountIdByKey(a.profile, a.jwkThumbprint);
    if (existing !== undefined) throw new ConflictError(`an account for key ${a.jwkThumbprint} exists already`, existing);
    throw new ConflictError(`account ${a.id} exists already`, a.id);
  }

  /** A new key (RFC 8555 §7.3.5) that another account holds is a conflict naming that account. */
  async updateAccount(a: AccountRecord): Promise<void> {
    const { id: _id, profile: _profile, created_at: _created, ...row } = accountToRow(a);
    const result = await this.db
      .updateTable('accounts')
      .set(row)
      .where('id', '=', a.id)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('accounts as other')
              .select('other.id')
              .where('other.profile', '=', a.profile)
              .where('other.jwk_thumbprint', '=', a.jwkThumbprint)
              .where('other.id', '<>', a.id),
          ),
        ),
      )
      .executeTakeFirst()
      .catch((err: unknown) => {
        throw isUniqueViolation(err) ? new ConflictError(`an account for key ${a.jwkThumbprint} exists already`) : err;
      });
    if (result.numUpdatedRows !== 0n) return;
    const holder = await this.accountIdByKey(a.profile, a.jwkThumbprint);
    if (holder !== undefined && holder !== a.id) throw new ConflictError(`an account for key ${a.jwkThumbprint} exists already`, holder);
    throw new NotFoundError(`account ${a.id}`);
  }

  /** The order, then its new authorizations, then their challenges: three statements. */
  async insertOrder(o: OrderRecord, authzs: AuthzRecord[]): Promise<void> {
    try {
      await insertRows(this.db, 'orders', [orderToRow(o)]);
      if (authzs.length === 0) return;
      await insertRows(this.db, 'authorizations', authzs.map(authzToRow));
      const challenges = authzs.flatMap((a) => a.challenges.map((c, i) => challengeToRow(c, i)));
      if (challenges.length > 0) await insertRows(this.db, 'challenges', challenges);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`order ${o.id} or one of its authorizations exists already`);
      throw err;
    }
  }

  async updateOrder(o: OrderRecord): Promise<void> {
    const { id: _id, account_id: _account, profile: _profile, created_at: _created, ...row } = orderToRow(o);
    if ((await updateById(this.db, 'orders', row, o.id)) === 0n) throw new NotFoundError(`order ${o.id}`);
  }

  /**
   * Writes the authorization and each of its challenges, so what is written is what getAuthz reads
   * back. (updateChallenge alone is enough when only a challenge changed.)
   */
  async updateAuthz(a: AuthzRecord): Promise<void> {
    const row = authzToRow(a);
    const result = await this.db
      .updateTable('authorizations')
      .set({ status: row.status, expires: row.expires, updated_at: row.updated_at })
      .where('id', '=', a.id)
      .executeTakeFirst();
    expectOne(result, `authorization ${a.id}`);
    for (const c of a.challenges) await this.writeChallenge(c, a.id);
  }

  async updateChallenge(c: ChallengeRecord): Promise<void> {
    await this.writeChallenge(c, c.authzId);
  }

  /** A second certificate with a known serial is a conflict naming the stored one. */
  async insertCertificate(c: CertificateRecord): Promise<void> {
    if ((await insertRows(this.db, 'certificates', [certificateToRow(c)], { ignoreConflicts: true })) !== 0n) return;
    const existing = await this.db.selectFrom('certificates').select('id').where('serial', '=', c.serial).executeTakeFirst();
    throw new ConflictError(
      existing === undefined ? `certificate ${c.id} exists already` : `a certificate with serial ${c.serial} exists already`,
      existing?.id ?? c.id,
    );
  }

  async updateCertificate(c: CertificateRecord): Promise<void> {
    const { id: _id, order_id: _order, account_id: _account, profile: _profile, created_at: _created, ...row } = certificateToRow(c);
    expectOne(await this.db.updateTable('certificates').set(row).where('id', '=', c.id).executeTakeFirst(), `certificate ${c.id}`);
  }

  async insertEabKey(k: EabKeyRecord): Promise<void> {
    const result = await this.db.insertInto('eab_keys').values(eabKeyToRow(k)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    if (result.numInsertedOrUpdatedRows === 0n) throw new ConflictError(`EAB key ${k.kid} exists already`, k.kid);
  }

  async updateEabKey(k: EabKeyRecord): Promise<void> {
    const { kid: _kid, created_at: _created, ...row } = eabKeyToRow(k);
    expectOne(await this.db.updateTable('eab_keys').set(row).where('kid', '=', k.kid).executeTakeFirst(), `EAB key ${k.kid}`);
  }

  /**
   * One conditional UPDATE, so two reconcilers racing for an order cannot both win: the row is
   * taken only when unleased, when the lease ran out by `now`, or when `owner` already holds it.
   */
  async tryLease(orderId: OrderId, owner: string, until: Date, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('orders')
      .set({ lease_owner: owner, lease_until: toMs(until) })
      .where('id', '=', orderId)
      .where((eb) =>
        eb.or([
          eb('lease_owner', 'is', null),
          eb('lease_until', 'is', null),
          eb('lease_until', '<=', toMs(now)),
          eb('lease_owner', '=', owner),
        ]),
      )
      .executeTakeFirst();
    return result.numUpdatedRows !== 0n;
  }

  /** One conditional UPDATE (as tryLease): of several instances racing for a stale challenge, one takes it. */
  async claimStaleChallenge(id: ChallengeId, before: Date, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('challenges')
      .set({ updated_at: toMs(now) })
      .where('id', '=', id)
      .where('status', '=', sql.lit('processing'))
      .where('updated_at', '<=', toMs(before))
      .executeTakeFirst();
    return result.numUpdatedRows !== 0n;
  }

  private async writeChallenge(c: ChallengeRecord, authzId: string): Promise<void> {
    const result = await this.db
      .updateTable('challenges')
      .set(challengeUpdate(c))
      .where('id', '=', c.id)
      .where('authz_id', '=', authzId)
      .executeTakeFirst();
    expectOne(result, `challenge ${c.id}`);
  }

  private async accountIdByKey(profile: string, thumbprint: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .select('id')
      .where('profile', '=', profile)
      .where('jwk_thumbprint', '=', thumbprint)
      .executeTakeFirst();
    return row?.id;
  }
}
