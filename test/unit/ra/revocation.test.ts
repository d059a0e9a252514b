/**
 * revokeCert's write (src/ra/revocation.ts, RFC 8555 §7.6): the backend call runs outside any
 * transaction, so the certificate record may change meanwhile (a replacing order sets replacedBy,
 * RFC 9773 §5; the revocation poller learns an officer's revocation). The revocation is written
 * from a copy read inside its own transaction, so such a change is kept. Records live in a real
 * SQLite store; the connector's revoke() makes the concurrent change.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import * as x509 from '@peculiar/x509';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DAY_MS, TestClock, addMs } from '../../../src/lib/clock.js';
import { normalizeSerial } from '../../../src/protocol/serial.js';
import type { RaDeps } from '../../../src/ra/deps.js';
import type { ProfileRuntime } from '../../../src/ra/profiles.js';
import { Revocation } from '../../../src/ra/revocation.js';
import type { RevokeRequest } from '../../../src/sdk/connector.js';
import { ConnectorError } from '../../../src/sdk/errors.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import type { AccountRecord, CertificateRecord, OrderRecord, Store } from '../../../src/storage/store.js';
import { memoryLogger } from '../../helpers/memory-logger.js';
import { T0, accountRecord, certificateRecord, orderRecord } from '../../helpers/records.js';
import { inertConnector, problemOf, profileRuntime } from './helpers.js';

x509.cryptoProvider.set(globalThis.crypto);

let leafDer: Uint8Array;
let leafPem: string;

beforeAll(async () => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a11ce5e7',
    name: 'CN=www.example.test',
    notBefore: T0,
    notAfter: addMs(T0, 90 * DAY_MS),
    keys,
    signingAlgorithm: alg,
  });
  leafDer = new Uint8Array(cert.rawData);
  leafPem = cert.toString('pem');
});

describe('Revocation: the record is written from a fresh copy', () => {
  let store: Store;
  let clock: TestClock;
  let revocation: Revocation;
  let account: AccountRecord;
  let cert: CertificateRecord;
  /** What the backend does while it is asked to revoke: the test's concurrent change, then its answer. */
  let duringRevoke: () => Promise<void>;

  function endpoint(): ProfileRuntime {
    return profileRuntime({ revocationReasons: [0, 1, 4, 5] }, inertConnector({ revoke: (_req: RevokeRequest) => duringRevoke() }), 'web');
  }

  /** A second order of the same account that replaces `cert` (RFC 9773 `replaces`), committed now. */
  async function replaceMeanwhile(): Promise<OrderRecord> {
    const { order, authzs } = orderRecord(account, ['www.example.test']);
    await store.transaction(async (tx) => {
      await tx.insertOrder(order, authzs);
      const current = await tx.getCertificate(cert.id);
      if (!current) throw new Error('certificate gone');
      await tx.updateCertificate({ ...current, replacedBy: order.id });
    });
    return order;
  }

  beforeEach(async () => {
    store = await createSqlStore({ driver: 'sqlite', path: ':memory:' });
    clock = new TestClock(addMs(T0, 10 * DAY_MS));
    revocation = new Revocation({ store, clock, log: memoryLogger() } as unknown as RaDeps);
    account = accountRecord({ profile: 'web' });
    const { order, authzs } = orderRecord(account, ['www.example.test'], { status: 'valid' });
    cert = certificateRecord(order, { serial: normalizeSerial('0a11ce5e7'), chainPem: leafPem });
    await store.transaction(async (tx) => {
      await tx.insertAccount(account);
      await tx.insertOrder(order, authzs);
      await tx.insertCertificate(cert);
    });
    duringRevoke = () => Promise.resolve();
    return () => store.close();
  });

  it('keeps a replacedBy set by a replacing order while the backend revoked the certificate', async () => {
    let replacing: OrderRecord | undefined;
    duringRevoke = async () => {
      replacing = await replaceMeanwhile();
    };
    const revoked = await revocation.revoke(endpoint(), { kind: 'account', account }, leafDer, 4);
    expect(replacing).toBeDefined();
    expect(revoked).toMatchObject({ revokedAt: clock.now(), revocationReason: 4, replacedBy: replacing?.id });
    expect(await store.getCertificate(cert.id)).toMatchObject({ revokedAt: clock.now(), revocationReason: 4, replacedBy: replacing?.id });
  });

  it('keeps a replacedBy set meanwhile when the backend says the certificate was revoked already', async () => {
    let replacing: OrderRecord | undefined;
    duringRevoke = async () => {
      replacing = await replaceMeanwhile();
      throw new ConnectorError('already-revoked', 'revoked by an officer');
    };
    const p = await problemOf(() => revocation.revoke(endpoint(), { kind: 'account', account }, leafDer, 1));
    expect(p).toMatchObject({ type: 'alreadyRevoked', status: 400 });
    expect(await store.getCertificate(cert.id)).toMatchObject({ revokedAt: clock.now(), revocationReason: 1, replacedBy: replacing?.id });
  });

  it('keeps a revocation recorded meanwhile (the poller learned it) and answers alreadyRevoked (§7.6)', async () => {
    const learnedAt = addMs(T0, 9 * DAY_MS);
    duringRevoke = async () => {
      await store.transaction(async (tx) => {
        const current = await tx.getCertificate(cert.id);
        if (!current) throw new Error('certificate gone');
        await tx.updateCertificate({ ...current, revokedAt: learnedAt, revocationReason: 5 });
      });
    };
    const p = await problemOf(() => revocation.revoke(endpoint(), { kind: 'account', account }, leafDer, 4));
    expect(p).toMatchObject({ type: 'alreadyRevoked', status: 400 });
    expect(await store.getCertificate(cert.id)).toMatchObject({ revokedAt: learnedAt, revocationReason: 5 });
  });

  it('still refuses a certificate recorded as revoked before the request without asking the backend', async () => {
    await store.transaction((tx) => tx.updateCertificate({ ...cert, revokedAt: addMs(T0, DAY_MS), revocationReason: 1 }));
    duringRevoke = () => Promise.reject(new Error('the backend must not be asked'));
    expect(await problemOf(() => revocation.revoke(endpoint(), { kind: 'account', account }, leafDer, 4))).toMatchObject({ type: 'alreadyRevoked' });
    expect(await store.getCertificate(cert.id)).toMatchObject({ revocationReason: 1 });
  });
});
