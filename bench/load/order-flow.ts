/**
 * One whole order, as an ACME client does it (RFC 8555 §7.4): newOrder with one random name,
 * fetch the authorization, answer http-01 from the generator's responder (§8.3), poll, finalize
 * with a fresh P-256 CSR, poll, download the chain (§7.4.2).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcmeError, problemKind, type AccountKey, type AcmeClient, type AcmeResponse } from './acme-client.js';
import { newCsr } from './csr.js';
import type { Http01Responder } from './http01.js';

export interface Account {
  key: AccountKey;
  kid: string;
}

export interface FlowOptions {
  http01: Http01Responder;
  /**
   * Waits between polls, the last one repeated. Retry-After is not honoured on purpose: the
   * gateway's 2 s hint would measure the hint, not the server. Both servers get the same schedule.
   */
  pollDelaysMs: readonly number[];
  /** Give up on one poll loop after this long (counted as `poll-timeout`). */
  pollDeadlineMs: number;
  signal: AbortSignal;
}

const BENCH_DOMAIN = 'bench.test';

export function randomName(): string {
  return `${randomBytes(8).toString('hex')}.${BENCH_DOMAIN}`;
}

function expect(res: AcmeResponse, step: string, ...statuses: number[]): Record<string, unknown> {
  if (!statuses.includes(res.status)) throw new AcmeError(problemKind(res.status, res.body), `${step}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  if (typeof res.body !== 'object' || res.body === null) throw new AcmeError('bad-body', `${step}: body is not a JSON object`);
  return res.body as Record<string, unknown>;
}

function str(obj: Record<string, unknown>, field: string, step: string): string {
  const v = obj[field];
  if (typeof v !== 'string') throw new AcmeError('bad-body', `${step}: no "${field}"`);
  return v;
}

function failedKind(obj: Record<string, unknown>, what: string): string {
  const error = obj.error;
  return `${what}-invalid:${typeof error === 'object' && error !== null ? problemKind(0, error) : 'no-error'}`;
}

/** POST-as-GET `url` until `done` says so; throws on `invalid` and after the deadline. */
async function poll(
  client: AcmeClient,
  account: Account,
  url: string,
  what: string,
  done: (status: string) => boolean,
  opts: FlowOptions,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + opts.pollDeadlineMs;
  for (let i = 0; ; i++) {
    const obj = expect(await client.post(url, undefined, account.key, account.kid), `poll ${what}`, 200);
    const status = str(obj, 'status', `poll ${what}`);
    if (done(status)) return obj;
    if (status === 'invalid') throw new AcmeError(failedKind(obj, what), `${what} became invalid: ${JSON.stringify(obj.error)}`);
    if (Date.now() > deadline) throw new AcmeError('poll-timeout', `${what} still "${status}" after ${opts.pollDeadlineMs} ms`);
    await sleep(opts.pollDelaysMs[Math.min(i, opts.pollDelaysMs.length - 1)] ?? 50, undefined, { signal: opts.signal });
  }
}

/** §7.5.1: respond to http-01 unless the authorization is valid already; wait until it is. */
async function authorize(client: AcmeClient, account: Account, authzUrl: string, opts: FlowOptions): Promise<void> {
  const authz = expect(await client.post(authzUrl, undefined, account.key, account.kid), 'authz', 200);
  if (authz.status === 'valid') return;
  const challenges = Array.isArray(authz.challenges) ? (authz.challenges as Record<string, unknown>[]) : [];
  const http01 = challenges.find((c) => c.type === 'http-01');
  if (!http01) throw new AcmeError('no-http-01', 'authorization offers no http-01 challenge');
  const token = str(http01, 'token', 'challenge');
  // RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey))
  opts.http01.set(token, `${token}.${account.key.thumbprint}`);
  try {
    if (http01.status === 'pending') expect(await client.post(str(http01, 'url', 'challenge'), {}, account.key, account.kid), 'challenge', 200);
    await poll(client, account, authzUrl, 'authz', (s) => s === 'valid', opts);
  } finally {
    opts.http01.delete(token);
  }
}

/** The whole order for one random name; resolves once the chain is downloaded. */
export async function runOrder(client: AcmeClient, account: Account, opts: FlowOptions): Promise<void> {
  const name = randomName();
  const { newOrder } = await client.dir();
  const created = await client.post(newOrder, { identifiers: [{ type: 'dns', value: name }] }, account.key, account.kid);
  let order = expect(created, 'newOrder', 201);
  const orderUrl = created.location;
  if (!orderUrl) throw new AcmeError('no-location', 'newOrder: no Location header');
  const authzs = Array.isArray(order.authorizations) ? order.authorizations.filter((a): a is string => typeof a === 'string') : [];
  for (const authzUrl of authzs) await authorize(client, account, authzUrl, opts);

  if (order.status !== 'ready') order = await poll(client, account, orderUrl, 'order', (s) => s === 'ready' || s === 'valid', opts);
  if (order.status === 'ready') {
    const csr = Buffer.from(await newCsr(name)).toString('base64url');
    order = expect(await client.post(str(order, 'finalize', 'order'), { csr }, account.key, account.kid), 'finalize', 200);
    if (order.status !== 'valid') order = await poll(client, account, orderUrl, 'order', (s) => s === 'valid', opts);
  }

  const certUrl = str(order, 'certificate', 'order');
  const cert = await client.post(certUrl, undefined, account.key, account.kid, 'application/pem-certificate-chain');
  if (cert.status !== 200) throw new AcmeError(problemKind(cert.status, cert.body), `certificate: HTTP ${cert.status}`);
  if (typeof cert.body !== 'string' || !cert.body.startsWith('-----BEGIN CERTIFICATE-----')) throw new AcmeError('bad-chain', 'certificate: not a PEM chain');
}
