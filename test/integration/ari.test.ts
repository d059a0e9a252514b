/**
 * Renewal information (RFC 9773) over HTTPS: renewalInfo in the directory, the suggested window of
 * an issued certificate from the profile's `ari` shares, refused certIDs, `replaces` in newOrder
 * (RFC 9773 §5), and revocation moving the window into the past: through ACME against the built-in
 * CA, and by an RA officer in the EJBCA double, which the gateway learns from the connector's
 * certificateStatus. The Debian lego (4.9.1) and certbot (2.1) have no ARI, nor does acme-client
 * 5.4, so a renewal after revocation is driven here with the raw client.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../../src/lib/clock.js';
import type { CertificateId, OrderId } from '../../src/storage/store.js';
import { startEjbcaDouble, type EjbcaDouble } from '../fakes/ejbca-ws/server.js';
import { certIdOf } from '../helpers/cert-id.js';
import { generateAccountKey } from '../helpers/jws-client.js';
import { Harness, b64u, expectJson, expectProblem, idOf, makeCsr, pemToDer, waitFor, type Actor, type AuthzJson, type Issued, type OrderJson } from './support.js';
import { ejbcaConnectorSection } from '../helpers/ejbca-connector.js';

const DAY_MS = 86_400_000;

interface RenewalInfoJson {
  suggestedWindow: { start: string; end: string };
  explanationURL?: string;
}

const serialOf = (pem: string) => new x509.X509Certificate(pem).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');

/** ISO 8601 at second precision, as the gateway writes window bounds. */
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('renewal information against the built-in CA', () => {
  let h: Harness;
  let dir: string;
  let alice: Actor;
  let bob: Actor;
  let counter = 0;
  const fresh = () => `c${++counter}.ari.example.test`;

  beforeAll(async () => {
    h = await Harness.start({ profiles: { default: { validity: { default: '8d', min: '1h', max: '30d' }, ari: { windowStart: 0.5, windowEnd: 0.25 } } } }, { validation: true });
    dir = h.directoryUrl();
    alice = await h.account();
    bob = await h.account();
  });
  afterAll(() => h?.stop());

  const renewalInfoUrl = async () => `${await alice.client.url('renewalInfo')}/`;
  const renewalInfo = async (certId: string) => h.raw('GET', `${await renewalInfoUrl()}${certId}`);
  const newOrder = async (actor: Actor, identifiers: string[], replaces?: string) =>
    actor.post(await actor.client.url('newOrder'), { identifiers: identifiers.map((value) => ({ type: 'dns', value })), ...(replaces ? { replaces } : {}) });

  it('lists renewalInfo in the directory (§3)', async () => {
    const body = expectJson<Record<string, unknown>>(await h.raw('GET', dir), 200, dir);
    expect(body.renewalInfo).toBe(dir.replace(/directory$/, 'renewal-info'));
  });

  it('answers a plain GET for an issued certificate with the window from the lifetime shares and Retry-After (§4.2)', async () => {
    const issued = await h.issue(alice, [fresh()]);
    const cert = new x509.X509Certificate(issued.leafPem);
    const res = await renewalInfo(certIdOf(issued.leafPem));
    const body = expectJson<RenewalInfoJson>(res, 200, dir);
    const life = cert.notAfter.getTime() - cert.notBefore.getTime();
    expect(life).toBe(8 * DAY_MS);
    // ari: { windowStart: 0.5, windowEnd: 0.25 }: opens with half the lifetime left, closes with a quarter left.
    expect(body.suggestedWindow).toEqual({ start: iso(cert.notAfter.getTime() - life / 2), end: iso(cert.notAfter.getTime() - life / 4) });
    expect(new Date(body.suggestedWindow.start).getTime()).toBeGreaterThan(Date.now());
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  });

  it('refuses a certID that is not one with 400 malformed naming it', async () => {
    for (const bad of ['not-a-cert-id', 'AAAA.BBBB.CCCC', '.AAAA']) {
      const doc = expectProblem(await renewalInfo(bad), 400, 'malformed', dir);
      expect(doc.detail).toContain(bad);
    }
  });

  it('answers a certID of no certificate issued here with 404', async () => {
    const unknown = `${Buffer.from('no such authority key').toString('base64url')}.${Buffer.from([0x01, 0x02, 0x03]).toString('base64url')}`;
    expectProblem(await renewalInfo(unknown), 404, 'malformed', dir);
  });

  describe('replaces (§5)', () => {
    let original: Issued;
    let certId: string;
    let name: string;
    beforeAll(async () => {
      name = fresh();
      original = await h.issue(alice, [name]);
      certId = certIdOf(original.leafPem);
    });

    it('accepts a replacement order, echoes replaces and records it', async () => {
      const res = await newOrder(alice, [name], certId);
      const order = expectJson<OrderJson & { replaces?: string }>(res, 201, dir);
      expect(order.replaces).toBe(certId);
      const stored = await h.store.getOrder(idOf(res.headers.get('location') ?? '') as OrderId);
      expect(stored?.policy).toMatchObject({ replaces: certId });
      expect((await h.store.getCertificate(idOf(original.certUrl) as CertificateId))?.replacedBy).toBe(stored?.id);
    });

    it('refuses a second replacement of the same certificate with 409 alreadyReplaced', async () => {
      const doc = expectProblem(await newOrder(alice, [name], certId), 409, 'alreadyReplaced', dir);
      expect(doc.detail).toContain(certId);
    });

    it('accepts a new replacement once the replacing order is invalid', async () => {
      const replacing = await h.store.getCertificate(idOf(original.certUrl) as CertificateId);
      const holder = await h.store.getOrder(replacing?.replacedBy as OrderId);
      const authzUrl = `${dir.replace(/directory$/, 'authz/')}${holder?.authzIds[0]}`;
      const deactivated = await alice.post(authzUrl, { status: 'deactivated' });
      expect(expectJson<AuthzJson>(deactivated, 200, dir).status).toBe('deactivated');
      expect((await h.store.getOrder(holder?.id as OrderId))?.status).toBe('invalid');

      const res = await newOrder(alice, [name], certId);
      expect(expectJson<OrderJson & { replaces?: string }>(res, 201, dir).replaces).toBe(certId);
    });

    it('refuses to replace another account\'s certificate with unauthorized', async () => {
      const bobs = fresh();
      const other = await h.issue(bob, [bobs]);
      const doc = expectProblem(await newOrder(alice, [bobs], certIdOf(other.leafPem)), 403, 'unauthorized', dir);
      expect(doc.detail).toContain('another account');
      expect((await h.store.getCertificate(idOf(other.certUrl) as CertificateId))?.replacedBy ?? null).toBeNull();
    });

    it('refuses replaces naming no certificate of this profile, and one sharing no identifier, with malformed', async () => {
      const unknown = `${certId.split('.')[0]}.${Buffer.from([0x7f, 0x7f]).toString('base64url')}`;
      expect(expectProblem(await newOrder(alice, [name], unknown), 400, 'malformed', dir).detail).toContain(unknown);
      const mine = await h.issue(alice, [fresh()]);
      expect(expectProblem(await newOrder(alice, ['unrelated.ari.example.test'], certIdOf(mine.leafPem)), 400, 'malformed', dir).detail).toContain('shares no identifier');
    });
  });

  it('moves the window into the past once the certificate is revoked through ACME', async () => {
    const issued = await h.issue(alice, [fresh()]);
    const certId = certIdOf(issued.leafPem);
    const before = expectJson<RenewalInfoJson>(await renewalInfo(certId), 200, dir);
    expect(new Date(before.suggestedWindow.start).getTime()).toBeGreaterThan(Date.now());

    const revoked = await alice.post(await alice.client.url('revokeCert'), { certificate: b64u(pemToDer(issued.leafPem)), reason: 4 });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    const res = await renewalInfo(certId);
    const after = expectJson<RenewalInfoJson>(res, 200, dir);
    expect(new Date(after.suggestedWindow.end).getTime()).toBeLessThan(Date.now());
    expect(new Date(after.suggestedWindow.start).getTime()).toBeLessThan(new Date(after.suggestedWindow.end).getTime());
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  });
});

describe('renewal information when an officer revokes in the EJBCA double', () => {
  // The gateway asks the backend at most once a minute per certificate; this clock lets the test
  // move past that. It starts a minute back, so certificates made at startup are valid for TLS.
  const clock = new TestClock(new Date(Date.now() - 60_000));
  let ejbca: EjbcaDouble;
  let h: Harness;
  let work: string;
  let dir: string;

  beforeAll(async () => {
    ejbca = await startEjbcaDouble({ clock });
    work = await mkdtemp(path.join(tmpdir(), 'acme-gw-ari-ejbca-'));
    h = await Harness.start(
      {
        connectors: {
          ejbca: await ejbcaConnectorSection(ejbca, work),
        },
        profiles: { legacy: { connector: 'ejbca', template: 'SERVER', challenges: ['http-01'], registrationCacheTtl: '0s' } },
        defaultProfile: 'legacy',
      },
      { validation: true, gateway: { clock } },
    );
    dir = h.directoryUrl('legacy');
  });
  afterAll(async () => {
    await h?.stop();
    await ejbca?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('answers the next renewalInfo with a window in the past, and a renewal with replaces is issued', async () => {
    const alice = await h.account({ profile: 'legacy' });
    const name = 'officer.ari.example.test';
    const issued = await h.issue(alice, [name]);
    const certId = certIdOf(issued.leafPem);
    const url = `${await alice.client.url('renewalInfo')}/${certId}`;

    const before = expectJson<RenewalInfoJson>(await h.raw('GET', url), 200, dir);
    expect(new Date(before.suggestedWindow.start).getTime()).toBeGreaterThan(clock.now().getTime());

    // The officer, in the EJBCA admin GUI; the gateway hears nothing of it until it asks.
    ejbca.control.revoke(serialOf(issued.leafPem), 1);
    clock.advance(61_000);

    const res = await h.raw('GET', url);
    const after = expectJson<RenewalInfoJson>(res, 200, dir);
    const end = new Date(after.suggestedWindow.end).getTime();
    expect(end).toBeLessThan(clock.now().getTime());
    expect(end).toBeLessThan(Date.now());
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    // The gateway recorded what it learned from the backend.
    const stored = await h.store.getCertificate(idOf(issued.certUrl) as CertificateId);
    expect(stored?.revocationReason).toBe(1);
    expect(stored?.revokedAt).toBeInstanceOf(Date);

    // The client renews at once, saying which certificate the new one replaces.
    const order = await alice.post(await alice.client.url('newOrder'), { identifiers: [{ type: 'dns', value: name }], replaces: certId });
    const body = expectJson<OrderJson & { replaces?: string }>(order, 201, dir);
    expect(body.replaces).toBe(certId);
    const ready = await h.makeReady(alice, { url: order.headers.get('location') ?? '', body });
    expect(ready.status).toBe('ready');
    const fin = await alice.post(ready.finalize, { csr: b64u(await makeCsr([name], await generateAccountKey())) });
    expect(fin.status, JSON.stringify(fin.body)).toBe(200);
    const orderUrl = order.headers.get('location') ?? '';
    const done = await waitFor('renewal valid', () => h.fetchJson<OrderJson>(alice, orderUrl), (o) => o.status !== 'processing');
    expect(done.status, JSON.stringify(done.error)).toBe('valid');
    const renewed = await h.store.getCertificate(idOf(done.certificate ?? '') as CertificateId);
    expect(renewed?.serial).not.toBe(serialOf(issued.leafPem));
    expect(ejbca.state.revocationStatus(stored?.issuer ?? '', renewed?.serial ?? '')?.reason).toBe(-1);
    expect(ejbca.protocolErrors).toEqual([]);
  });
});
