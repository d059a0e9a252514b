/**
 * Renewal information (src/ra/ari.ts, RFC 9773): the certID of §4.1, the suggested window of §4.2
 * from the profile's shares, a window in the past once the certificate is revoked, and revocations
 * made in the legacy system learned through the connector. Records live in a real SQLite store.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { DAY_MS, SECOND_MS, TestClock, addMs } from '../../../src/lib/clock.js';
import { RenewalInfoService, certId, parseCertId } from '../../../src/ra/ari.js';
import type { ProfileRuntime } from '../../../src/ra/profiles.js';
import type { CertificateStatus, RevocationStatusSource } from '../../../src/sdk/connector.js';
import { ConnectorError } from '../../../src/sdk/errors.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import type { CertificateRecord, Store } from '../../../src/storage/store.js';
import { T0, accountRecord, certificateRecord, orderRecord } from '../../helpers/records.js';
import { memoryLogger } from '../../helpers/memory-logger.js';
import { inertConnector, problemOf, profileRuntime } from './helpers.js';

// RFC 9773 §4.1's example: AKI keyIdentifier 69:88:5B:...:C8:D4, serial 00:87:65:43:21.
const RFC_AKI = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ';
const RFC_CERT_ID = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';

describe('certId (RFC 9773 §4.1)', () => {
  it('builds the RFC\'s example identifier from the AKI and serial 0x0087654321', () => {
    expect(certId(RFC_AKI, '0087654321')).toBe(RFC_CERT_ID);
  });

  it('adds the leading zero byte a serial with its top bit set needs in DER', () => {
    expect(certId(RFC_AKI, '87654321')).toBe(RFC_CERT_ID);
  });

  it('reads serials written with colons and in upper case', () => {
    expect(certId(RFC_AKI, '00:87:65:43:21'.toUpperCase())).toBe(RFC_CERT_ID);
  });

  it('adds no zero byte to a serial whose top bit is clear, and pads an odd number of digits', () => {
    expect(certId(RFC_AKI, '7f')).toBe(`${RFC_AKI}.fw`);
    expect(certId(RFC_AKI, 'abc')).toBe(`${RFC_AKI}.Crw`);
  });
});

describe('parseCertId (RFC 9773 §4.1)', () => {
  it('reads the RFC\'s example back to its AKI and serial', () => {
    expect(parseCertId(RFC_CERT_ID)).toEqual({ authorityKeyId: RFC_AKI, serial: '87654321' });
  });

  it.each([
    ['no separator', RFC_AKI],
    ['three parts', `${RFC_CERT_ID}.AA`],
    ['an empty serial', `${RFC_AKI}.`],
    ['an empty AKI', '.AIdlQyE'],
    ['padding', 'aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE='],
    ['base64 instead of base64url', 'aYhba4dGQEHhs3u+e6CuLN4ByNQ.AIdlQyE'],
  ])('refuses an identifier with %s as malformed, naming it', async (_what, text) => {
    const p = await problemOf(() => parseCertId(text));
    expect(p).toMatchObject({ type: 'malformed', status: 400 });
    expect(p.detail).toContain(`"${text}" is not a certificate identifier`);
  });
});

/** A connector that can tell whether the backend revoked a certificate; the test sets the answer. */
class FakeRevocations implements RevocationStatusSource {
  answer: CertificateStatus | Error = { revoked: false };
  asked: string[] = [];
  certificateStatus(serial: string): Promise<CertificateStatus> {
    this.asked.push(serial);
    return this.answer instanceof Error ? Promise.reject(this.answer) : Promise.resolve(this.answer);
  }
}

describe('RenewalInfoService (RFC 9773 §4.2)', () => {
  let store: Store;
  let clock: TestClock;
  let log: ReturnType<typeof memoryLogger>;
  let backend: FakeRevocations;
  let service: RenewalInfoService;
  let plain: ProfileRuntime;
  let learning: ProfileRuntime;

  const AKI = 'q83vEjRWeJA';
  const NOT_AFTER = addMs(T0, 90 * DAY_MS);

  beforeEach(async () => {
    store = await createSqlStore({ driver: 'sqlite', path: ':memory:' });
    clock = new TestClock(addMs(T0, 10 * DAY_MS));
    log = memoryLogger();
    backend = new FakeRevocations();
    service = new RenewalInfoService({ store, clock, log });
    plain = profileRuntime({}, inertConnector(), 'web');
    learning = profileRuntime({}, inertConnector<RevocationStatusSource>({ certificateStatus: (serial) => backend.certificateStatus(serial) }), 'web');
    return () => store.close();
  });

  async function stored(over: Partial<CertificateRecord> = {}): Promise<{ cert: CertificateRecord; id: string }> {
    const account = accountRecord({ profile: 'web' });
    const { order, authzs } = orderRecord(account, ['www.example.test'], { status: 'valid' });
    const cert = certificateRecord(order, { serial: '5e71a1001', authorityKeyId: AKI, notBefore: T0, notAfter: NOT_AFTER, ...over });
    await store.transaction(async (tx) => {
      await tx.insertAccount(account);
      await tx.insertOrder(order, authzs);
      await tx.insertCertificate(cert);
    });
    return { cert, id: certId(cert.authorityKeyId ?? '', cert.serial) };
  }

  it('suggests renewing between two thirds and five sixths of the lifetime, retrying in 6 hours', async () => {
    const { id } = await stored();
    expect(await service.renewalInfo(plain, id)).toEqual({
      suggestedWindow: { start: '2030-03-02T00:00:00Z', end: '2030-03-17T00:00:00Z' },
      retryAfterSeconds: 21_600,
    });
  });

  it('places the window by the profile\'s ari shares', async () => {
    const { id } = await stored();
    const halfway = profileRuntime({ ari: { windowStart: 0.5, windowEnd: 0.25 } }, inertConnector(), 'web');
    expect((await service.renewalInfo(halfway, id)).suggestedWindow).toEqual({ start: '2030-02-15T00:00:00Z', end: '2030-03-09T12:00:00Z' });
  });

  it('gives a revoked certificate a window that ended before the revocation, so clients renew at once', async () => {
    const revokedAt = addMs(T0, 5 * DAY_MS);
    const { id } = await stored({ revokedAt, revocationReason: 1 });
    const info = await service.renewalInfo(plain, id);
    expect(info).toEqual({ suggestedWindow: { start: '2030-01-05T22:59:59Z', end: '2030-01-05T23:59:59Z' }, retryAfterSeconds: 3600 });
    expect(Date.parse(info.suggestedWindow.end)).toBeLessThan(revokedAt.getTime());
  });

  it('answers 404 for a certID no certificate has', async () => {
    await stored();
    const p = await problemOf(() => service.renewalInfo(plain, certId(AKI, '0badc0de')));
    expect(p).toMatchObject({ type: 'malformed', status: 404, detail: `certificate ${certId(AKI, '0badc0de')} does not exist` });
  });

  it('answers 404 when the certID\'s AKI is not the certificate\'s', async () => {
    const { cert } = await stored();
    expect((await problemOf(() => service.renewalInfo(plain, certId('AAAAAAAA', cert.serial)))).status).toBe(404);
  });

  it('answers 404 for a certificate issued under another profile', async () => {
    const { id } = await stored();
    expect((await problemOf(() => service.renewalInfo(profileRuntime({}, inertConnector(), 'partners'), id))).status).toBe(404);
  });

  describe('revocations made in the legacy system', () => {
    it('learns a revocation from the backend, records it and moves the window into the past', async () => {
      const { cert, id } = await stored();
      const revokedAt = addMs(T0, 9 * DAY_MS);
      backend.answer = { revoked: true, reason: 4, revokedAt };
      const info = await service.renewalInfo(learning, id);
      expect(Date.parse(info.suggestedWindow.end)).toBeLessThan(revokedAt.getTime());
      expect(await store.getCertificate(cert.id)).toMatchObject({ revokedAt, revocationReason: 4 });
      expect(log.lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'revocation learned from the backend', obj: expect.objectContaining({ serial: cert.serial, reason: 4 }) }));
    });

    it('records now and reason 0 when the backend gives neither', async () => {
      const { cert, id } = await stored();
      backend.answer = { revoked: true };
      await service.renewalInfo(learning, id);
      expect(await store.getCertificate(cert.id)).toMatchObject({ revokedAt: clock.now(), revocationReason: 0 });
    });

    it('asks the backend at most once a minute per certificate', async () => {
      const { id } = await stored();
      await service.renewalInfo(learning, id);
      clock.advance(59 * SECOND_MS);
      await service.renewalInfo(learning, id);
      clock.advance(SECOND_MS);
      await service.renewalInfo(learning, id);
      expect(backend.asked).toEqual(['5e71a1001', '5e71a1001']);
    });

    it('does not ask about a certificate already known to be revoked', async () => {
      const { id } = await stored({ revokedAt: addMs(T0, DAY_MS), revocationReason: 1 });
      await service.renewalInfo(learning, id);
      expect(backend.asked).toEqual([]);
    });

    it('answers from its own record, with a warning, when the backend cannot tell', async () => {
      const { id } = await stored();
      backend.answer = new ConnectorError('unavailable', 'connection refused');
      expect((await service.renewalInfo(learning, id)).suggestedWindow.start).toBe('2030-03-02T00:00:00Z');
      expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'backend revocation status unavailable; answering from the gateway record' }));
    });

    it('keeps what changed in the record while the backend was asked (a replacing order)', async () => {
      const { cert } = await stored();
      const account = accountRecord({ profile: 'web' });
      const replacing = orderRecord(account, ['www.example.test']);
      await store.transaction(async (tx) => {
        await tx.insertAccount(account);
        await tx.insertOrder(replacing.order, replacing.authzs);
        await tx.updateCertificate({ ...cert, replacedBy: replacing.order.id });
      });
      backend.answer = { revoked: true, reason: 4 };
      // `cert` is the copy read before the order replaced it.
      const learned = await service.learnRevocation(learning, cert, AbortSignal.timeout(1000));
      expect(learned).toMatchObject({ revocationReason: 4, replacedBy: replacing.order.id });
      expect(await store.getCertificate(cert.id)).toMatchObject({ revocationReason: 4, replacedBy: replacing.order.id });
    });

    it('lets an unexpected connector failure through', async () => {
      const { id } = await stored();
      backend.answer = new TypeError('bug in the connector');
      await expect(service.renewalInfo(learning, id)).rejects.toThrow(TypeError);
    });
  });
});
