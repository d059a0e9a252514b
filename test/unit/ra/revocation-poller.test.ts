/**
 * The revocation status poller (src/ra/revocation-poller.ts): rounds walk the certificates neither
 * revoked nor expired page by page, ask each one's connector a few at a time with a deadline, and
 * record revocations through RenewalInfoService, after which renewalInfo answers without the
 * backend. One instance polls at a time under the job lease. Rounds are run by hand with runOnce()
 * on a TestClock and a real SQLite store; the race for the lease also on PostgreSQL.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DAY_MS, MINUTE_MS, TestClock, addMs } from '../../../src/lib/clock.js';
import { RenewalInfoService, certId } from '../../../src/ra/ari.js';
import { RevocationPoller, type PollOutcome, type RevocationPollerOptions, type RoundOutcome } from '../../../src/ra/revocation-poller.js';
import type { ProfileRuntime } from '../../../src/ra/profiles.js';
import type { CertificateStatus, RevocationStatusSource } from '../../../src/sdk/connector.js';
import { ConnectorError } from '../../../src/sdk/errors.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import type { CertificateRecord, Store } from '../../../src/storage/store.js';
import { memoryLogger } from '../../helpers/memory-logger.js';
import { T0, accountRecord, certificateRecord, orderRecord } from '../../helpers/records.js';
import { inertConnector, profileRuntime } from './helpers.js';
import { dropPgSchema, freshPgSchema, PG_URL } from '../../helpers/pg.js';

/** The backend: revocations an officer made, how long an answer takes, which serials fail. */
class Backend implements RevocationStatusSource {
  revoked = new Map<string, CertificateStatus>();
  failing = new Set<string>();
  /** Serials whose answer never comes (until the call is aborted). */
  hanging = new Set<string>();
  delayMs = 0;
  asked: string[] = [];
  inFlight = 0;
  mostInFlight = 0;

  async certificateStatus(serial: string, _issuer: string, signal: AbortSignal): Promise<CertificateStatus> {
    this.asked.push(serial);
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    try {
      if (this.hanging.has(serial)) {
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new ConnectorError('unavailable', 'timed out')), { once: true }));
      }
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.failing.has(serial)) throw new ConnectorError('unavailable', 'connection refused');
      return this.revoked.get(serial) ?? { revoked: false };
    } finally {
      this.inFlight--;
    }
  }
}

describe('RevocationPoller', () => {
  let store: Store;
  let clock: TestClock;
  let log: ReturnType<typeof memoryLogger>;
  let backend: Backend;
  let ari: RenewalInfoService;
  let endpoints: Map<string, ProfileRuntime>;
  let outcomes: PollOutcome[];
  let rounds: RoundOutcome[];

  const NOW = addMs(T0, 10 * DAY_MS);

  beforeEach(async () => {
    store = await createSqlStore({ driver: 'sqlite', path: ':memory:' });
    clock = new TestClock(NOW);
    log = memoryLogger();
    backend = new Backend();
    ari = new RenewalInfoService({ store, clock, log });
    endpoints = new Map([
      ['web', profileRuntime({}, inertConnector<RevocationStatusSource>({ certificateStatus: (s, i, sig) => backend.certificateStatus(s, i, sig) }), 'web')],
      ['plain', profileRuntime({}, inertConnector(), 'plain')],
    ]);
    outcomes = [];
    rounds = [];
    return () => store.close();
  });

  const poller = (over: Partial<RevocationPollerOptions> = {}) =>
    new RevocationPoller(
      { store, clock, log, renewalInfo: ari, endpoints },
      { intervalMs: 15 * MINUTE_MS, concurrency: 2, timeoutMs: 1000, batchSize: 2, instanceId: 'gw-a', metrics: { certificate: (o) => outcomes.push(o), round: (r) => rounds.push(r) }, ...over },
    );

  /** `n` certificates of endpoint `profile`, expiring a day apart from 20 days after T0. */
  async function certificates(n: number, profile = 'web', over: Partial<CertificateRecord> = {}): Promise<CertificateRecord[]> {
    const account = accountRecord({ profile });
    const { order, authzs } = orderRecord(account, ['www.example.test'], { status: 'valid' });
    const certs = Array.from({ length: n }, (_, i) => certificateRecord(order, { authorityKeyId: 'q83vEjRWeJA', notAfter: addMs(T0, (20 + i) * DAY_MS), ...over }));
    await store.transaction(async (tx) => {
      await tx.insertAccount(account);
      await tx.insertOrder(order, authzs);
      for (const c of certs) await tx.insertCertificate(c);
    });
    return certs;
  }

  it('asks about every live certificate once, page by page, and records what an officer revoked', async () => {
    const certs = await certificates(5);
    const [expired] = await certificates(1, 'web', { notAfter: addMs(T0, 5 * DAY_MS) });
    const [known] = await certificates(1, 'web', { revokedAt: T0, revocationReason: 4 });
    const officer = certs[3] as CertificateRecord;
    backend.revoked.set(officer.serial, { revoked: true, reason: 1, revokedAt: addMs(T0, 9 * DAY_MS) });

    const round = await poller().runOnce();

    expect(round).toMatchObject({ outcome: 'done', good: 4, revoked: 1, errors: 0, skipped: 0 });
    expect([...backend.asked].sort()).toEqual(certs.map((c) => c.serial).sort());
    expect(backend.asked).not.toContain(expired?.serial);
    expect(backend.asked).not.toContain(known?.serial);
    expect(await store.getCertificate(officer.id)).toMatchObject({ revokedAt: addMs(T0, 9 * DAY_MS), revocationReason: 1 });
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'revocation learned from the backend', obj: expect.objectContaining({ serial: officer.serial, reason: 1 }) }));
    expect(outcomes.filter((o) => o === 'good')).toHaveLength(4);
    expect(rounds).toEqual(['done']);
  });

  it('lets renewalInfo answer a window in the past from the record, without asking the backend', async () => {
    const [cert] = await certificates(1);
    backend.revoked.set(cert?.serial ?? '', { revoked: true, reason: 1, revokedAt: addMs(T0, 9 * DAY_MS) });
    await poller().runOnce();
    const asked = backend.asked.length;
    clock.advance(DAY_MS); // past renewalInfo's own one-minute cache
    const info = await ari.renewalInfo(endpoints.get('web') as ProfileRuntime, certId('q83vEjRWeJA', cert?.serial ?? ''));
    expect(Date.parse(info.suggestedWindow.end)).toBeLessThan(addMs(T0, 9 * DAY_MS).getTime());
    expect(backend.asked).toHaveLength(asked);
  });

  it('does not ask again about a certificate it found revoked', async () => {
    const [cert] = await certificates(2);
    backend.revoked.set(cert?.serial ?? '', { revoked: true });
    await poller().runOnce();
    backend.asked = [];
    expect(await poller().runOnce()).toMatchObject({ good: 1, revoked: 0 });
    expect(backend.asked).not.toContain(cert?.serial);
  });

  it('keeps at most `concurrency` status calls in flight', async () => {
    await certificates(9);
    backend.delayMs = 5;
    await poller({ concurrency: 3, batchSize: 9 }).runOnce();
    expect(backend.asked).toHaveLength(9);
    expect(backend.mostInFlight).toBe(3);
  });

  it('counts and logs a failing or silent backend, goes on with the others, and never throws', async () => {
    const certs = await certificates(4);
    backend.failing.add(certs[0]?.serial ?? '');
    backend.hanging.add(certs[1]?.serial ?? '');
    backend.revoked.set(certs[3]?.serial ?? '', { revoked: true, reason: 5 });

    const round = await poller({ timeoutMs: 50 }).runOnce();

    expect(round).toMatchObject({ outcome: 'done', good: 1, revoked: 1, errors: 2 });
    const warned = log.lines.filter((l) => l.msg === 'revocation status unavailable; will ask again next round');
    expect(warned.map((l) => (l.obj as { serial: string }).serial).sort()).toEqual([certs[0]?.serial, certs[1]?.serial].sort());
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'revocation poll round', obj: expect.objectContaining({ errors: 2, revoked: 1 }) }));
    expect(outcomes.filter((o) => o === 'error')).toHaveLength(2);
  });

  it('reports a round whose store fails as failed, without throwing', async () => {
    await certificates(1);
    await store.close();
    const round = await poller().runOnce();
    expect(round).toMatchObject({ outcome: 'failed' });
    expect(round.error).toBeTruthy();
    store = await createSqlStore({ driver: 'sqlite', path: ':memory:' }); // for the cleanup
  });

  it('skips certificates of endpoints that cannot tell, or that no longer exist', async () => {
    await certificates(2, 'plain');
    await certificates(1, 'gone');
    await certificates(1, 'web');
    expect(await poller().runOnce()).toMatchObject({ good: 1, skipped: 3, errors: 0 });
    expect(backend.asked).toHaveLength(1);
  });

  it('lets one instance poll at a time: another waits until the lease has run out', async () => {
    await certificates(1);
    const a = poller({ instanceId: 'gw-a' });
    const b = poller({ instanceId: 'gw-b' });
    expect((await a.runOnce()).outcome).toBe('done');
    expect((await b.runOnce()).outcome).toBe('lease-held');
    expect(backend.asked).toHaveLength(1);
    clock.advance(15 * MINUTE_MS);
    expect((await b.runOnce()).outcome).toBe('done');
    expect((await a.runOnce()).outcome).toBe('lease-held');
    expect(b.lastRound()).toMatchObject({ outcome: 'done', good: 1 });
  });

  it('is enabled only with an interval and an endpoint whose connector can tell', () => {
    expect(poller().enabled).toBe(true);
    expect(poller({ intervalMs: 0 }).enabled).toBe(false);
    endpoints.delete('web');
    expect(poller().enabled).toBe(false);
  });

  it('cuts the round in flight short on stop(), counting no errors', async () => {
    const certs = await certificates(3);
    for (const c of certs) backend.hanging.add(c.serial);
    const p = poller({ intervalMs: 10, timeoutMs: 60_000 });
    p.start();
    while (backend.asked.length === 0) await new Promise((r) => setTimeout(r, 5));
    await p.stop();
    expect(p.lastRound()).toMatchObject({ outcome: 'stopped', errors: 0 });
    expect(backend.inFlight).toBe(0);
  });
});

describe('RevocationPoller instances racing on one PostgreSQL database', () => {

  it('lets exactly one of them poll', async () => {
    const schema = freshPgSchema();
    const stores = [await createSqlStore({ driver: 'postgres', url: PG_URL, poolSize: 2, schema })];
    stores.push(await createSqlStore({ driver: 'postgres', url: PG_URL, poolSize: 2, schema }));
    try {
      const first = stores[0] as Store;
      const account = accountRecord({ profile: 'web' });
      const { order, authzs } = orderRecord(account, ['www.example.test'], { status: 'valid' });
      await first.transaction(async (tx) => {
        await tx.insertAccount(account);
        await tx.insertOrder(order, authzs);
        for (let i = 0; i < 3; i++) await tx.insertCertificate(certificateRecord(order, { notAfter: addMs(T0, (20 + i) * DAY_MS) }));
      });
      const clock = new TestClock(addMs(T0, 10 * DAY_MS));
      const asked: string[] = [];
      const connector = inertConnector<RevocationStatusSource>({ certificateStatus: (serial) => (asked.push(serial), Promise.resolve({ revoked: false })) });
      const endpoints = new Map([['web', profileRuntime({}, connector, 'web')]]);
      const pollers = ['gw-a', 'gw-b', 'gw-c', 'gw-d'].map((instanceId, i) => {
        const store = stores[i % 2] as Store;
        return new RevocationPoller(
          { store, clock, log: memoryLogger(), renewalInfo: new RenewalInfoService({ store, clock, log: memoryLogger() }), endpoints },
          { intervalMs: 15 * MINUTE_MS, concurrency: 2, timeoutMs: 1000, batchSize: 2, instanceId },
        );
      });
      const rounds = await Promise.all(pollers.map((p) => p.runOnce()));
      expect(rounds.map((r) => r.outcome).sort()).toEqual(['done', 'lease-held', 'lease-held', 'lease-held']);
      expect(asked).toHaveLength(3);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await dropPgSchema(schema);
    }
  });
});
