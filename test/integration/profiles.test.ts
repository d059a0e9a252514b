/**
 * Issue #5: every ACME profile setting, accepted and refused at the step it belongs to, with the
 * RFC 8555 §6.7 type a client sees. One gateway serves a profile per setting (and issuance
 * bindings, one served at /acme/raProfile/{binding}/); validation goes to a loopback http-01
 * responder through pebble-challtestsrv. The terms re-agreement runs two gateways in turn on one
 * data directory, the second with new terms.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import type { webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../src/cli/commands/orders.js';
import type { AccountId, OrderId } from '../../src/storage/store.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { AcmeHttpClient, generateAccountKey, signEab, signKeyChangeInner, type TestKey } from '../helpers/jws-client.js';
import {
  Harness,
  b64u,
  expectJson,
  expectProblem,
  idOf,
  linkTargets,
  makeCsr,
  pemBlocks,
  thumbprint,
  waitFor,
  type AccountJson,
  type Actor,
  type AuthzJson,
  type OrderJson,
} from './support.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const CLIENT_TEMPLATE = { name: 'client', attributes: { extendedKeyUsages: ['clientAuth'] } };

let h: Harness;

beforeAll(async () => {
  h = await Harness.start(
    {
      profiles: {
        default: {},
        off: { enabled: false, description: 'retired' },
        bound: { binding: 'retired' },
        dnsonly: { identifiers: { types: ['dns'] } },
        open: { validation: 'none' },
        lists: { identifiers: { allow: ['allowed.test', '10.0.0.0/8', '2001:db8::/32'], deny: ['bad.allowed.test', '10.9.0.0/16'] } },
        small: { maxIdentifiers: 2 },
        dnschallenge: { challenges: ['dns-01'] },
        lifetimes: { validity: { default: '10d', min: '1d', max: '30d' } },
        rsaonly: { csrKeyTypes: ['rsa-2048'] },
        ecaccounts: { accountKeyTypes: ['ec-p256'] },
        partners: { eab: { required: true } },
        prereg: { accounts: 'pre-registered', eab: { required: true } },
        catalog: {
          certificateProfiles: {
            tls: { description: 'Server certificates', template: 'server', validity: { default: '5d', min: '1h', max: '10d' } },
            client: { description: 'Client certificates', template: CLIENT_TEMPLATE, validity: { default: '2d', min: '1h', max: '3d' } },
          },
          defaultCertificateProfile: 'tls',
        },
      },
      bindings: {
        retired: { enabled: false, connector: 'embedded', template: 'server' },
        clients: { connector: 'embedded', template: CLIENT_TEMPLATE, acme: { profile: 'dnsonly' } },
        offline: { enabled: false, connector: 'embedded', template: 'server', acme: { profile: 'default' } },
      },
    },
    { validation: true },
  );
});
afterAll(() => h?.stop());

const dns = (value: string) => ({ type: 'dns', value });
const ip = (value: string) => ({ type: 'ip', value });

type Keys = { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey };

/** A CSR (DER) with exactly these subjectAltNames (dNSName or iPAddress) and no subject. */
async function csrWithSans(sans: { type: string; value: string }[], keys: Keys): Promise<Uint8Array> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys as webcrypto.CryptoKeyPair,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension(sans.map((s) => ({ type: s.type === 'ip' ? ('ip' as const) : ('dns' as const), value: s.value })))],
  });
  return new Uint8Array(csr.rawData);
}

/** Finalizes a ready order with `csr` and waits until it is no longer processing. */
async function finalizeAndWait(actor: Actor, order: { url: string; body: OrderJson }, csr: Uint8Array): Promise<OrderJson> {
  const res = await actor.post(order.body.finalize, { csr: b64u(csr) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return waitFor('order done', () => h.fetchJson<OrderJson>(actor, order.url), (o) => o.status !== 'processing');
}

async function leafOf(actor: Actor, order: OrderJson): Promise<x509.X509Certificate> {
  expect(order.status, JSON.stringify(order.error)).toBe('valid');
  const res = await actor.fetch(order.certificate ?? '');
  expect(res.status).toBe(200);
  return new x509.X509Certificate(pemBlocks(res.body as string)[0] ?? '');
}

const lifetimeMs = (cert: x509.X509Certificate) => cert.notAfter.getTime() - cert.notBefore.getTime();
const ekusOf = (cert: x509.X509Certificate) => cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? [];

async function storedOrder(url: string) {
  return h.store.getOrder(idOf(url) as OrderId);
}

describe('enabled: a disabled profile or binding serves only its directory', () => {
  it('says meta.disabled in the directory of a disabled profile', async () => {
    const dir = h.directoryUrl('off');
    const res = await h.raw('GET', dir);
    const body = expectJson<{ meta: Record<string, unknown> }>(res, 200, dir);
    expect(body.meta).toMatchObject({ disabled: true, description: 'retired' });
  });

  it('refuses newNonce and newAccount of a disabled profile with 403 unauthorized naming the profile', async () => {
    const dir = h.directoryUrl('off');
    const client = h.client(await generateAccountKey(), 'off');
    const nonce = expectProblem(await client.get(await client.url('newNonce')), 403, 'unauthorized', dir);
    expect(nonce.detail).toBe('ACME profile "off" is disabled');
    const res = await client.post(await client.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    expect(expectProblem(res, 403, 'unauthorized', dir).detail).toBe('ACME profile "off" is disabled');
    expect(await h.store.findAccountByThumbprint('off', await thumbprint(client.key))).toBeUndefined();
  });

  it('refuses a profile whose binding is disabled with 403 unauthorized naming the binding', async () => {
    const dir = h.directoryUrl('bound');
    const directory = expectJson<{ meta: Record<string, unknown> }>(await h.raw('GET', dir), 200, dir);
    expect(directory.meta.disabled).toBe(true);
    const client = h.client(await generateAccountKey(), 'bound');
    const res = await client.post(await client.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    expect(expectProblem(res, 403, 'unauthorized', dir).detail).toBe('issuance binding "retired" is disabled');
  });

  it('refuses the raProfile endpoint of a disabled binding the same way', async () => {
    const dir = h.directoryUrl('raProfile/offline');
    const directory = expectJson<{ meta: Record<string, unknown> }>(await h.raw('GET', dir), 200, dir);
    expect(directory.meta.disabled).toBe(true);
    const client = h.client(await generateAccountKey(), 'raProfile/offline');
    const res = await client.get(await client.url('newNonce'));
    expect(expectProblem(res, 403, 'unauthorized', dir).detail).toBe('issuance binding "offline" is disabled');
  });

  it('answers an unknown profile with 404 malformed naming it', async () => {
    const res = await h.raw('GET', h.directoryUrl('nosuch'));
    expect(expectProblem(res, 404, 'malformed').detail).toBe('ACME profile "nosuch" does not exist');
  });

  it('answers an unknown binding, and a binding without ACME, with 404 malformed naming it', async () => {
    const unknown = await h.raw('GET', h.directoryUrl('raProfile/nosuch'));
    expect(expectProblem(unknown, 404, 'malformed').detail).toBe('issuance binding "nosuch" with ACME enabled does not exist');
    const noAcme = await h.raw('GET', h.directoryUrl('raProfile/retired'));
    expect(expectProblem(noAcme, 404, 'malformed').detail).toContain('"retired"');
  });
});

describe('bindings: /acme/raProfile/{binding}/ with the chosen ACME profile', () => {
  const endpoint = 'raProfile/clients';

  it('serves its own directory below /acme/raProfile/clients/', async () => {
    const dir = h.directoryUrl(endpoint);
    const body = expectJson<Record<string, unknown>>(await h.raw('GET', dir), 200, dir);
    expect(body.newOrder).toBe(dir.replace(/directory$/, 'new-order'));
    expect(body.meta).not.toHaveProperty('disabled');
  });

  it('applies the ACME profile\'s policy (dnsonly refuses an IP address)', async () => {
    const alice = await h.account({ profile: endpoint });
    const res = await alice.post(await alice.client.url('newOrder'), { identifiers: [ip('127.0.0.1')] });
    const doc = expectProblem(res, 400, 'rejectedIdentifier', h.directoryUrl(endpoint));
    expect(doc.subproblems?.map((s) => s.identifier)).toEqual([ip('127.0.0.1')]);
    expect(doc.detail).toContain('identifiers.types');
  });

  it('issues with the binding\'s template and records profile, binding and template in the order', async () => {
    const alice = await h.account({ profile: endpoint });
    const issued = await h.issue(alice, ['ra.clients.example.test']);
    const cert = new x509.X509Certificate(issued.leafPem);
    expect(ekusOf(cert)).toEqual([EKU_CLIENT_AUTH]);
    expect((await storedOrder(issued.orderUrl))?.policy).toMatchObject({ endpoint, acmeProfile: 'dnsonly', binding: 'clients', template: 'client', validation: 'required' });
  });

  it('keeps its accounts apart from the ACME profile\'s own endpoint', async () => {
    const alice = await h.account({ profile: endpoint });
    const elsewhere = h.client(alice.key, 'dnsonly');
    const res = await elsewhere.post(await elsewhere.url('newOrder'), { identifiers: [dns('x.example.test')] }, { kid: alice.kid });
    expectProblem(res, 400, 'accountDoesNotExist', h.directoryUrl('dnsonly'));
  });
});

describe('validation: none', () => {
  it('creates valid authorizations without challenges and a ready order, and issues', async () => {
    const alice = await h.account({ profile: 'open' });
    const order = await h.order(alice, ['none.example.test']);
    expect(order.body.status).toBe('ready');
    const authz = await h.fetchJson<AuthzJson>(alice, order.body.authorizations[0] ?? '');
    expect(authz).toMatchObject({ status: 'valid', challenges: [] });
    const done = await finalizeAndWait(alice, order, await makeCsr(['none.example.test'], await generateAccountKey()));
    expect(done.status, JSON.stringify(done.error)).toBe('valid');
    expect(h.http01Requests.filter((p) => p.includes('none.example.test'))).toEqual([]);
  });

  it('says in the audit record that the registration and template decided', async () => {
    const alice = await h.account({ profile: 'open' });
    const order = await h.order(alice, ['audit.none.example.test']);
    const stored = await storedOrder(order.url);
    const account = await h.store.getAccount(alice.id);
    expect(stored && account).toBeTruthy();
    const line = auditLine(account!, stored!);
    expect(line).toMatchObject({ order: idOf(order.url), account: alice.id, status: 'ready', identifiers: ['audit.none.example.test'] });
    expect(line.policy).toMatchObject({ endpoint: 'open', acmeProfile: 'open', template: 'server', validation: 'none: the registration and template decide' });
  });

  it('records validation: required for a profile with challenges', async () => {
    const alice = await h.account();
    const order = await h.order(alice, ['audit.required.example.test']);
    expect((await storedOrder(order.url))?.policy).toMatchObject({ endpoint: 'default', validation: 'required' });
  });
});

describe('identifiers: types, allow and deny lists, maxIdentifiers', () => {
  let dnsOnly: Actor;
  let lists: Actor;
  beforeAll(async () => {
    dnsOnly = await h.account({ profile: 'dnsonly' });
    lists = await h.account({ profile: 'lists' });
  });

  async function refusedOrder(actor: Actor, profile: string, identifiers: { type: string; value: string }[]) {
    const before = (await h.store.listOrders(actor.id, null, 1000)).items.length;
    const doc = expectProblem(await actor.post(await actor.client.url('newOrder'), { identifiers }), 400, 'rejectedIdentifier', h.directoryUrl(profile));
    expect((await h.store.listOrders(actor.id, null, 1000)).items.length).toBe(before);
    return doc;
  }

  it('refuses an IP address and a wildcard on a dns-only profile, one subproblem each', async () => {
    const doc = await refusedOrder(dnsOnly, 'dnsonly', [dns('ok.example.test'), ip('192.0.2.7'), dns('*.wild.example.test')]);
    const subs = doc.subproblems ?? [];
    expect(subs.map((s) => s.identifier).sort((a, b) => a.value.localeCompare(b.value))).toEqual([dns('*.wild.example.test'), ip('192.0.2.7')]);
    for (const s of subs) {
      expect(s.type).toBe(`urn:ietf:params:acme:error:rejectedIdentifier`);
      expect(s.detail).toContain('identifiers.types');
    }
    expect(subs.find((s) => s.identifier.type === 'ip')?.detail).toContain('IP addresses');
    expect(subs.find((s) => s.identifier.value.startsWith('*.'))?.detail).toContain('wildcard');
  });

  it('accepts a DNS name on the dns-only profile', async () => {
    expect((await h.order(dnsOnly, ['fine.example.test'])).body.status).toBe('pending');
  });

  it('refuses every identifier off the allow list or on the deny list, domains and CIDRs, and only those', async () => {
    const doc = await refusedOrder(lists, 'lists', [
      dns('www.allowed.test'),
      dns('bad.allowed.test'),
      dns('x.bad.allowed.test'),
      dns('elsewhere.test'),
      ip('10.1.2.3'),
      ip('10.9.8.7'),
      ip('192.0.2.1'),
      ip('2001:db8::5'),
      ip('2001:db9::5'),
    ]);
    const byValue = new Map((doc.subproblems ?? []).map((s) => [s.identifier.value, s.detail]));
    expect([...byValue.keys()].sort()).toEqual(['10.9.8.7', '192.0.2.1', '2001:db9::5', 'bad.allowed.test', 'elsewhere.test', 'x.bad.allowed.test']);
    expect(byValue.get('bad.allowed.test')).toContain('identifiers.deny');
    expect(byValue.get('x.bad.allowed.test')).toContain('identifiers.deny');
    expect(byValue.get('10.9.8.7')).toContain('identifiers.deny');
    expect(byValue.get('elsewhere.test')).toContain('identifiers.allow');
    expect(byValue.get('192.0.2.1')).toContain('identifiers.allow');
    expect(byValue.get('2001:db9::5')).toContain('identifiers.allow');
  });

  it('accepts identifiers inside the allow list and outside the deny list', async () => {
    const order = await h.order(lists, [dns('allowed.test'), dns('www.allowed.test'), ip('10.1.2.3'), ip('2001:db8::5')]);
    expect(order.body.identifiers).toHaveLength(4);
  });

  it('offers only the profile\'s challenges, and refuses an identifier none of them can prove (challenges)', async () => {
    const actor = await h.account({ profile: 'dnschallenge' });
    const order = await h.order(actor, ['dnschallenge.example.test']);
    const authz = await h.fetchJson<AuthzJson>(actor, order.body.authorizations[0] ?? '');
    expect(authz.challenges.map((c) => c.type)).toEqual(['dns-01']);
    // RFC 8738 §7: dns-01 never proves an IP address.
    const doc = await refusedOrder(actor, 'dnschallenge', [dns('ok.dnschallenge.example.test'), ip('192.0.2.9')]);
    expect(doc.subproblems?.map((s) => s.identifier)).toEqual([ip('192.0.2.9')]);
    expect(doc.subproblems?.[0]?.detail).toContain('dns-01');
  });

  it('refuses more identifiers than maxIdentifiers with rejectedIdentifier naming the limit', async () => {
    const small = await h.account({ profile: 'small' });
    const res = await small.post(await small.client.url('newOrder'), { identifiers: ['a', 'b', 'c'].map((l) => dns(`${l}.small.example.test`)) });
    expect(expectProblem(res, 400, 'rejectedIdentifier', h.directoryUrl('small')).detail).toContain('at most 2 identifiers');
    expect((await h.order(small, ['a.small.example.test', 'b.small.example.test'])).body.identifiers).toHaveLength(2);
  });
});

describe('validity: default, min and max', () => {
  let alice: Actor;
  beforeAll(async () => {
    alice = await h.account({ profile: 'lifetimes' });
  });
  const at = (ms: number) => new Date(Date.now() + ms).toISOString();

  it('accepts notBefore/notAfter inside the range and echoes them', async () => {
    const notBefore = at(DAY_MS);
    const notAfter = at(21 * DAY_MS);
    const res = await alice.post(await alice.client.url('newOrder'), { identifiers: [dns('in.validity.example.test')], notBefore, notAfter });
    const order = expectJson<OrderJson>(res, 201, h.directoryUrl('lifetimes'));
    expect(new Date(order.notBefore ?? '').getTime()).toBe(Math.floor(new Date(notBefore).getTime() / 1000) * 1000);
    expect(new Date(order.notAfter ?? '').getTime()).toBe(Math.floor(new Date(notAfter).getTime() / 1000) * 1000);
  });

  it('refuses a lifetime above max with malformed naming the limit, never shortening it', async () => {
    const res = await alice.post(await alice.client.url('newOrder'), { identifiers: [dns('long.validity.example.test')], notAfter: at(40 * DAY_MS) });
    const doc = expectProblem(res, 400, 'malformed', h.directoryUrl('lifetimes'));
    expect(doc.detail).toMatch(/longer than this profile allows \(30d\)/);
  });

  it('refuses a lifetime below min with malformed naming the limit', async () => {
    const res = await alice.post(await alice.client.url('newOrder'), { identifiers: [dns('short.validity.example.test')], notAfter: at(2 * HOUR_MS) });
    expect(expectProblem(res, 400, 'malformed', h.directoryUrl('lifetimes')).detail).toMatch(/shorter than this profile allows \(1d\)/);
  });

  it('issues a certificate of the default lifetime when the order names none', async () => {
    const issued = await h.issue(alice, ['default.validity.example.test']);
    expect(issued.order).not.toHaveProperty('notAfter');
    expect(lifetimeMs(new x509.X509Certificate(issued.leafPem))).toBe(10 * DAY_MS);
  });
});

describe('csrKeyTypes and accountKeyTypes', () => {
  it('refuses an EC key on an RSA-only profile at finalize with badCSR naming both, then issues for RSA', async () => {
    const alice = await h.account({ profile: 'rsaonly' });
    const order = await h.readyOrder(alice, ['rsa.example.test']);
    const res = await alice.post(order.body.finalize, { csr: b64u(await makeCsr(['rsa.example.test'], await generateAccountKey('ES256'))) });
    const doc = expectProblem(res, 400, 'badCSR', h.directoryUrl('rsaonly'));
    expect(doc.detail).toContain('ec-p256');
    expect(doc.detail).toContain('rsa-2048');
    expect((await h.fetchJson<OrderJson>(alice, order.url)).status).toBe('ready');

    const done = await finalizeAndWait(alice, order, await makeCsr(['rsa.example.test'], await generateAccountKey('RS256')));
    const cert = await leafOf(alice, done);
    expect(cert.publicKey.algorithm.name).toBe('RSASSA-PKCS1-v1_5');
  });

  it('refuses an account key type the profile does not take at newAccount with badPublicKey, creating nothing', async () => {
    const dir = h.directoryUrl('ecaccounts');
    for (const alg of ['ES384', 'RS256'] as const) {
      const key = await generateAccountKey(alg);
      const client = h.client(key, 'ecaccounts');
      const doc = expectProblem(await client.post(await client.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true }), 400, 'badPublicKey', dir);
      expect(doc.detail).toContain(alg === 'ES384' ? 'ec-p384' : 'rsa-2048');
      expect(doc.detail).toContain('ec-p256');
      expect(await h.store.findAccountByThumbprint('ecaccounts', await thumbprint(key))).toBeUndefined();
    }
    await expect(h.account({ profile: 'ecaccounts', alg: 'ES256' })).resolves.toBeDefined();
  });

  it('refuses such a key at keyChange with badPublicKey, keeping the old key', async () => {
    const alice = await h.account({ profile: 'ecaccounts' });
    const keyChangeUrl = await alice.client.url('keyChange');
    const roll = async (newKey: TestKey) => alice.post(keyChangeUrl, await signKeyChangeInner({ newKey, url: keyChangeUrl, account: alice.kid, oldKey: alice.key.jwk }));
    const doc = expectProblem(await roll(await generateAccountKey('ES384')), 400, 'badPublicKey', h.directoryUrl('ecaccounts'));
    expect(doc.detail).toContain('ec-p384');
    expect((await h.store.getAccount(alice.id))?.jwkThumbprint).toBe(await thumbprint(alice.key));
    const accepted = await generateAccountKey('ES256');
    expect((await roll(accepted)).status).toBe(200);
    expect((await h.store.getAccount(alice.id))?.jwkThumbprint).toBe(await thumbprint(accepted));
  });
});

describe('eab.required and accounts: pre-registered', () => {
  async function newAccount(profile: string, eab?: { kid: string; hmacKey: string }) {
    const key = await generateAccountKey();
    const client = h.client(key, profile);
    const url = await client.url('newAccount');
    const externalAccountBinding = eab ? await signEab({ kid: eab.kid, macKey: new Uint8Array(Buffer.from(eab.hmacKey, 'base64url')), url, jwk: key.jwk }) : undefined;
    const res = await client.post(url, { termsOfServiceAgreed: true, ...(externalAccountBinding ? { externalAccountBinding } : {}) }, { jwk: true });
    return { res, key };
  }

  it('refuses newAccount without a binding with externalAccountRequired, and the directory says so', async () => {
    const dir = h.directoryUrl('partners');
    expect(expectJson<{ meta: Record<string, unknown> }>(await h.raw('GET', dir), 200, dir).meta.externalAccountRequired).toBe(true);
    const { res, key } = await newAccount('partners');
    expectProblem(res, 400, 'externalAccountRequired', dir);
    expect(await h.store.findAccountByThumbprint('partners', await thumbprint(key))).toBeUndefined();
  });

  it('creates the account with a key of the profile', async () => {
    const eab = await h.gw.gateway.ra.eab.create('partners');
    const { res, key } = await newAccount('partners', eab);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await h.store.findAccountByThumbprint('partners', await thumbprint(key))).toMatchObject({ eabKid: eab.kid, registrationId: null });
  });

  it('refuses an EAB key of another profile with unauthorized', async () => {
    const eab = await h.gw.gateway.ra.eab.create('default');
    expectProblem((await newAccount('partners', eab)).res, 403, 'unauthorized', h.directoryUrl('partners'));
  });

  it('pre-registered: refuses newAccount without a binding, and binds the account to the registration its key names', async () => {
    expectProblem((await newAccount('prereg')).res, 400, 'externalAccountRequired', h.directoryUrl('prereg'));
    const eab = await h.gw.gateway.ra.eab.create('prereg', { registrationId: 'team-7' });
    const { res, key } = await newAccount('prereg', eab);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const account = await h.store.findAccountByThumbprint('prereg', await thumbprint(key));
    expect(account).toMatchObject({ eabKid: eab.kid, registrationId: 'team-7' });
  });
});

describe('certificate profiles (draft-ietf-acme-profiles-01)', () => {
  let alice: Actor;
  const dir = () => h.directoryUrl('catalog');
  beforeAll(async () => {
    alice = await h.account({ profile: 'catalog' });
  });

  it('lists them in meta.profiles with their descriptions (§3)', async () => {
    const body = expectJson<{ meta: Record<string, unknown> }>(await h.raw('GET', dir()), 200, dir());
    expect(body.meta.profiles).toEqual({ tls: 'Server certificates', client: 'Client certificates' });
  });

  it('echoes the chosen profile in the order, and the default one when the order names none (§4)', async () => {
    expect((await h.order(alice, ['chosen.catalog.example.test'], { profile: 'client' })).body).toMatchObject({ profile: 'client' });
    expect((await h.order(alice, ['default.catalog.example.test'])).body).toMatchObject({ profile: 'tls' });
  });

  it('refuses an unknown profile with invalidProfile naming it and the offered ones', async () => {
    const res = await alice.post(await alice.client.url('newOrder'), { identifiers: [dns('nope.catalog.example.test')], profile: 'nope' });
    const doc = expectProblem(res, 400, 'invalidProfile', dir());
    expect(doc.detail).toContain('"nope"');
    expect(doc.detail).toContain('tls, client');
  });

  it('checks a requested lifetime against the chosen profile\'s validity', async () => {
    const notAfter = new Date(Date.now() + 5 * DAY_MS).toISOString();
    const newOrder = await alice.client.url('newOrder');
    const refused = await alice.post(newOrder, { identifiers: [dns('v.catalog.example.test')], profile: 'client', notAfter });
    expect(expectProblem(refused, 400, 'malformed', dir()).detail).toContain('(3d)');
    expect((await alice.post(newOrder, { identifiers: [dns('v.catalog.example.test')], profile: 'tls', notAfter })).status).toBe(201);
  });

  it('issues with the chosen profile\'s template and default lifetime', async () => {
    const order = await h.order(alice, ['issued.catalog.example.test'], { profile: 'client' });
    const ready = await h.makeReady(alice, order);
    expect(ready.status).toBe('ready');
    const cert = await leafOf(alice, await finalizeAndWait(alice, order, await makeCsr(['issued.catalog.example.test'], await generateAccountKey())));
    expect(ekusOf(cert)).toEqual([EKU_CLIENT_AUTH]);
    expect(lifetimeMs(cert)).toBe(2 * DAY_MS);
    expect((await storedOrder(order.url))?.policy).toMatchObject({ certificateProfile: 'client', template: 'client' });

    const tls = await h.issue(alice, ['tls.catalog.example.test']);
    const tlsCert = new x509.X509Certificate(tls.leafPem);
    expect(ekusOf(tlsCert)).toEqual([EKU_SERVER_AUTH]);
    expect(lifetimeMs(tlsCert)).toBe(5 * DAY_MS);
  });
});

describe('IP identifiers (RFC 8738)', () => {
  let v6: Server;
  const v6Requests: string[] = [];
  beforeAll(async () => {
    // The http-01 responder of the harness listens on 127.0.0.1; this one answers the same tokens on [::1].
    const port = h.gw.gateway.config.validation.http01Port;
    v6 = createServer((req, res) => {
      v6Requests.push(`${req.headers.host ?? ''} ${req.url ?? ''}`);
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      const answer = token === undefined ? undefined : h.http01Answers.get(token);
      res.writeHead(answer === undefined ? 404 : 200).end(answer ?? 'not here');
    });
    await new Promise<void>((resolve, reject) => {
      v6.once('error', reject);
      v6.listen(port, '::1', resolve);
    });
  });
  afterAll(async () => {
    v6?.closeAllConnections();
    await new Promise<void>((resolve) => (v6 ? v6.close(() => resolve()) : resolve()));
  });

  it('offers http-01 and tls-alpn-01 for an IP address, never dns-01 (§7)', async () => {
    const alice = await h.account();
    const order = await h.order(alice, [ip('192.0.2.10'), ip('2001:db8::10')]);
    for (const url of order.body.authorizations) {
      const authz = await h.fetchJson<AuthzJson>(alice, url);
      expect(authz.identifier.type).toBe('ip');
      expect(authz.challenges.map((c) => c.type).sort()).toEqual(['http-01', 'tls-alpn-01']);
    }
  });

  it('validates 127.0.0.1 and ::1 with http-01 on loopback and issues a certificate with iPAddress SANs', async () => {
    const alice = await h.account();
    const order = await h.order(alice, [ip('127.0.0.1'), ip('::1')]);
    const ready = await h.makeReady(alice, order);
    expect(ready.status, JSON.stringify(ready)).toBe('ready');
    // RFC 8738 §5: the Host is the address, an IPv6 one in brackets (the port is the test's stand-in for 80).
    expect(v6Requests.some((r) => r.startsWith('[::1] /.well-known/acme-challenge/')), JSON.stringify(v6Requests)).toBe(true);
    const keys = await generateAccountKey();
    const cert = await leafOf(alice, await finalizeAndWait(alice, order, await csrWithSans([ip('127.0.0.1'), ip('::1')], keys)));
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items.map((n) => `${n.type}:${n.value}`) ?? [];
    expect(names.sort(), 'iPAddress SANs only').toEqual(['ip:127.0.0.1', 'ip:::1']);
  });
});

describe('termsReagreement: new terms on the next start (RFC 8555 §7.3.3)', () => {
  const V1 = 'https://example.test/terms/v1';
  const V2 = 'https://example.test/terms/v2';
  let dataDir: string;
  let gw: TestGateway | undefined;
  const clients: AcmeHttpClient[] = [];

  const start = (terms: string, port = 0) =>
    startTestGateway(
      { server: { listen: `127.0.0.1:${port}` }, profiles: { terms: { termsOfService: terms, termsReagreement: true, validation: 'none' } }, defaultProfile: 'terms' },
      { dataDir },
    );
  const client = (key: TestKey) => {
    const c = new AcmeHttpClient(gw?.directory('terms') ?? '', key, { ca: gw?.caPem ?? '' });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'acme-gw-terms-'));
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses newOrder with userActionRequired and the terms link after the terms changed, and orders again once agreed', async () => {
    gw = await start(V1);
    const port = gw.port;
    const key = await generateAccountKey();
    let c = client(key);
    const created = await c.post(await c.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    expect(created.status).toBe(201);
    const kid = created.headers.get('location') ?? '';
    const order = { identifiers: [dns('terms.example.test')] };
    expect((await c.post(await c.url('newOrder'), order, { kid })).status).toBe(201);
    await gw.stop();
    gw = undefined;

    // The operator publishes new terms: same data directory and listener, new termsOfService.
    gw = await start(V2, port);
    c = client(key);
    const dir = gw.directory('terms');
    const directory = expectJson<{ meta: Record<string, unknown> }>(await c.get(dir), 200, dir);
    expect(directory.meta.termsOfService).toBe(V2);

    const refused = await c.post(await c.url('newOrder'), order, { kid });
    const doc = expectProblem(refused, 403, 'userActionRequired', dir);
    expect(linkTargets(refused, 'terms-of-service')).toEqual([V2]);
    expect(doc.instance).toBe(V2);
    expect(doc.detail).toContain(V2);
    // Other requests of the account are not affected.
    expect(expectJson<AccountJson>(await c.post(kid, '', { kid }), 200, dir).status).toBe('valid');

    const agreed = await c.post(kid, { termsOfServiceAgreed: true }, { kid });
    expect(expectJson<AccountJson>(agreed, 200, dir).termsOfServiceAgreed).toBe(true);
    expect((await gw.gateway.store.getAccount(idOf(kid) as AccountId))?.termsAgreedVersion).toBe(V2);
    const res = await c.post(await c.url('newOrder'), order, { kid });
    expect(expectJson<OrderJson>(res, 201, dir).status).toBe('ready');
  });
});
