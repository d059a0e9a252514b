/**
 * A raw ACME client for tests: it signs whatever it is told to, so tests can send what real clients
 * never send (alg "none", both jwk and kid, a foreign url, a stale nonce, a general-serialization JWS).
 *
 *   const key = await generateAccountKey('ES256');
 *   const jws = await signJws({ key, jwk: true, nonce, url, payload: { termsOfServiceAgreed: true } });
 *   const client = new AcmeHttpClient(directoryUrl, key, { ca: caPem });
 *   const res = await client.post(newAccountUrl, { termsOfServiceAgreed: true }, { jwk: true });
 *
 * Signing uses WebCrypto directly (not jose) so that the header can lie about the algorithm.
 */
import { webcrypto } from 'node:crypto';
import { Agent, fetch, type Headers } from 'undici';
import { base64url } from '../../src/lib/base64url.js';
import type { FlattenedJws } from '../../src/acme/jws.js';

type CryptoKey = webcrypto.CryptoKey;
type Jwk = Record<string, unknown>;
const { subtle } = webcrypto;

export type TestKeyAlg = 'RS256' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** A key pair for signing test requests, with its public JWK. */
export interface TestKey {
  alg: TestKeyAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK as WebCrypto exports it (kty, crv/x/y or n/e, plus key_ops/ext). */
  jwk: Jwk;
}

const GENERATE: Record<TestKeyAlg, (modulusLength: number) => webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | { name: 'Ed25519' }> = {
  RS256: (modulusLength) => ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength, publicExponent: new Uint8Array([1, 0, 1]) }),
  ES256: () => ({ name: 'ECDSA', namedCurve: 'P-256' }),
  ES384: () => ({ name: 'ECDSA', namedCurve: 'P-384' }),
  ES512: () => ({ name: 'ECDSA', namedCurve: 'P-521' }),
  EdDSA: () => ({ name: 'Ed25519' }),
};

// RFC 7518 §3.1 / RFC 8037 §3.1: the WebCrypto parameters behind each JWS "alg".
const SIGN: Record<string, webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384' },
  ES512: { name: 'ECDSA', hash: 'SHA-512' },
  EdDSA: { name: 'Ed25519' },
  HS256: { name: 'HMAC' },
  HS384: { name: 'HMAC' },
  HS512: { name: 'HMAC' },
};

/** A fresh key pair; `modulusLength` (RS256 only, default 2048) may be below what servers accept. */
export async function generateAccountKey(alg: TestKeyAlg = 'ES256', opts: { modulusLength?: number } = {}): Promise<TestKey> {
  const pair = (await subtle.generateKey(GENERATE[alg](opts.modulusLength ?? 2048), true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const { kty, crv, x, y, n, e } = await subtle.exportKey('jwk', pair.publicKey);
  const jwk: Jwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
  return { alg, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk };
}

/** The private JWK of a test key (to test that a server refuses one in "jwk"). */
export async function privateJwk(key: TestKey): Promise<Jwk> {
  return { ...(await subtle.exportKey('jwk', key.privateKey)) };
}

function encodePayload(payload: unknown): string {
  if (payload === '') return ''; // RFC 8555 §6.3 POST-as-GET
  return base64url.encode(typeof payload === 'string' ? payload : JSON.stringify(payload));
}

/** Builds a flattened JWS, signing `protected.payload` with `signAlg` whatever the header says. */
async function sign(signAlg: string, key: CryptoKey, header: Record<string, unknown>, payload: string): Promise<FlattenedJws> {
  const params = SIGN[signAlg];
  if (params === undefined) throw new Error(`jws-client cannot sign with ${signAlg}`);
  const protectedB64 = base64url.encode(JSON.stringify(header));
  const signature = await subtle.sign(params, key, new TextEncoder().encode(`${protectedB64}.${payload}`));
  return { protected: protectedB64, payload, signature: base64url.encode(new Uint8Array(signature)) };
}

/** Applies overrides: a member set to `undefined` is removed. */
function withOverrides(header: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...header, ...overrides };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

export interface SignJwsOptions {
  key: TestKey;
  /** The header "alg"; default key.alg. The signature is always made with key.alg. */
  alg?: string;
  /** `true`: the key's own public JWK. Omit both jwk and kid to send neither. */
  jwk?: Jwk | true;
  kid?: string;
  nonce?: string;
  url: string;
  /** '' for POST-as-GET; a string is sent verbatim (to send non-JSON); anything else as JSON. */
  payload: unknown;
  /** Merged into the protected header last; `undefined` removes a member. */
  headerOverrides?: Record<string, unknown>;
}

/** A flattened JWS (RFC 7515 §7.2.2) as an ACME client would POST it, or as told to break it. */
export async function signJws(o: SignJwsOptions): Promise<FlattenedJws> {
  const header: Record<string, unknown> = { alg: o.alg ?? o.key.alg, url: o.url };
  if (o.nonce !== undefined) header.nonce = o.nonce;
  if (o.jwk !== undefined) header.jwk = o.jwk === true ? o.key.jwk : o.jwk;
  if (o.kid !== undefined) header.kid = o.kid;
  return sign(o.key.alg, o.key.privateKey, withOverrides(header, o.headerOverrides), encodePayload(o.payload));
}

export interface SignEabOptions {
  kid: string;
  /** The MAC key the CA handed out (raw bytes). */
  macKey: Uint8Array;
  /** Must equal the outer JWS url (newAccount). */
  url: string;
  /** The payload: the account's public JWK (RFC 8555 §7.3.4), or anything else to test refusals. */
  jwk: unknown;
  /** MAC algorithm, default HS256; the header can claim another through headerOverrides. */
  alg?: 'HS256' | 'HS384' | 'HS512';
  headerOverrides?: Record<string, unknown>;
}

/** An externalAccountBinding JWS (RFC 8555 §7.3.4): HMAC over the account key, no nonce. */
export async function signEab(o: SignEabOptions): Promise<FlattenedJws> {
  const alg = o.alg ?? 'HS256';
  const hash = `SHA-${alg.slice(2)}`;
  const key = await subtle.importKey('raw', o.macKey, { name: 'HMAC', hash }, false, ['sign']);
  const header = withOverrides({ alg, kid: o.kid, url: o.url }, o.headerOverrides);
  return sign(alg, key, header, encodePayload(o.jwk));
}

export interface SignKeyChangeInnerOptions {
  newKey: TestKey;
  url: string;
  account: string;
  oldKey: Jwk;
  headerOverrides?: Record<string, unknown>;
}

/** The inner JWS of keyChange (RFC 8555 §7.3.5): signed by the new key, jwk header, no nonce. */
export async function signKeyChangeInner(o: SignKeyChangeInnerOptions): Promise<FlattenedJws> {
  const header = withOverrides({ alg: o.newKey.alg, jwk: o.newKey.jwk, url: o.url }, o.headerOverrides);
  return sign(o.newKey.alg, o.newKey.privateKey, header, encodePayload({ account: o.account, oldKey: o.oldKey }));
}

export interface AcmeResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON for JSON content types, the text otherwise, undefined when empty. */
  body: unknown;
}

export type PostAuth = { kid: string } | { jwk: Jwk | true };

/** A tiny ACME client over undici fetch, trusting `ca` for the gateway's TLS listener. */
export class AcmeHttpClient {
  private readonly dispatcher: Agent;
  private cachedDirectory: Record<string, unknown> | undefined;

  constructor(
    readonly directoryUrl: string,
    readonly key: TestKey,
    opts: { ca?: string | Buffer } = {},
  ) {
    this.dispatcher = new Agent(opts.ca === undefined ? {} : { connect: { ca: opts.ca } });
  }

  /** GET the directory (RFC 8555 §7.1.1); fetched once, then cached. */
  async directory(): Promise<Record<string, unknown>> {
    if (this.cachedDirectory === undefined) {
      const res = await this.get(this.directoryUrl);
      if (res.status !== 200 || typeof res.body !== 'object' || res.body === null) {
        throw new Error(`directory: HTTP ${res.status}`);
      }
      this.cachedDirectory = res.body as Record<string, unknown>;
    }
    return this.cachedDirectory;
  }

  /** A resource URL from the directory, e.g. `url('newAccount')`. */
  async url(resource: string): Promise<string> {
    const value = (await this.directory())[resource];
    if (typeof value !== 'string') throw new Error(`directory has no ${resource}`);
    return value;
  }

  /** A fresh nonce: HEAD newNonce (RFC 8555 §7.2), read Replay-Nonce. */
  async nonce(): Promise<string> {
    const res = await fetch(await this.url('newNonce'), { method: 'HEAD', dispatcher: this.dispatcher });
    await res.arrayBuffer();
    const nonce = res.headers.get('replay-nonce');
    if (nonce === null) throw new Error(`newNonce: HTTP ${res.status} without Replay-Nonce`);
    return nonce;
  }

  /** Signs `payload` ('' for POST-as-GET) with a fresh nonce and the client's key, and POSTs it. */
  async post(
    url: string,
    payload: unknown,
    auth: PostAuth,
    opts: { key?: TestKey; headerOverrides?: Record<string, unknown> } = {},
  ): Promise<AcmeResponse> {
    const jws = await signJws({ key: opts.key ?? this.key, ...auth, nonce: await this.nonce(), url, payload, headerOverrides: opts.headerOverrides });
    return this.postBody(url, JSON.stringify(jws));
  }

  /** POSTs any body as-is (a hand-made JWS, a general serialization, garbage). */
  async postBody(url: string, body: string, contentType = 'application/jose+json'): Promise<AcmeResponse> {
    return this.request(url, { method: 'POST', body, headers: { 'content-type': contentType } });
  }

  /** A plain GET (directory, newNonce; anything else should be refused with 405). */
  async get(url: string): Promise<AcmeResponse> {
    return this.request(url, { method: 'GET' });
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async request(url: string, init: { method: string; body?: string; headers?: Record<string, string> }): Promise<AcmeResponse> {
    const res = await fetch(url, { ...init, dispatcher: this.dispatcher });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const body: unknown = text === '' ? undefined : /[/+]json\b/.test(type) ? JSON.parse(text) : text;
    return { status: res.status, headers: res.headers, body };
  }
}
