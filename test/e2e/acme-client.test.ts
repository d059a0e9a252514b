/**
 * The npm `acme-client` library (v5) against an in-process gateway on loopback: EAB, http-01
 * answered by a node:http server on the gateway's http-01 port, a dns-01 wildcard through
 * pebble-challtestsrv, account update, key rollover, revocation and deactivation. The client trusts
 * only the gateway's CA bundle.
 */
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as acme from 'acme-client';
import { afterAll, describe, expect, it } from 'vitest';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import type { AccountId } from '../../src/storage/store.js';
import { freePort } from '../helpers/gateway-process.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { certFacts, firstPem, opensslVerify, requireOpenssl, restPems, sharedFixture } from './support.js';

const TIMEOUT_MS = 90_000;
const URN = 'urn:ietf:params:acme:error:';

let dns: Challtestsrv;
let gw: TestGateway;
let http01: Server;
let work: string;
/** token → key authorization, served at /.well-known/acme-challenge/{token} (RFC 8555 §8.3). */
const http01Answers = new Map<string, string>();
const http01Requests: string[] = [];
/** Problem document types the gateway answered with, in order. */
const problems: string[] = [];

let client: acme.Client;
/** The key `client` registered with, before the rollover. */
let firstAccountKey: Buffer;
let issuedPem: string | undefined;

const ready = sharedFixture(async () => {
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  const http01Port = await freePort();
  http01 = createServer((req, res) => {
    http01Requests.push(`${req.headers.host ?? ''}${req.url ?? ''}`);
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const answer = token === undefined ? undefined : http01Answers.get(token);
    res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'application/octet-stream' }).end(answer ?? '');
  });
  await new Promise<void>((resolve, reject) => {
    http01.once('error', reject);
    http01.listen(http01Port, '127.0.0.1', resolve);
  });
  gw = await startTestGateway({
    validation: { dnsResolver: dns.dnsAddress, http01Port, tlsAlpn01Port: await freePort() },
    profiles: { default: {}, partners: { eab: { required: true } } },
  });
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-acme-client-'));

  // acme-client sends every request through its own axios instance: trust only the bundle, no proxy.
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: gw.caPem });
  acme.axios.defaults.proxy = false;
  acme.axios.interceptors.response.use((resp) => {
    const type = String(resp.headers['content-type'] ?? '');
    const data: unknown = resp.data;
    if (type.startsWith('application/problem+json') && typeof data === 'object' && data !== null && 'type' in data) problems.push(String(data.type));
    return resp;
  });
});

afterAll(async () => {
  await gw?.stop();
  await dns?.stop();
  if (http01) await new Promise<void>((resolve) => http01.close(() => resolve()));
  if (work) await rm(work, { recursive: true, force: true });
});

async function newClient(directoryUrl: string, opts: Partial<acme.ClientOptions> = {}): Promise<acme.Client> {
  // Short backoff: waitForValidStatus polls (bounded by backoffAttempts) instead of sleeping seconds.
  return new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateKey(), backoffAttempts: 60, backoffMin: 100, backoffMax: 500, ...opts });
}

/** Runs `fn`, expects it to fail, and returns the problem type the gateway answered with. */
async function problemOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  const before = problems.length;
  await expect(fn()).rejects.toThrow();
  return problems.slice(before).at(-1);
}

/** Finalizes a ready order with a fresh key and CSR, and returns the certificate chain (leaf first). */
async function finalize(c: acme.Client, order: acme.Order, names: string[]): Promise<string> {
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
  const finalized = await c.finalizeOrder(order, csr);
  const done = finalized.status === 'valid' ? finalized : await c.waitForValidStatus(finalized);
  return c.getCertificate(done);
}

/** openssl verify against the gateway's CA bundle, and the SANs. */
async function checkChain(chainPem: string, names: string[], file: string) {
  const leaf = path.join(work, `${file}.pem`);
  const chain = path.join(work, `${file}.chain.pem`);
  await writeFile(leaf, firstPem(chainPem));
  await writeFile(chain, restPems(chainPem));
  await opensslVerify(gw.caBundlePath, chain, leaf);
  const facts = certFacts(chainPem);
  expect(facts.dnsNames).toEqual([...names].sort());
  return facts;
}

describe('acme-client against the gateway', { timeout: TIMEOUT_MS }, () => {
  it('refuses an account without External Account Binding on a profile that requires it', async () => {
    await ready();
    const c = await newClient(gw.directory('partners'));
    expect(await problemOf(() => c.createAccount({ termsOfServiceAgreed: true }))).toBe(`${URN}externalAccountRequired`);
  });

  it('creates an account bound to an EAB key, and refuses a second account with the same single-use key', async () => {
    await ready();
    const key = await gw.gateway.ra.eab.create('partners');
    const c = await newClient(gw.directory('partners'), { externalAccountBinding: { kid: key.kid, hmacKey: key.hmacKey } });
    const account = await c.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:eab@example.org'] });
    expect(account.status).toBe('valid');
    const id = c.getAccountUrl().split('/').at(-1) ?? '';
    expect((await gw.gateway.store.getAccount(id as AccountId))?.eabKid).toBe(key.kid);

    const second = await newClient(gw.directory('partners'), { externalAccountBinding: { kid: key.kid, hmacKey: key.hmacKey } });
    expect(await problemOf(() => second.createAccount({ termsOfServiceAgreed: true }))).toBe(`${URN}unauthorized`);
  });

  it('issues through http-01 answered by a node:http server on the gateway http-01 port', async () => {
    await ready();
    firstAccountKey = await acme.crypto.createPrivateKey();
    client = await newClient(gw.directoryUrl, { accountKey: firstAccountKey });
    await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:test@example.org'] });
    const names = ['h1.example.test', 'h2.example.test'];
    const order = await client.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })) });
    for (const authz of await client.getAuthorizations(order)) {
      const challenge = authz.challenges.find((ch) => ch.type === 'http-01');
      if (!challenge) throw new Error(`no http-01 challenge for ${authz.identifier.value}`);
      http01Answers.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    }
    issuedPem = await finalize(client, await client.getOrder(order), names);
    await checkChain(issuedPem, names, 'http01');
    // The gateway fetched each token from our server, by name, on the configured port.
    for (const name of names) expect(http01Requests.some((r) => r.startsWith(`${name}:`) || r.startsWith(`${name}/`)), http01Requests.join('\n')).toBe(true);
  });

  it('issues a wildcard through dns-01 with TXT records served by challtestsrv', async () => {
    await ready();
    const names = ['*.ac.example.test', 'ac.example.test'];
    const order = await client.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })) });
    const authzs = await client.getAuthorizations(order);
    // RFC 8555 §7.1.4: the wildcard's authorization names the base domain and says "wildcard".
    expect(authzs.map((a) => [a.identifier.value, a.wildcard ?? false]).sort()).toEqual([['ac.example.test', false], ['ac.example.test', true]]);
    for (const authz of authzs) {
      const challenge = authz.challenges.find((ch) => ch.type === 'dns-01');
      if (!challenge) throw new Error(`no dns-01 challenge for ${authz.identifier.value}`);
      await dns.addTxt(`_acme-challenge.${authz.identifier.value}`, await client.getChallengeKeyAuthorization(challenge));
    }
    for (const authz of authzs) {
      const challenge = authz.challenges.find((ch) => ch.type === 'dns-01');
      if (!challenge) throw new Error('unreachable');
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    }
    await dns.clearTxt('_acme-challenge.ac.example.test');
    await checkChain(await finalize(client, await client.getOrder(order), names), names, 'dns01');
  });

  it('updates the account contact', async () => {
    await ready();
    const updated = await client.updateAccount({ contact: ['mailto:new@example.org'] });
    expect(updated.contact).toEqual(['mailto:new@example.org']);
    // POST-as-GET reads it back (RFC 8555 §7.3.3).
    expect((await client.updateAccount()).contact).toEqual(['mailto:new@example.org']);
  });

  it('rolls the account key over: the new key finds the account, the old key no longer does', async () => {
    await ready();
    const accountUrl = client.getAccountUrl();
    const newKey = await acme.crypto.createPrivateKey();
    await client.updateAccountKey(newKey);

    const withNew = await newClient(gw.directoryUrl, { accountKey: newKey });
    await withNew.createAccount({ onlyReturnExisting: true });
    expect(withNew.getAccountUrl()).toBe(accountUrl);

    const withOld = await newClient(gw.directoryUrl, { accountKey: firstAccountKey });
    expect(await problemOf(() => withOld.createAccount({ onlyReturnExisting: true }))).toBe(`${URN}accountDoesNotExist`);

    // The rolled-over client keeps working with its new key.
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'after-rollover.example.test' }] });
    expect(order.status).toBe('pending');
  });

  it('revokes a certificate with a reason; the stored record says so, and a second revocation is refused', async () => {
    await ready();
    expect(issuedPem, 'the http-01 test issued a certificate').toBeDefined();
    const pem = issuedPem ?? '';
    const { serial } = certFacts(pem);
    await client.revokeCertificate(pem, { reason: 4 });
    const stored = await gw.gateway.store.findCertificateBySerial(serial);
    expect(stored?.revokedAt).toBeInstanceOf(Date);
    expect(stored?.revocationReason).toBe(4);
    expect(await problemOf(() => client.revokeCertificate(pem, { reason: 4 }))).toBe(`${URN}alreadyRevoked`);
  });

  it('deactivates the account, after which its requests are refused', async () => {
    await ready();
    const account = await client.updateAccount({ status: 'deactivated' });
    expect(account.status).toBe('deactivated');
    // RFC 8555 §7.3.6: "the server MUST NOT accept further requests authorized by that account's key".
    expect(await problemOf(() => client.createOrder({ identifiers: [{ type: 'dns', value: 'late.example.test' }] }))).toBe(`${URN}unauthorized`);
  });
});
