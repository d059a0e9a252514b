/**
 * The Store contract, run against every SQL driver: SQLite in a temporary file and PostgreSQL on
 * the local server (a fresh schema per test, dropped afterwards). A PostgreSQL that cannot be
 * reached fails these tests; it never skips them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSqlStore, type SqlStoreOptions } from '../../src/storage/sql/index.js';
import {
  ConflictError,
  NotFoundError,
  type AccountRecord,
  type AuthzId,
  type AuthzRecord,
  type CertificateId,
  type ChallengeId,
  type ChallengeRecord,
  type OrderId,
  type OrderRecord,
  type Store,
} from '../../src/storage/store.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, addMs } from '../../src/lib/clock.js';
import { T0, accountRecord, authzRecord, certificateRecord, eabKeyRecord, orderRecord } from '../helpers/records.js';
import { dropPgSchema, freshPgSchema, PG_URL } from '../helpers/pg.js';


interface Subject {
  name: 'sqlite' | 'postgres';
  /** Options for a fresh, empty store, and how to throw it away afterwards. */
  prepare(): Promise<{ options: SqlStoreOptions; dispose(): Promise<void> }>;
}

const subjects: Subject[] = [
  {
    name: 'sqlite',
    async prepare() {
      const dir = await mkdtemp(join(tmpdir(), 'acme-gateway-store-'));
      return {
        options: { driver: 'sqlite', path: join(dir, 'gateway.db') },
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    async prepare() {
      const schema = freshPgSchema();
      return {
        options: { driver: 'postgres', url: PG_URL, poolSize: 4, schema },
        dispose: () => dropPgSchema(schema),
      };
    },
  },
];

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.each(subjects)('store contract: $name', (subject) => {
  let options: SqlStoreOptions;
  let store: Store;

  beforeEach(async () => {
    const prepared = await subject.prepare();
    options = prepared.options;
    store = await createSqlStore(options);
    return async () => {
      await store.close();
      await prepared.dispose();
    };
  });

  const addAccount = async (over: Partial<AccountRecord> = {}): Promise<AccountRecord> => {
    const account = accountRecord(over);
    await store.transaction((tx) => tx.insertAccount(account));
    return account;
  };
  const addOrder = async (account: AccountRecord, names?: string[], over: Partial<OrderRecord> = {}) => {
    const created = orderRecord(account, names, over);
    await store.transaction((tx) => tx.insertOrder(created.order, created.authzs));
    return created;
  };

  describe('accounts', () => {
    it('reads an inserted account back by id and by profile and key thumbprint', async () => {
      const account = await addAccount({ eabKid: 'kid-1', registrationId: 'reg-7', contact: ['mailto:a@example.test', 'mailto:b@example.test'] });
      expect(await store.getAccount(account.id)).toEqual(account);
      expect(await store.findAccountByThumbprint(account.profile, account.jwkThumbprint)).toEqual(account);
    });

    it('finds nothing for an unknown id, or for a known key under another profile', async () => {
      const account = await addAccount();
      expect(await store.getAccount('acct-missing' as AccountRecord['id'])).toBeUndefined();
      expect(await store.findAccountByThumbprint('other-profile', account.jwkThumbprint)).toBeUndefined();
    });

    it('refuses a second account for the same key and profile, naming the first', async () => {
      const first = await addAccount();
      const second = accountRecord({ jwkThumbprint: first.jwkThumbprint });
      const attempt = store.transaction((tx) => tx.insertAccount(second));
      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ existingId: first.id });
      expect(await store.getAccount(second.id)).toBeUndefined();
    });

    it('accepts the same key under another profile', async () => {
      const first = await addAccount();
      const other = await addAccount({ jwkThumbprint: first.jwkThumbprint, profile: 'internal' });
      expect(await store.findAccountByThumbprint('internal', first.jwkThumbprint)).toEqual(other);
    });

    it('refuses a second account with the same id', async () => {
      const first = await addAccount();
      await expect(store.transaction((tx) => tx.insertAccount(accountRecord({ id: first.id })))).rejects.toBeInstanceOf(ConflictError);
    });

    it('keeps the transaction usable after a conflict the caller handles', async () => {
      const first = await addAccount();
      const winner = await store.transaction(async (tx) => {
        const err = await tx.insertAccount(accountRecord({ jwkThumbprint: first.jwkThumbprint })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        const existing = await tx.getAccount((err as ConflictError).existingId as AccountRecord['id']);
        await tx.insertEabKey(eabKeyRecord({ kid: 'after-conflict' }));
        return existing;
      });
      expect(winner).toEqual(first);
      expect(await store.getEabKey('after-conflict')).toBeDefined();
    });

    it('stores an updated account, including a new key (RFC 8555 §7.3.5)', async () => {
      const account = await addAccount();
      const updated: AccountRecord = {
        ...account,
        status: 'deactivated',
        contact: [],
        jwk: { kty: 'OKP', crv: 'Ed25519', x: 'new' },
        jwkThumbprint: 'jkt-rolled-over',
        termsAgreedAt: null,
        termsAgreedVersion: null,
        registrationId: 'reg-9',
        updatedAt: addMs(T0, HOUR_MS),
      };
      await store.transaction((tx) => tx.updateAccount(updated));
      expect(await store.getAccount(account.id)).toEqual(updated);
      expect(await store.findAccountByThumbprint(account.profile, 'jkt-rolled-over')).toEqual(updated);
      expect(await store.findAccountByThumbprint(account.profile, account.jwkThumbprint)).toBeUndefined();
    });

    it('refuses to move an account to a key another account holds, naming that account', async () => {
      const holder = await addAccount();
      const mover = await addAccount();
      const attempt = store.transaction((tx) => tx.updateAccount({ ...mover, jwkThumbprint: holder.jwkThumbprint }));
      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ existingId: holder.id });
      expect(await store.getAccount(mover.id)).toEqual(mover);
    });

    it('throws NotFoundError when updating an account that does not exist', async () => {
      await expect(store.transaction((tx) => tx.updateAccount(accountRecord()))).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('orders', () => {
    it('reads an inserted order and its authorizations back', async () => {
      const account = await addAccount();
      const { order, authzs } = await addOrder(account, ['a.example.test', 'b.example.test']);
      expect(await store.getOrder(order.id)).toEqual(order);
      expect(await store.getAuthzs(order.authzIds)).toEqual(authzs);
      expect(await store.getOrder('order-missing' as OrderId)).toBeUndefined();
    });

    it('round-trips every optional order field with its type', async () => {
      const account = await addAccount();
      const csr = Uint8Array.from([0x30, 0x82, 0x01, 0x0a, 0x00, 0xff]);
      const { order } = await addOrder(account, ['c.example.test'], {
        status: 'processing',
        notBefore: T0,
        notAfter: addMs(T0, 30 * DAY_MS),
        error: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'backend busy', status: 503 },
        csr,
        ticket: 'ticket-42',
        nextCheckAt: addMs(T0, MINUTE_MS),
        issuanceAttempts: 3,
        leaseOwner: 'node-a',
        leaseUntil: addMs(T0, 2 * MINUTE_MS),
        policy: { template: 'tls-server', validation: 'http-01', refusals: [] },
      });
      const stored = await store.getOrder(order.id);
      expect(stored).toEqual(order);
      expect(Object.getPrototypeOf(stored?.csr)).toBe(Uint8Array.prototype);
      expect(stored?.expires).toBeInstanceOf(Date);
      expect(stored?.nextCheckAt).toBeInstanceOf(Date);
    });

    it('stores an updated order', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const cert = certificateRecord(order);
      const updated: OrderRecord = {
        ...order,
        status: 'valid',
        certificateId: cert.id,
        csr: null,
        ticket: null,
        nextCheckAt: null,
        issuanceAttempts: 1,
        updatedAt: addMs(T0, HOUR_MS),
      };
      await store.transaction(async (tx) => {
        await tx.insertCertificate(cert);
        await tx.updateOrder(updated);
      });
      expect(await store.getOrder(order.id)).toEqual(updated);
    });

    it('throws NotFoundError when updating an order that does not exist', async () => {
      const account = await addAccount();
      const { order } = orderRecord(account);
      await expect(store.transaction((tx) => tx.updateOrder(order))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('refuses a second order with the same id', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const again = orderRecord(account, ['other.example.test'], { id: order.id });
      await expect(store.transaction((tx) => tx.insertOrder(again.order, again.authzs))).rejects.toBeInstanceOf(ConflictError);
    });

    it('lists an account’s orders newest first over three pages', async () => {
      const account = await addAccount();
      const other = await addAccount();
      const ids: OrderId[] = [];
      for (const i of range(7)) {
        // Two orders per millisecond, so the id breaks ties in the paging key.
        const { order } = await addOrder(account, [`n${i}.example.test`], { createdAt: addMs(T0, Math.floor(i / 2)) });
        ids.push(order.id);
      }
      await addOrder(other, ['other.example.test'], { createdAt: addMs(T0, 100) });
      const newestFirst = [...ids].reverse();

      const page1 = await store.listOrders(account.id, null, 3);
      expect(page1.items).toEqual(newestFirst.slice(0, 3));
      expect(page1.next).not.toBeNull();
      const page2 = await store.listOrders(account.id, page1.next, 3);
      expect(page2.items).toEqual(newestFirst.slice(3, 6));
      expect(page2.next).not.toBeNull();
      const page3 = await store.listOrders(account.id, page2.next, 3);
      expect(page3).toEqual({ items: newestFirst.slice(6), next: null });
    });

    it('ends the list with next null when the last page is exactly full', async () => {
      const account = await addAccount();
      for (const i of range(2)) await addOrder(account, [`full${i}.example.test`], { createdAt: addMs(T0, i) });
      const page = await store.listOrders(account.id, null, 2);
      expect(page.items).toHaveLength(2);
      expect(page.next).toBeNull();
    });

    it('lists no orders for an account without any', async () => {
      const account = await addAccount();
      expect(await store.listOrders(account.id, null, 10)).toEqual({ items: [], next: null });
    });

    it('throws NotFoundError for a cursor it did not issue', async () => {
      const account = await addAccount();
      await expect(store.listOrders(account.id, 'not a cursor!', 10)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('lists due orders by next check time, oldest first, up to the limit', async () => {
      const account = await addAccount();
      const now = addMs(T0, HOUR_MS);
      const late = await addOrder(account, ['late.example.test'], { nextCheckAt: addMs(now, -MINUTE_MS) });
      const early = await addOrder(account, ['early.example.test'], { nextCheckAt: addMs(now, -HOUR_MS) });
      const exact = await addOrder(account, ['exact.example.test'], { nextCheckAt: now });
      await addOrder(account, ['future.example.test'], { nextCheckAt: addMs(now, 1) });
      await addOrder(account, ['idle.example.test'], { nextCheckAt: null });

      const due = await store.listDueOrders(now, 10);
      expect(due.map((o) => o.id)).toEqual([early.order.id, late.order.id, exact.order.id]);
      expect(due[0]).toEqual(early.order);
      expect((await store.listDueOrders(now, 2)).map((o) => o.id)).toEqual([early.order.id, late.order.id]);
    });
  });

  describe('authorizations and challenges', () => {
    it('returns authorizations with their challenges in order, following the ids asked for', async () => {
      const account = await addAccount();
      const { order, authzs } = await addOrder(account, ['x.example.test', 'y.example.test', 'z.example.test']);
      const [a, b, c] = authzs;
      expect(await store.getAuthz(a!.id)).toEqual(a);
      expect(await store.getAuthzs([c!.id, 'authz-missing' as AuthzId, a!.id, c!.id])).toEqual([c, a]);
      expect(await store.getAuthzs([])).toEqual([]);
      expect(await store.getAuthz('authz-missing' as AuthzId)).toBeUndefined();
      expect(b!.challenges.map((ch) => ch.type)).toEqual(['http-01', 'dns-01']);
      expect(order.authzIds).toEqual(authzs.map((z) => z.id));
    });

    it('stores an updated authorization together with its challenges', async () => {
      const account = await addAccount();
      const { authzs } = await addOrder(account);
      const authz = authzs[0]!;
      const [http, dns] = authz.challenges;
      const validatedAt = addMs(T0, MINUTE_MS);
      const updated = {
        ...authz,
        status: 'valid' as const,
        expires: addMs(T0, 30 * DAY_MS),
        updatedAt: validatedAt,
        challenges: [
          { ...http!, status: 'valid' as const, validatedAt, updatedAt: validatedAt, validationRecord: [{ url: 'http://x/.well-known', addressUsed: '127.0.0.1' }] },
          dns!,
        ],
      };
      await store.transaction((tx) => tx.updateAuthz(updated));
      expect(await store.getAuthz(authz.id)).toEqual(updated);
    });

    it('throws NotFoundError when updating an authorization that does not exist', async () => {
      const account = await addAccount();
      const authz = authzRecord(account, 'order-missing' as OrderId, { type: 'dns', value: 'gone.example.test' });
      await expect(store.transaction((tx) => tx.updateAuthz(authz))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('stores an updated challenge and reads it by id', async () => {
      const account = await addAccount();
      const { authzs } = await addOrder(account);
      const challenge = authzs[0]!.challenges[1]!;
      const updated = {
        ...challenge,
        status: 'invalid' as const,
        error: { type: 'urn:ietf:params:acme:error:dns', detail: 'no TXT record at _acme-challenge.www.example.test', status: 400 },
        validationRecord: [{ hostname: 'www.example.test' }],
        updatedAt: addMs(T0, MINUTE_MS),
      };
      await store.transaction((tx) => tx.updateChallenge(updated));
      expect(await store.getChallenge(challenge.id)).toEqual(updated);
      expect((await store.getAuthz(challenge.authzId))?.challenges[1]).toEqual(updated);
      expect(await store.getChallenge('chall-missing' as ChallengeId)).toBeUndefined();
    });

    it('lists challenges left in processing since before a time, of pending unexpired authorizations, oldest first', async () => {
      const account = await addAccount();
      const now = addMs(T0, HOUR_MS);
      const before = addMs(now, -MINUTE_MS);
      const processing = async (name: string, since: Date, authzOver: Partial<AuthzRecord> = {}): Promise<ChallengeRecord> => {
        const { authzs } = await addOrder(account, [name]);
        const authz = { ...authzs[0]!, ...authzOver };
        const challenge: ChallengeRecord = { ...authz.challenges[0]!, status: 'processing', updatedAt: since };
        await store.transaction((tx) => tx.updateAuthz({ ...authz, challenges: [challenge, authz.challenges[1]!] }));
        return challenge;
      };
      const older = await processing('older.example.test', addMs(before, -HOUR_MS));
      const old = await processing('old.example.test', addMs(before, -MINUTE_MS));
      const exact = await processing('exact.example.test', before);
      await processing('recent.example.test', addMs(before, 1));
      await processing('expired.example.test', T0, { expires: now });
      await processing('deactivated.example.test', T0, { status: 'deactivated' });
      await addOrder(account, ['pending.example.test']); // pending challenges, updated at T0

      const stale = await store.listStaleChallenges(before, now, 10);
      expect(stale.map((c) => c.id)).toEqual([older.id, old.id, exact.id]);
      expect(stale[0]).toEqual(older);
      expect((await store.listStaleChallenges(before, now, 2)).map((c) => c.id)).toEqual([older.id, old.id]);
    });

    it('lets one of several racing instances claim a stale challenge, and none claim a fresh or decided one', async () => {
      const account = await addAccount();
      const { authzs } = await addOrder(account);
      const authz = authzs[0]!;
      const [http, dns] = authz.challenges;
      const before = addMs(T0, MINUTE_MS);
      const now = addMs(T0, HOUR_MS);
      await store.transaction((tx) => tx.updateAuthz({ ...authz, challenges: [{ ...http!, status: 'processing' }, dns!] }));
      const claim = (id: ChallengeId, at: Date) => store.transaction((tx) => tx.claimStaleChallenge(id, before, at));

      const results = await Promise.all(range(4).map(() => claim(http!.id, now)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.getChallenge(http!.id)).toMatchObject({ status: 'processing', updatedAt: now });
      // Claimed: no longer stale for the same cut-off.
      expect(await claim(http!.id, addMs(now, 1))).toBe(false);
      expect(await store.listStaleChallenges(before, now, 10)).toEqual([]);
      // A pending challenge is not taken, nor one that is missing.
      expect(await claim(dns!.id, now)).toBe(false);
      expect(await claim('chall-missing' as ChallengeId, now)).toBe(false);
    });

    it('throws NotFoundError when updating a challenge that does not exist', async () => {
      const account = await addAccount();
      const { authzs } = await addOrder(account);
      const ghost = { ...authzs[0]!.challenges[0]!, id: 'chall-missing' as ChallengeId };
      await expect(store.transaction((tx) => tx.updateChallenge(ghost))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('finds only the account’s valid, unexpired authorizations for the identifier', async () => {
      const account = await addAccount();
      const stranger = await addAccount();
      const now = addMs(T0, DAY_MS);
      const name = 'reuse.example.test';
      const make = async (owner: AccountRecord, value: string, status: 'valid' | 'pending' | 'invalid', expires: Date, wildcard = false) => {
        const { order } = orderRecord(owner, [value]);
        const authz = authzRecord(owner, order.id, { type: 'dns', value }, { status, expires, wildcard });
        await store.transaction((tx) => tx.insertOrder({ ...order, authzIds: [authz.id] }, [authz]));
        return authz;
      };
      const longLived = await make(account, name, 'valid', addMs(now, 20 * DAY_MS));
      const wildcard = await make(account, name, 'valid', addMs(now, 10 * DAY_MS), true);
      await make(account, name, 'valid', now); // expires at now: no longer usable
      await make(account, name, 'pending', addMs(now, DAY_MS));
      await make(account, name, 'invalid', addMs(now, DAY_MS));
      await make(account, 'other.example.test', 'valid', addMs(now, DAY_MS));
      await make(stranger, name, 'valid', addMs(now, DAY_MS));

      const found = await store.findValidAuthzs(account.id, { type: 'dns', value: name }, now);
      expect(found).toEqual([longLived, wildcard]);
      expect(await store.findValidAuthzs(account.id, { type: 'ip', value: name }, now)).toEqual([]);
    });
  });

  describe('certificates', () => {
    it('reads an inserted certificate back by id and by serial', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const cert = certificateRecord(order);
      await store.transaction((tx) => tx.insertCertificate(cert));
      expect(await store.getCertificate(cert.id)).toEqual(cert);
      expect(await store.findCertificateBySerial(cert.serial)).toEqual(cert);
      expect(await store.getCertificate('cert-missing' as CertificateId)).toBeUndefined();
      expect(await store.findCertificateBySerial('00')).toBeUndefined();
    });

    it('refuses a second certificate with a known serial, naming the first', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const first = certificateRecord(order);
      await store.transaction((tx) => tx.insertCertificate(first));
      const attempt = store.transaction((tx) => tx.insertCertificate(certificateRecord(order, { serial: first.serial })));
      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ existingId: first.id });
    });

    it('stores a revocation (RFC 5280 reason code)', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const cert = certificateRecord(order);
      await store.transaction((tx) => tx.insertCertificate(cert));
      const revoked = { ...cert, revokedAt: addMs(T0, DAY_MS), revocationReason: 1 };
      await store.transaction((tx) => tx.updateCertificate(revoked));
      expect(await store.getCertificate(cert.id)).toEqual(revoked);
    });

    it('stores the ARI certID half and the replacing order (RFC 9773 §5)', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const { order: renewal } = await addOrder(account);
      const cert = certificateRecord(order, { authorityKeyId: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ' });
      await store.transaction((tx) => tx.insertCertificate(cert));
      expect((await store.getCertificate(cert.id))?.replacedBy).toBeNull();
      await store.transaction((tx) => tx.updateCertificate({ ...cert, replacedBy: renewal.id }));
      expect(await store.findCertificateBySerial(cert.serial)).toEqual({ ...cert, replacedBy: renewal.id });
    });

    it('throws NotFoundError when updating a certificate that does not exist', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      await expect(store.transaction((tx) => tx.updateCertificate(certificateRecord(order)))).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('certificates to poll for revocation', () => {
    /** Every page from the start, `limit` at a time. */
    async function walk(now: Date, limit: number): Promise<{ ids: CertificateId[]; pages: number }> {
      const ids: CertificateId[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.listUnrevokedCertificates(now, cursor, limit);
        ids.push(...page.items.map((c) => c.id));
        cursor = page.next;
        pages++;
      } while (cursor !== null);
      return { ids, pages };
    }

    it('lists certificates neither revoked nor expired, soonest to expire first, page by page', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const now = addMs(T0, 10 * DAY_MS);
      const certs = [
        certificateRecord(order, { id: 'cert-c' as CertificateId, notAfter: addMs(T0, 30 * DAY_MS) }),
        certificateRecord(order, { id: 'cert-a' as CertificateId, notAfter: addMs(T0, 30 * DAY_MS) }), // same notAfter: by id
        certificateRecord(order, { id: 'cert-b' as CertificateId, notAfter: addMs(T0, 20 * DAY_MS) }),
        certificateRecord(order, { id: 'cert-d' as CertificateId, notAfter: addMs(T0, 90 * DAY_MS) }),
        certificateRecord(order, { id: 'cert-expired' as CertificateId, notAfter: addMs(T0, 5 * DAY_MS) }),
        certificateRecord(order, { id: 'cert-ends-now' as CertificateId, notAfter: now }),
        certificateRecord(order, { id: 'cert-revoked' as CertificateId, notAfter: addMs(T0, 60 * DAY_MS), revokedAt: addMs(T0, DAY_MS), revocationReason: 1 }),
      ];
      await store.transaction(async (tx) => {
        for (const c of certs) await tx.insertCertificate(c);
      });

      const first = await store.listUnrevokedCertificates(now, null, 2);
      expect(first.items).toEqual([certs[2], certs[1]]);
      expect(first.next).not.toBeNull();
      expect(await walk(now, 2)).toEqual({ ids: ['cert-b', 'cert-a', 'cert-c', 'cert-d'], pages: 2 });
      expect(await walk(now, 3)).toEqual({ ids: ['cert-b', 'cert-a', 'cert-c', 'cert-d'], pages: 2 });
      expect(await walk(now, 4)).toEqual({ ids: ['cert-b', 'cert-a', 'cert-c', 'cert-d'], pages: 1 });
      // Later, fewer are left.
      expect((await walk(addMs(T0, 25 * DAY_MS), 10)).ids).toEqual(['cert-a', 'cert-c', 'cert-d']);
    });

    it('leaves out a certificate revoked between two pages, and goes on after the cursor', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const certs = range(4).map((i) => certificateRecord(order, { id: `cert-${i}` as CertificateId, notAfter: addMs(T0, (i + 1) * DAY_MS) }));
      await store.transaction(async (tx) => {
        for (const c of certs) await tx.insertCertificate(c);
      });
      const first = await store.listUnrevokedCertificates(T0, null, 2);
      await store.transaction((tx) => tx.updateCertificate({ ...(certs[2] as (typeof certs)[number]), revokedAt: T0, revocationReason: 4 }));
      const second = await store.listUnrevokedCertificates(T0, first.next, 2);
      expect(second).toEqual({ items: [certs[3]], next: null });
    });

    it('answers an empty page for a store without certificates, and refuses a cursor it never gave', async () => {
      expect(await store.listUnrevokedCertificates(T0, null, 10)).toEqual({ items: [], next: null });
      await expect(store.listUnrevokedCertificates(T0, 'not-a-cursor', 10)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.listUnrevokedCertificates(T0, null, 0)).rejects.toBeInstanceOf(RangeError);
    });
  });

  describe('job leases (one instance runs a background job)', () => {
    it('gives a free lease to one owner, and to another only once it has run out', async () => {
      const lease = (owner: string, until: Date, now: Date) => store.tryJobLease('revocation-poll', owner, until, now);

      expect(await lease('node-a', addMs(T0, MINUTE_MS), T0)).toBe(true);
      expect(await lease('node-b', addMs(T0, 2 * MINUTE_MS), addMs(T0, 30_000))).toBe(false);
      // The holder may extend its own lease; another job's lease is separate.
      expect(await lease('node-a', addMs(T0, 2 * MINUTE_MS), addMs(T0, 30_000))).toBe(true);
      expect(await store.tryJobLease('other-job', 'node-b', addMs(T0, MINUTE_MS), addMs(T0, 30_000))).toBe(true);
      expect(await lease('node-b', addMs(T0, 3 * MINUTE_MS), addMs(T0, 2 * MINUTE_MS - 1))).toBe(false);
      // Run out exactly at `now`: free again, and the old holder has lost it.
      expect(await lease('node-b', addMs(T0, 3 * MINUTE_MS), addMs(T0, 2 * MINUTE_MS))).toBe(true);
      expect(await lease('node-a', addMs(T0, 4 * MINUTE_MS), addMs(T0, 2 * MINUTE_MS))).toBe(false);
    });

    it('lets exactly one of several racing owners take a free lease', async () => {
      const results = await Promise.all(['node-a', 'node-b', 'node-c', 'node-d'].map((owner) => store.tryJobLease('revocation-poll', owner, addMs(T0, MINUTE_MS), T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('EAB keys', () => {
    it('reads an inserted key back, its HMAC key as a plain Uint8Array', async () => {
      const key = eabKeyRecord({ registrationId: 'reg-1', maxBindings: 5 });
      await store.transaction((tx) => tx.insertEabKey(key));
      const stored = await store.getEabKey(key.kid);
      expect(stored).toEqual(key);
      expect(Object.getPrototypeOf(stored?.hmacKey)).toBe(Uint8Array.prototype);
      expect(await store.getEabKey('kid-missing')).toBeUndefined();
    });

    it('refuses a second key with the same kid', async () => {
      const key = eabKeyRecord();
      await store.transaction((tx) => tx.insertEabKey(key));
      await expect(store.transaction((tx) => tx.insertEabKey(eabKeyRecord({ kid: key.kid })))).rejects.toBeInstanceOf(ConflictError);
    });

    it('stores a revoked key, and refuses to update a key that does not exist', async () => {
      const key = eabKeyRecord();
      await store.transaction((tx) => tx.insertEabKey(key));
      const revoked = { ...key, revokedAt: addMs(T0, DAY_MS) };
      await store.transaction((tx) => tx.updateEabKey(revoked));
      expect(await store.getEabKey(key.kid)).toEqual(revoked);
      await expect(store.transaction((tx) => tx.updateEabKey(eabKeyRecord()))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('counts the accounts bound to a key', async () => {
      const key = eabKeyRecord({ maxBindings: 3 });
      await store.transaction((tx) => tx.insertEabKey(key));
      expect(await store.countAccountsForEab(key.kid)).toBe(0);
      await addAccount({ eabKid: key.kid });
      await addAccount({ eabKid: key.kid });
      await addAccount({ eabKid: 'another-kid' });
      expect(await store.countAccountsForEab(key.kid)).toBe(2);
    });
  });

  describe('accounts by registration and by EAB key', () => {
    it('lists the accounts of one registration, oldest first, and none of another', async () => {
      const first = await addAccount({ registrationId: 'ee-42', createdAt: T0 });
      const second = await addAccount({ registrationId: 'ee-42', createdAt: addMs(T0, DAY_MS) });
      await addAccount({ registrationId: 'ee-7' });
      expect((await store.listAccountsByRegistration('ee-42')).map((a) => a.id)).toEqual([first.id, second.id]);
      expect(await store.listAccountsByRegistration('ee-missing')).toEqual([]);
    });

    it('lists the accounts bound through one EAB key', async () => {
      const bound = await addAccount({ eabKid: 'kid-a' });
      await addAccount({ eabKid: 'kid-b' });
      expect(await store.listAccountsByEab('kid-a')).toEqual([bound]);
    });
  });

  describe('shared nonces and secrets (several instances)', () => {
    it('accepts a nonce once and refuses it the second time (RFC 8555 §6.5)', async () => {
      expect(await store.useNonce('n-1', addMs(T0, HOUR_MS))).toBe(true);
      expect(await store.useNonce('n-1', addMs(T0, HOUR_MS))).toBe(false);
      expect(await store.useNonce('n-2', addMs(T0, HOUR_MS))).toBe(true);
    });

    it('forgets used nonces once they expired', async () => {
      await store.useNonce('old', addMs(T0, MINUTE_MS));
      await store.useNonce('young', addMs(T0, HOUR_MS));
      expect(await store.pruneNonces(addMs(T0, 2 * MINUTE_MS))).toBe(1);
      expect(await store.useNonce('young', addMs(T0, HOUR_MS))).toBe(false);
    });

    it('keeps the first value of a named secret, whoever asks later', async () => {
      const first = await store.sharedSecret('nonce-hmac', () => new Uint8Array(32).fill(1));
      const second = await store.sharedSecret('nonce-hmac', () => new Uint8Array(32).fill(2));
      expect(second).toEqual(first);
      expect(first).toEqual(new Uint8Array(32).fill(1));
    });
  });

  describe('order locks', () => {
    it('makes a second transaction holding the same order wait until the first commits, then see its writes', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const log: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const first = store.transaction(async (tx) => {
        await tx.getOrderForUpdate(order.id);
        log.push('first locked');
        await held;
        await tx.updateOrder({ ...order, status: 'ready' });
        log.push('first wrote');
      });
      // Give the first transaction the lock before the second asks for it.
      while (log.length === 0) await new Promise((r) => setImmediate(r));
      const second = store.transaction(async (tx) => {
        const seen = await tx.getOrderForUpdate(order.id);
        log.push(`second saw ${seen?.status}`);
      });
      await new Promise((r) => setTimeout(r, 50));
      release();
      await Promise.all([first, second]);
      expect(log).toEqual(['first locked', 'first wrote', 'second saw ready']);
    });
  });

  describe('reconciler lease', () => {
    it('gives a free lease to one owner, and to another only once it has run out', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const lease = (owner: string, until: Date, now: Date) => store.transaction((tx) => tx.tryLease(order.id, owner, until, now));

      expect(await lease('node-a', addMs(T0, MINUTE_MS), T0)).toBe(true);
      expect(await lease('node-b', addMs(T0, 2 * MINUTE_MS), addMs(T0, 30_000))).toBe(false);
      // The holder may extend its own lease.
      expect(await lease('node-a', addMs(T0, 2 * MINUTE_MS), addMs(T0, 30_000))).toBe(true);
      expect(await store.getOrder(order.id)).toMatchObject({ leaseOwner: 'node-a', leaseUntil: addMs(T0, 2 * MINUTE_MS) });
      expect(await lease('node-b', addMs(T0, 3 * MINUTE_MS), addMs(T0, 2 * MINUTE_MS - 1))).toBe(false);
      // Run out exactly at `now`: free again.
      expect(await lease('node-b', addMs(T0, 3 * MINUTE_MS), addMs(T0, 2 * MINUTE_MS))).toBe(true);
      expect(await store.getOrder(order.id)).toMatchObject({ leaseOwner: 'node-b', leaseUntil: addMs(T0, 3 * MINUTE_MS) });
    });

    it('lets exactly one of two racing owners take a lease', async () => {
      const account = await addAccount();
      const { order } = await addOrder(account);
      const until = addMs(T0, MINUTE_MS);
      const results = await Promise.all(
        ['node-a', 'node-b'].map((owner) => store.transaction((tx) => tx.tryLease(order.id, owner, until, T0))),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('takes no lease on an order that does not exist', async () => {
      expect(await store.transaction((tx) => tx.tryLease('order-missing' as OrderId, 'node-a', addMs(T0, MINUTE_MS), T0))).toBe(false);
    });
  });

  describe('transactions', () => {
    it('returns what the function returns', async () => {
      expect(await store.transaction(async (tx) => (await tx.getAccount('acct-missing' as AccountRecord['id'])) ?? 'none')).toBe('none');
    });

    it('leaves nothing behind when the function throws, and rethrows its error', async () => {
      const account = accountRecord();
      const { order, authzs } = orderRecord(account);
      const boom = new Error('handler failed');
      await expect(
        store.transaction(async (tx) => {
          await tx.insertAccount(account);
          await tx.insertOrder(order, authzs);
          expect(await tx.getOrder(order.id)).toEqual(order);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.getAccount(account.id)).toBeUndefined();
      expect(await store.getOrder(order.id)).toBeUndefined();
      expect(await store.getAuthzs(order.authzIds)).toEqual([]);
    });

    it('commits 50 concurrent transactions, and rolls back only the ones that throw', async () => {
      const account = await addAccount();
      const created = range(50).map((i) => orderRecord(account, [`c${i}.example.test`], { createdAt: addMs(T0, i) }));
      const outcomes = await Promise.allSettled(
        created.map(({ order, authzs }, i) =>
          store.transaction(async (tx) => {
            await tx.insertOrder(order, authzs);
            if (i % 5 === 0) throw new Error(`transaction ${i} gives up`);
            return (await tx.getOrder(order.id))?.id;
          }),
        ),
      );
      expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(10);
      const page = await store.listOrders(account.id, null, 100);
      const kept = created.filter((_, i) => i % 5 !== 0).map((c) => c.order.id).reverse();
      expect(page.items).toEqual(kept);
    });

    // SQLite only: PostgreSQL runs transactions side by side on its pool, as it should.
    if (subject.name !== 'sqlite') return;
    it('runs concurrent transactions one at a time on SQLite, the single writer', async () => {
      const account = await addAccount({ contact: [] });
      let running = 0;
      let mostAtOnce = 0;
      await Promise.all(
        range(50).map((i) =>
          store.transaction(async (tx) => {
            running += 1;
            mostAtOnce = Math.max(mostAtOnce, running);
            // Read, then write what was read plus one: any interleaving would lose an update.
            const current = await tx.getAccount(account.id);
            await tx.updateAccount({ ...account, contact: [...(current?.contact ?? []), `mailto:${i}@example.test`] });
            running -= 1;
          }),
        ),
      );
      expect(mostAtOnce).toBe(1);
      expect((await store.getAccount(account.id))?.contact).toHaveLength(50);
    });
  });

  it('keeps its data and re-runs no migration when opened again', async () => {
    const account = await addAccount();
    await store.close();
    store = await createSqlStore(options);
    expect(await store.getAccount(account.id)).toEqual(account);
  });
});
