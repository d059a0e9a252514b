/**
 * The load generator's ACME client (RFC 8555) on jose and undici: flattened JWS with ES256, nonces
 * reused from responses as real clients do (RFC 8555 §6.5), one retry on badNonce (§6.7: "clients
 * SHOULD retry"). It does only what the benchmark flow needs; test/helpers/jws-client.ts is the
 * client for negative tests.
 */
import { FlattenedSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { webcrypto } from 'node:crypto';
import { request, type Dispatcher } from 'undici';

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

export interface AcmeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON for JSON bodies, the text otherwise. */
  body: unknown;
  location: string | undefined;
}

/** An ACME problem (RFC 7807, RFC 8555 §6.7) or an HTTP failure, with a short type for counting. */
export class AcmeError extends Error {
  override readonly name = 'AcmeError';
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

/** Counts what the stall detector and the report need; shared by every client of one run. */
export interface RequestObserver {
  /** Called when a response (any status) has been read completely. */
  completed(): void;
  /** Called when a badNonce was answered and the request retried. */
  badNonceRetried(): void;
}

export interface AccountKey {
  privateKey: webcrypto.CryptoKey;
  jwk: JWK;
  thumbprint: string;
}

export async function newAccountKey(): Promise<AccountKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const jwk: JWK = { kty, crv, x, y };
  return { privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
}

const URN = 'urn:ietf:params:acme:error:';
const encoder = new TextEncoder();

function header(headers: AcmeResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Short problem type for error counting: `badNonce`, `http-503`, `ECONNRESET`, ... */
export function problemKind(status: number, body: unknown): string {
  if (typeof body === 'object' && body !== null && 'type' in body && typeof body.type === 'string') {
    return body.type.startsWith(URN) ? body.type.slice(URN.length) : body.type;
  }
  return `http-${status}`;
}

/**
 * One client per worker: its own nonce pool, shared HTTP dispatcher. The account may change
 * (a new account per order) while the nonces stay, as nonces belong to the server, not the account.
 */
export class AcmeClient {
  private readonly nonces: string[] = [];
  private directory: Directory | undefined;

  constructor(
    private readonly directoryUrl: string,
    private readonly dispatcher: Dispatcher,
    private readonly observer: RequestObserver,
    private readonly signal: AbortSignal,
  ) {}

  async dir(): Promise<Directory> {
    if (this.directory) return this.directory;
    const res = await this.send('GET', this.directoryUrl);
    const d = res.body as Partial<Directory>;
    if (res.status !== 200 || typeof d.newNonce !== 'string' || typeof d.newAccount !== 'string' || typeof d.newOrder !== 'string') {
      throw new AcmeError('bad-directory', `directory ${this.directoryUrl}: HTTP ${res.status}`);
    }
    this.directory = { newNonce: d.newNonce, newAccount: d.newAccount, newOrder: d.newOrder };
    return this.directory;
  }

  /** RFC 8555 §7.3: a new account for `key`; returns its URL (the kid). */
  async newAccount(key: AccountKey): Promise<string> {
    const { newAccount } = await this.dir();
    const res = await this.post(newAccount, { termsOfServiceAgreed: true }, key, undefined);
    if (res.status !== 201 && res.status !== 200) throw new AcmeError(problemKind(res.status, res.body), `newAccount: HTTP ${res.status}`);
    if (!res.location) throw new AcmeError('no-location', 'newAccount: no Location header');
    return res.location;
  }

  /**
   * A signed POST; `payload` undefined is POST-as-GET (§6.3). `kid` undefined signs with `jwk`.
   * On badNonce it retries once with the nonce of the error response (§6.5).
   */
  async post(url: string, payload: unknown, key: AccountKey, kid: string | undefined, accept?: string): Promise<AcmeResponse> {
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.nonce();
      const body = await this.sign(url, payload, key, kid, nonce);
      const res = await this.send('POST', url, body, accept);
      if (attempt === 0 && res.status === 400 && problemKind(res.status, res.body) === 'badNonce') {
        this.observer.badNonceRetried();
        continue;
      }
      return res;
    }
  }

  private async sign(url: string, payload: unknown, key: AccountKey, kid: string | undefined, nonce: string): Promise<string> {
    const bytes = payload === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(payload));
    const jws = await new FlattenedSign(bytes)
      .setProtectedHeader(kid === undefined ? { alg: 'ES256', nonce, url, jwk: key.jwk } : { alg: 'ES256', nonce, url, kid })
      .sign(key.privateKey);
    return JSON.stringify(jws);
  }

  private async nonce(): Promise<string> {
    const kept = this.nonces.pop();
    if (kept !== undefined) return kept;
    const { newNonce } = await this.dir();
    await this.send('HEAD', newNonce);
    const fresh = this.nonces.pop();
    if (fresh === undefined) throw new AcmeError('no-nonce', 'newNonce answered without Replay-Nonce');
    return fresh;
  }

  private async send(method: 'GET' | 'HEAD' | 'POST', url: string, body?: string, accept?: string): Promise<AcmeResponse> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/jose+json';
    if (accept !== undefined) headers.accept = accept;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method, headers, body, dispatcher: this.dispatcher, signal: this.signal });
    } catch (e) {
      throw new AcmeError(errorCode(e), `${method} ${url}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const text = await res.body.text().catch((e: unknown) => {
      throw new AcmeError(errorCode(e), `${method} ${url}: body: ${e instanceof Error ? e.message : String(e)}`);
    });
    this.observer.completed();
    const nonce = header(res.headers, 'replay-nonce');
    if (nonce !== undefined) this.nonces.push(nonce);
    const type = header(res.headers, 'content-type') ?? '';
    let parsed: unknown = text;
    if (type.includes('json') && text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new AcmeError('bad-json', `${method} ${url}: HTTP ${res.statusCode} with a body that is not JSON`);
      }
    }
    return { status: res.statusCode, headers: res.headers, body: parsed, location: header(res.headers, 'location') };
  }
}

function errorCode(e: unknown): string {
  if (e instanceof Error) {
    if (e.name === 'AbortError') return 'aborted';
    if ('code' in e && typeof e.code === 'string') return e.code;
    return e.name;
  }
  return 'unknown';
}
