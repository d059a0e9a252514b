/**
 * finalize (RFC 8555 §7.4) and the certificate resource (§7.4.2), against the built-in CA.
 * A refused CSR leaves the order ready (§7.4: "SHOULD leave the order in the ready state").
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey } from '../helpers/jws-client.js';
import { Harness, b64u, expectAcmeHeaders, expectJson, expectProblem, idOf, makeCsr, pemBlocks, type Actor, type OrderJson } from './support.js';

const DAY_MS = 86_400_000;
let h: Harness;
let dir: string;
let alice: Actor;
let mallory: Actor;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: {} } }, { validation: true });
  dir = h.directoryUrl();
  alice = await h.account();
  mallory = await h.account();
});
afterAll(() => h?.stop());

async function storedOrder(url: string) {
  return h.store.getOrder(idOf(url) as never);
}

/** A CSR refused with badCSR; the order stays ready, in the response to POST-as-GET and in the store. */
async function refusedCsr(order: { url: string; body: OrderJson }, csr: string) {
  const before = await storedOrder(order.url);
  const doc = expectProblem(await alice.post(order.body.finalize, { csr }), 400, 'badCSR', dir);
  expect((await h.fetchJson<OrderJson>(alice, order.url)).status).toBe('ready');
  expect(await storedOrder(order.url)).toEqual(before);
  return doc;
}

describe('finalize (RFC 8555 §7.4)', () => {
  const names = ['final.example.test', 'www.final.example.test'];
  let ready: { url: string; body: OrderJson };
  beforeAll(async () => {
    ready = await h.readyOrder(alice, names);
  });

  it('refuses an order that is not ready with 403 orderNotReady, changing nothing', async () => {
    const pending = await h.order(alice, ['pending.final.example.test']);
    const before = await storedOrder(pending.url);
    const key = await generateAccountKey();
    const res = await alice.post(pending.body.finalize, { csr: b64u(await makeCsr(['pending.final.example.test'], key)) });
    expectProblem(res, 403, 'orderNotReady', dir);
    expect(await storedOrder(pending.url)).toEqual(before);
  });

  it('refuses a CSR for other names with badCSR naming them', async () => {
    const doc = await refusedCsr(ready, b64u(await makeCsr(['other.example.test', ...names], await generateAccountKey())));
    expect(doc.detail).toContain('other.example.test');
  });

  it('refuses a CSR that lacks one of the order\'s names with badCSR', async () => {
    await refusedCsr(ready, b64u(await makeCsr([names[0] ?? ''], await generateAccountKey())));
  });

  it('refuses a CSR whose common name is not one of the order\'s names with badCSR', async () => {
    await refusedCsr(ready, b64u(await makeCsr(names, await generateAccountKey(), { cn: 'cn.example.test' })));
  });

  it('refuses a CSR with an RSA 1024 key with badCSR naming the key type', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const keys = {
      privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), alg, true, ['sign']),
      publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ format: 'der', type: 'spki' }), alg, true, ['verify']),
    };
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${names[0]}`,
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })))],
    });
    const doc = await refusedCsr(ready, b64u(new Uint8Array(csr.rawData)));
    expect(doc.detail).toContain('rsa-1024');
  });

  it('refuses a CSR for the account key itself with badCSR (§11.1: "MUST verify that the public key in a CSR is not the same")', async () => {
    await refusedCsr(ready, b64u(await makeCsr(names, alice.key)));
  });

  it('refuses a CSR whose signature does not verify with badCSR', async () => {
    const der = await makeCsr(names, await generateAccountKey());
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    await refusedCsr(ready, b64u(der));
  });

  /** A good CSR for the order in base64url with "=" padding, which §6.1 says "MUST be rejected". */
  async function paddedCsr(): Promise<string> {
    for (let i = 0; i < 20; i++) {
      const encoded = b64u(await makeCsr(names, await generateAccountKey()));
      if (encoded.length % 4 !== 0) return encoded + '='.repeat(4 - (encoded.length % 4));
    }
    throw new Error('no CSR needing padding in 20 attempts');
  }

  it.each([
    ['not base64url', async () => '!!!not-base64url!!!'],
    ['a good CSR in base64 with "=" padding (§6.1: "MUST be rejected")', paddedCsr],
    ['DER that is not a CSR', async () => b64u(Buffer.from('3003020101', 'hex'))],
  ])('refuses a csr that is %s with badCSR', async (_what, csr) => {
    await refusedCsr(ready, await csr());
  });

  it('issues for a good CSR: 200, Location, order valid with a certificate URL', async () => {
    const order = await h.readyOrder(alice, ['issue.final.example.test']);
    const key = await generateAccountKey();
    const res = await alice.post(order.body.finalize, { csr: b64u(await makeCsr(['issue.final.example.test'], key)) });
    const body = expectJson<OrderJson>(res, 200, dir);
    expect(res.headers.get('location')).toBe(order.url);
    expect(['processing', 'valid']).toContain(body.status);
    const done = body.status === 'valid' ? body : await h.fetchJson<OrderJson>(alice, order.url);
    expect(done.status).toBe('valid');
    expect(done.certificate).toMatch(new RegExp(`^${dir.replace(/directory$/, 'cert/')}`));
    expect((await storedOrder(order.url))?.status).toBe('valid');
  });

  it('refuses to finalize a valid order again with orderNotReady, changing nothing', async () => {
    const issued = await h.issue(alice, ['twice.final.example.test']);
    const before = await storedOrder(issued.orderUrl);
    const res = await alice.post(issued.order.finalize, { csr: b64u(await makeCsr(['twice.final.example.test'], await generateAccountKey())) });
    expectProblem(res, 403, 'orderNotReady', dir);
    expect(await storedOrder(issued.orderUrl)).toEqual(before);
  });

  it('refuses another account\'s order as unauthorized, changing nothing', async () => {
    const order = await h.readyOrder(alice, ['foreign.final.example.test']);
    const before = await storedOrder(order.url);
    const res = await mallory.post(order.body.finalize, { csr: b64u(await makeCsr(['foreign.final.example.test'], await generateAccountKey())) });
    expectProblem(res, 403, 'unauthorized', dir);
    expect(await storedOrder(order.url)).toEqual(before);
  });

  it('refuses a payload without csr as malformed', async () => {
    expectProblem(await alice.post(ready.body.finalize, {}), 400, 'malformed', dir);
  });
});

describe('certificate (RFC 8555 §7.4.2)', () => {
  const names = ['cert.example.test', 'alt.cert.example.test'];
  let issued: Awaited<ReturnType<Harness['issue']>>;
  beforeAll(async () => {
    issued = await h.issue(alice, names);
  });

  it('serves the leaf and the issuing CA as application/pem-certificate-chain on POST-as-GET', async () => {
    const res = await alice.fetch(issued.certUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/pem-certificate-chain\b/);
    expectAcmeHeaders(res, dir);
    const blocks = pemBlocks(String(res.body));
    expect(blocks).toHaveLength(2);
    const [leaf, ca] = blocks.map((p) => new x509.X509Certificate(p));
    if (!leaf || !ca) throw new Error('chain incomplete');
    expect(leaf.issuer).toBe(ca.subject);
    expect(await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true })).toBe(true);
    expect(ca.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
  });

  it('issues a leaf whose SANs are the order\'s names and whose key is the CSR\'s', async () => {
    const leaf = new x509.X509Certificate(issued.leafPem);
    const sans = leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => `${n.type}:${n.value}`);
    expect(sans?.sort()).toEqual(names.map((n) => `dns:${n}`).sort());
    expect(issued.order.identifiers.map((i) => i.value).sort()).toEqual([...names].sort());
    const csrSpki = Buffer.from(await webcrypto.subtle.exportKey('spki', issued.certKey.publicKey));
    expect(Buffer.from(leaf.publicKey.rawData).equals(csrSpki)).toBe(true);
  });

  it('stores the certificate for the order', async () => {
    const stored = await h.store.getCertificate(idOf(issued.certUrl) as never);
    expect(stored).toMatchObject({ accountId: alice.id, orderId: idOf(issued.orderUrl), revokedAt: null });
    expect(stored?.identifiers.map((i) => i.value).sort()).toEqual([...names].sort());
  });

  it('refuses GET with 405 malformed (§6.3)', async () => {
    expectProblem(await h.raw('GET', issued.certUrl), 405, 'malformed', dir);
  });

  it('refuses another account as unauthorized', async () => {
    expectProblem(await mallory.fetch(issued.certUrl), 403, 'unauthorized', dir);
  });

  it('refuses a payload other than POST-as-GET as malformed', async () => {
    expectProblem(await alice.post(issued.certUrl, {}), 400, 'malformed', dir);
  });

  it('answers an unknown certificate with 404 malformed', async () => {
    expectProblem(await alice.fetch(issued.certUrl.replace(/[^/]+$/, 'NoSuchCert')), 404, 'malformed', dir);
  });

  it('issues exactly the requested notBefore and notAfter (§7.4: "MUST NOT issue ... other than those requested")', async () => {
    const notBefore = new Date(Math.ceil((Date.now() + DAY_MS) / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + 20 * DAY_MS);
    const order = await h.order(alice, ['dated.cert.example.test'], { notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() });
    await h.makeReady(alice, order);
    const res = await alice.post(order.body.finalize, { csr: b64u(await makeCsr(['dated.cert.example.test'], await generateAccountKey())) });
    expect(res.status).toBe(200);
    const done = await h.fetchJson<OrderJson>(alice, order.url);
    const leaf = new x509.X509Certificate(pemBlocks(String((await alice.fetch(done.certificate ?? '')).body))[0] ?? '');
    expect(leaf.notBefore.getTime()).toBe(notBefore.getTime());
    expect(leaf.notAfter.getTime()).toBe(notAfter.getTime());
  });
});
