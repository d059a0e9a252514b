/**
 * revokeCert (RFC 8555 §7.6): by the issuing account, by the certificate key, by another account
 * holding authorizations for every name; refused reasons, a second revocation, garbage. A refused
 * revocation leaves the certificate unrevoked in the store and off the CRL.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import * as x509 from '@peculiar/x509';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey } from '../helpers/jws-client.js';
import { Harness, b64u, expectAcmeHeaders, expectProblem, idOf, pemToDer, type Actor, type Issued } from './support.js';

let h: Harness;
let dir: string;
let revokeUrl: string;
let alice: Actor; // issues every certificate here
let bob: Actor; // holds valid authorizations for the shared names
let carol: Actor; // holds none

const SHARED = ['shared.revoke.example.test', 'www.shared.revoke.example.test'];
let counter = 0;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: {} } }, { validation: true });
  dir = h.directoryUrl();
  alice = await h.account();
  bob = await h.account();
  carol = await h.account();
  revokeUrl = await alice.client.url('revokeCert');
  await h.readyOrder(bob, SHARED); // bob's authorizations for both names are now valid
});
afterAll(() => h?.stop());

/** A fresh certificate issued to alice, for unique names or for `names`. */
function issue(names?: string[]): Promise<Issued> {
  counter += 1;
  return h.issue(alice, names ?? [`c${counter}.revoke.example.test`]);
}

function serialOf(pem: string): string {
  return new x509.X509Certificate(pem).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
}

async function stored(issued: Issued) {
  return h.store.getCertificate(idOf(issued.certUrl) as never);
}

/** The built-in CA's CRL from the gateway over HTTPS, serial → reason (undefined when absent). */
async function crl(): Promise<Map<string, number | undefined>> {
  const dispatcher = new Agent({ connect: { ca: h.gw.caPem } });
  try {
    const res = await fetch(`${h.gw.baseUrl}/crl/embedded.crl`, { dispatcher });
    expect(res.status).toBe(200);
    const list = new x509.X509Crl(new Uint8Array(await res.arrayBuffer()));
    return new Map(list.entries.map((e) => [e.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''), e.reason]));
  } finally {
    await dispatcher.close();
  }
}

/** A refused revocation: the problem, the certificate still unrevoked in the store and not on the CRL. */
async function refused(res: Awaited<ReturnType<Actor['post']>>, issued: Issued, status: number, type: string) {
  const doc = expectProblem(res, status, type, dir);
  expect((await stored(issued))?.revokedAt).toBeNull();
  expect((await crl()).has(serialOf(issued.leafPem))).toBe(false);
  return doc;
}

function expectRevoked(res: Awaited<ReturnType<Actor['post']>>): void {
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body ?? '').toBe('');
  expectAcmeHeaders(res, dir);
}

describe('who may revoke (RFC 8555 §7.6)', () => {
  it('lets the issuing account revoke (200), records it and lists the serial on the CRL', async () => {
    const issued = await issue();
    expectRevoked(await alice.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)), reason: 4 }));
    const record = await stored(issued);
    expect(record?.revokedAt).toBeInstanceOf(Date);
    expect(record?.revocationReason).toBe(4);
    expect((await crl()).get(serialOf(issued.leafPem))).toBe(4);
  });

  it('omits the CRL reason code when the request gives none (§7.6: "SHOULD omit the reasonCode")', async () => {
    const issued = await issue();
    expectRevoked(await alice.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)) }));
    const entries = await crl();
    expect(entries.has(serialOf(issued.leafPem))).toBe(true);
    expect(entries.get(serialOf(issued.leafPem))).toBeUndefined();
  });

  it('accepts a request signed by the certificate key, with that key as jwk (200)', async () => {
    const issued = await issue();
    const holder = h.client(issued.certKey);
    const res = await holder.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)), reason: 1 }, { jwk: true });
    expectRevoked(res);
    expect((await stored(issued))?.revocationReason).toBe(1);
    expect((await crl()).get(serialOf(issued.leafPem))).toBe(1);
  });

  it('refuses a jwk that is not the certificate key as unauthorized', async () => {
    const issued = await issue();
    const stranger = h.client(await generateAccountKey());
    await refused(await stranger.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)) }, { jwk: true }), issued, 403, 'unauthorized');
  });

  it('lets another account holding valid authorizations for every name revoke (200)', async () => {
    const issued = await issue(SHARED);
    expectRevoked(await bob.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)) }));
    expect((await stored(issued))?.revokedAt).toBeInstanceOf(Date);
    expect((await crl()).has(serialOf(issued.leafPem))).toBe(true);
  });

  it('refuses another account without those authorizations as unauthorized', async () => {
    const issued = await issue(SHARED);
    await refused(await carol.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)) }), issued, 403, 'unauthorized');
  });

  it('refuses an account holding authorizations for some of the names only as unauthorized', async () => {
    const issued = await issue([SHARED[0] ?? '', 'only-alice.revoke.example.test']);
    await refused(await bob.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)) }), issued, 403, 'unauthorized');
  });
});

describe('reasons (RFC 8555 §7.6, RFC 5280 §5.3.1)', () => {
  let issued: Issued;
  beforeAll(async () => {
    issued = await issue();
  });

  it.each([2, 6])('refuses reason %i, which the profile does not allow, with badRevocationReason listing the allowed ones', async (reason) => {
    const doc = await refused(await alice.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)), reason }), issued, 400, 'badRevocationReason');
    // §7.6: "The problem document detail SHOULD indicate which reasonCodes are allowed."
    expect(doc.detail).toMatch(/0, 1, 3, 4, 5/);
  });

  it.each([7, 11, -1])('refuses reason %i, which RFC 5280 does not define, with badRevocationReason', async (reason) => {
    await refused(await alice.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)), reason }), issued, 400, 'badRevocationReason');
  });
});

describe('refusals (RFC 8555 §7.6)', () => {
  it('answers a second revocation with alreadyRevoked, keeping the first reason', async () => {
    const issued = await issue();
    expectRevoked(await alice.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)), reason: 5 }));
    const first = await stored(issued);
    expectProblem(await alice.post(revokeUrl, { certificate: b64u(pemToDer(issued.leafPem)), reason: 4 }), 400, 'alreadyRevoked', dir);
    expect(await stored(issued)).toEqual(first);
    expect((await crl()).get(serialOf(issued.leafPem))).toBe(5);
  });

  it.each([
    ['not a certificate', b64u(Buffer.from('hello, certificate'))],
    ['not base64url', '%%%'],
  ])('refuses a certificate that is %s as malformed', async (_what, certificate) => {
    expectProblem(await alice.post(revokeUrl, { certificate }), 400, 'malformed', dir);
  });

  it('refuses a payload without certificate as malformed', async () => {
    expectProblem(await alice.post(revokeUrl, { reason: 1 }), 400, 'malformed', dir);
  });
});
