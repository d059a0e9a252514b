/**
 * Shared pieces of the integration files (not a test file itself): a harness around an in-process
 * gateway, an http-01 responder on 127.0.0.1:0 and, when validation is wanted, pebble-challtestsrv
 * as the DNS server (every name answers 127.0.0.1); accounts as signing actors; assertions for what
 * every ACME response carries; CSRs made with @peculiar/x509.
 *
 *   const h = await Harness.start({ profiles: { default: {} } }, { validation: true });
 *   const alice = await h.account();
 *   const { certPem } = await h.issue(alice, ['a.example.test']);
 *   await h.stop();
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { createHash, webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { expect } from 'vitest';
import type { GatewayOptions } from '../../src/app/gateway.js';
import type { AccountId, Store } from '../../src/storage/store.js';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { Agent, fetch } from 'undici';
import { AcmeHttpClient, generateAccountKey, type AcmeResponse, type TestKey, type TestKeyAlg } from '../helpers/jws-client.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const URN = 'urn:ietf:params:acme:error:';
/** Upper bound for any wait on background work (validation, issuance). */
export const WAIT_MS = 10_000;
const POLL_MS = 25;

export interface ProblemDoc {
  type: string;
  detail: string;
  status: number;
  subproblems?: { type: string; detail: string; status?: number; identifier: { type: string; value: string } }[];
  algorithms?: string[];
  [member: string]: unknown;
}

export interface IdentifierJson {
  type: string;
  value: string;
}

export interface ChallengeJson {
  type: string;
  url: string;
  status: string;
  token: string;
  validated?: string;
  error?: ProblemDoc;
}

export interface AuthzJson {
  identifier: IdentifierJson;
  status: string;
  expires: string;
  challenges: ChallengeJson[];
  wildcard?: boolean;
}

export interface OrderJson {
  status: string;
  expires: string;
  identifiers: IdentifierJson[];
  notBefore?: string;
  notAfter?: string;
  error?: ProblemDoc;
  authorizations: string[];
  finalize: string;
  certificate?: string;
}

export interface AccountJson {
  status: string;
  contact?: string[];
  termsOfServiceAgreed?: boolean;
  externalAccountBinding?: unknown;
  orders: string;
}

// ---------------------------------------------------------------- assertions

/** The targets of every Link header field with relation `rel` (RFC 8288), in order. */
export function linkTargets(res: AcmeResponse, rel: string): string[] {
  const header = res.headers.get('link') ?? '';
  const targets: string[] = [];
  for (const m of header.matchAll(/<([^>]*)>\s*;\s*rel="?([^",;]+)"?/g)) if (m[2] === rel && m[1] !== undefined) targets.push(m[1]);
  return targets;
}

/** RFC 8555 §6.5.1: a Replay-Nonce of base64url characters. */
export function nonceOf(res: AcmeResponse): string {
  const nonce = res.headers.get('replay-nonce');
  expect(nonce, `Replay-Nonce on HTTP ${res.status}`).toMatch(/^[A-Za-z0-9_-]+$/);
  return nonce ?? '';
}

/** What every ACME response carries: a fresh Replay-Nonce (§6.5) and the directory as Link rel="index" (§7.1). */
export function expectAcmeHeaders(res: AcmeResponse, directoryUrl: string): void {
  nonceOf(res);
  expect(linkTargets(res, 'index')).toEqual([directoryUrl]);
}

/**
 * An error response: the status, `application/problem+json` (RFC 7807), an RFC 8555 §6.7 type,
 * the status repeated in the document, a detail, a Replay-Nonce (§6.5: also on errors) and, when
 * `directoryUrl` is given, Link rel="index". Returns the document.
 */
export function expectProblem(res: AcmeResponse, status: number, type: string, directoryUrl?: string): ProblemDoc {
  const shown = `HTTP ${res.status} ${JSON.stringify(res.body)}`;
  expect(res.status, shown).toBe(status);
  expect(res.headers.get('content-type'), shown).toMatch(/^application\/problem\+json\b/);
  const doc = res.body as ProblemDoc;
  expect(doc.type, shown).toBe(URN + type);
  expect(doc.status, shown).toBe(status);
  expect(typeof doc.detail, shown).toBe('string');
  nonceOf(res);
  if (directoryUrl !== undefined) expect(linkTargets(res, 'index')).toEqual([directoryUrl]);
  return doc;
}

/** A successful JSON response with the ACME headers; returns the body. */
export function expectJson<T>(res: AcmeResponse, status: number, directoryUrl: string): T {
  expect(res.status, `HTTP ${res.status} ${JSON.stringify(res.body)}`).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json\b/);
  expectAcmeHeaders(res, directoryUrl);
  return res.body as T;
}

/** The last path segment of a resource URL: the id the store knows it by. */
export function idOf(url: string): string {
  return new URL(url).pathname.split('/').pop() ?? '';
}

/** Polls `read` until `done` holds, every 25 ms, for at most `timeoutMs`; throws with the last value. */
export async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last seen ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// ---------------------------------------------------------------- keys and CSRs

/** RFC 7638 SHA-256 thumbprint of a test key's public JWK. */
export function thumbprint(key: TestKey): Promise<string> {
  return calculateJwkThumbprint(key.jwk as JWK, 'sha256');
}

/** RFC 8555 §8.1 key authorization: token "." thumbprint of the account key. */
export async function keyAuthorization(token: string, accountKey: TestKey): Promise<string> {
  return `${token}.${await thumbprint(accountKey)}`;
}

/** RFC 8555 §8.4: the TXT value for dns-01, base64url(SHA-256(key authorization)). */
export function dns01Digest(keyAuth: string): string {
  return createHash('sha256').update(keyAuth).digest('base64url');
}

type CryptoKey = webcrypto.CryptoKey;
const SIGNING: Record<string, webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams> = {
  ECDSA: { name: 'ECDSA', hash: 'SHA-256' },
  'RSASSA-PKCS1-v1_5': { name: 'RSASSA-PKCS1-v1_5' },
};

/** A PKCS#10 CSR (DER) for `names` as dNSName SANs, the first also as CN, signed by `keys`. */
export async function makeCsr(names: string[], keys: { privateKey: CryptoKey; publicKey: CryptoKey }, opts: { cn?: string | null } = {}): Promise<Uint8Array> {
  const signingAlgorithm = SIGNING[keys.privateKey.algorithm.name];
  if (signingAlgorithm === undefined) throw new Error(`makeCsr: no signing algorithm for ${keys.privateKey.algorithm.name}`);
  const cn = opts.cn === undefined ? names[0] : opts.cn;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(cn ? { name: `CN=${cn}` } : {}),
    keys: keys as webcrypto.CryptoKeyPair,
    signingAlgorithm,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })))] : [],
  });
  return new Uint8Array(csr.rawData);
}

export function b64u(bytes: Uint8Array | Buffer): string {
  return Buffer.from(bytes).toString('base64url');
}

/** The PEM certificates of a chain, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** DER of a PEM certificate. */
export function pemToDer(pem: string): Uint8Array {
  return new Uint8Array(new x509.X509Certificate(pem).rawData);
}

// ---------------------------------------------------------------- actors

/** An ACME account: its key, its URL (kid) and a client to sign with it. */
export class Actor {
  constructor(
    readonly client: AcmeHttpClient,
    readonly key: TestKey,
    readonly kid: string,
  ) {}

  get id(): AccountId {
    return idOf(this.kid) as AccountId;
  }

  /** A JWS signed with this account's key and kid, with a fresh nonce. */
  post(url: string, payload: unknown, opts: { key?: TestKey; headerOverrides?: Record<string, unknown> } = {}): Promise<AcmeResponse> {
    return this.client.post(url, payload, { kid: this.kid }, opts);
  }

  /** RFC 8555 §6.3 POST-as-GET. */
  fetch(url: string): Promise<AcmeResponse> {
    return this.post(url, '');
  }
}

export interface HarnessOptions {
  /** Start pebble-challtestsrv and point validation at it and at the http-01 responder. */
  validation?: boolean;
  gateway?: GatewayOptions;
}

export interface Issued {
  orderUrl: string;
  order: OrderJson;
  certUrl: string;
  chainPem: string;
  leafPem: string;
  /** The certificate's key pair (ES256), to sign a revocation with it. */
  certKey: TestKey;
}

/** One gateway (and its validation peers) per test file. */
export class Harness {
  private readonly clients: AcmeHttpClient[] = [];

  private constructor(
    readonly gw: TestGateway,
    readonly dns: Challtestsrv | undefined,
    private readonly responder: Server | undefined,
    /** token → body served at /.well-known/acme-challenge/{token}; a missing token answers 404. */
    readonly http01Answers = new Map<string, string>(),
    /** Paths the http-01 responder was asked for, in order. */
    readonly http01Requests: string[] = [],
  ) {}

  static async start(config: Record<string, unknown> = {}, opts: HarnessOptions = {}): Promise<Harness> {
    if (!opts.validation) return new Harness(await startTestGateway(config, opts.gateway ?? {}), undefined, undefined);
    const dns = await startChalltestsrv({ http01: false });
    const answers = new Map<string, string>();
    const requests: string[] = [];
    const responder = createServer((req, res) => {
      requests.push(req.url ?? '');
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      const answer = token === undefined ? undefined : answers.get(token);
      res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'application/octet-stream' }).end(answer ?? 'not here');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        responder.once('error', reject);
        responder.listen(0, '127.0.0.1', resolve);
      });
      const http01Port = (responder.address() as AddressInfo).port;
      const validation = { dnsResolver: dns.dnsAddress, http01Port, timeout: '5s', ...((config.validation as object | undefined) ?? {}) };
      const gw = await startTestGateway({ ...config, validation }, opts.gateway ?? {});
      return new Harness(gw, dns, responder, answers, requests);
    } catch (e) {
      responder.close();
      await dns.stop();
      throw e;
    }
  }

  get store(): Store {
    return this.gw.gateway.store;
  }

  directoryUrl(profile = 'default'): string {
    return this.gw.directory(profile);
  }

  /** A client trusting the gateway's CA, signing with `key` by default. */
  client(key: TestKey, profile = 'default'): AcmeHttpClient {
    const c = new AcmeHttpClient(this.directoryUrl(profile), key, { ca: this.gw.caPem });
    this.clients.push(c);
    return c;
  }

  /** A resource URL from the profile's directory. */
  async url(resource: string, profile = 'default'): Promise<string> {
    const c = this.clients.find((x) => x.directoryUrl === this.directoryUrl(profile)) ?? this.client(await generateAccountKey(), profile);
    return c.url(resource);
  }

  /** newAccount with a fresh key (or `key`); expects 201. */
  async account(opts: { profile?: string; alg?: TestKeyAlg; key?: TestKey; payload?: Record<string, unknown> } = {}): Promise<Actor> {
    const key = opts.key ?? (await generateAccountKey(opts.alg ?? 'ES256'));
    const client = this.client(key, opts.profile);
    const res = await client.post(await client.url('newAccount'), opts.payload ?? { termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] }, { jwk: true });
    if (res.status !== 201) throw new Error(`newAccount: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    const kid = res.headers.get('location');
    if (!kid) throw new Error('newAccount: no Location');
    return new Actor(client, key, kid);
  }

  /** newOrder for DNS names (or raw identifiers); expects 201 and returns the order URL and body. */
  async order(actor: Actor, names: (string | IdentifierJson)[], extra: Record<string, unknown> = {}): Promise<{ url: string; body: OrderJson }> {
    const identifiers = names.map((n) => (typeof n === 'string' ? { type: 'dns', value: n } : n));
    const res = await actor.post(await actor.client.url('newOrder'), { identifiers, ...extra });
    if (res.status !== 201) throw new Error(`newOrder: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return { url: res.headers.get('location') ?? '', body: res.body as OrderJson };
  }

  async fetchJson<T>(actor: Actor, url: string): Promise<T> {
    const res = await actor.fetch(url);
    if (res.status !== 200) throw new Error(`POST-as-GET ${url}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as T;
  }

  /** Provisions the http-01 answer for a challenge (or `body` instead of the key authorization). */
  async provisionHttp01(actor: Actor, challenge: ChallengeJson, body?: string): Promise<void> {
    this.http01Answers.set(challenge.token, body ?? (await keyAuthorization(challenge.token, actor.key)));
  }

  /** Answers every pending authorization of an order with http-01 and waits until the order is ready. */
  async makeReady(actor: Actor, order: { url: string; body: OrderJson }): Promise<OrderJson> {
    for (const authzUrl of order.body.authorizations) {
      const authz = await this.fetchJson<AuthzJson>(actor, authzUrl);
      if (authz.status !== 'pending') continue;
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge) throw new Error(`no http-01 challenge for ${authz.identifier.value}`);
      await this.provisionHttp01(actor, challenge);
      const res = await actor.post(challenge.url, {});
      if (res.status !== 200) throw new Error(`challenge: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      await waitFor(`authz ${authz.identifier.value}`, () => this.fetchJson<AuthzJson>(actor, authzUrl), (a) => a.status !== 'pending');
    }
    return waitFor('order ready', () => this.fetchJson<OrderJson>(actor, order.url), (o) => o.status !== 'pending');
  }

  /** newOrder + http-01 for every name; the order is ready. */
  async readyOrder(actor: Actor, names: string[]): Promise<{ url: string; body: OrderJson }> {
    const order = await this.order(actor, names);
    const body = await this.makeReady(actor, order);
    if (body.status !== 'ready') throw new Error(`order is ${body.status}: ${JSON.stringify(body.error)}`);
    return { url: order.url, body };
  }

  /** A ready order finalized with an ES256 key's CSR, waited on until valid, and its certificate fetched. */
  async issue(actor: Actor, names: string[]): Promise<Issued> {
    const order = await this.readyOrder(actor, names);
    const certKey = await generateAccountKey('ES256');
    const res = await actor.post(order.body.finalize, { csr: b64u(await makeCsr(names, certKey)) });
    if (res.status !== 200) throw new Error(`finalize: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    const done = await waitFor('order valid', () => this.fetchJson<OrderJson>(actor, order.url), (o) => o.status !== 'processing');
    if (done.status !== 'valid' || !done.certificate) throw new Error(`order is ${done.status}: ${JSON.stringify(done.error)}`);
    const cert = await actor.fetch(done.certificate);
    if (cert.status !== 200 || typeof cert.body !== 'string') throw new Error(`certificate: HTTP ${cert.status}`);
    const blocks = pemBlocks(cert.body);
    return { orderUrl: order.url, order: done, certUrl: done.certificate, chainPem: cert.body, leafPem: blocks[0] ?? '', certKey };
  }

  /** Any method, any body, trusting the gateway's CA (for what no ACME client sends). */
  async raw(method: string, url: string, body?: string | Buffer, contentType = 'application/json'): Promise<AcmeResponse> {
    const dispatcher = new Agent({ connect: { ca: this.gw.caPem } });
    try {
      const res = await fetch(url, { method, dispatcher, ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}) });
      const text = await res.text();
      const type = res.headers.get('content-type') ?? '';
      return { status: res.status, headers: res.headers, body: text === '' ? undefined : /[/+]json\b/.test(type) ? (JSON.parse(text) as unknown) : text };
    } finally {
      await dispatcher.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
    await this.gw.stop();
    if (this.responder) {
      const r = this.responder;
      r.closeAllConnections();
      await new Promise<void>((resolve) => r.close(() => resolve()));
    }
    await this.dns?.stop();
  }
}
