import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDns01Validator } from '../../../src/va/dns-01.js';
import { createNetClient } from '../../../src/va/net-node.js';
import type { ChallengeValidator, ValidationInput } from '../../../src/va/validator.js';
import { startChalltestsrv, type Challtestsrv } from '../../fakes/challtestsrv.js';
import { closedPort, keyAuthorizationFor, sha256 } from './fixtures.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTHORIZATION = keyAuthorizationFor(TOKEN);
const DIGEST = Buffer.from(sha256(KEY_AUTHORIZATION)).toString('base64url');
const input = (value: string, wildcard = false): ValidationInput => ({
  identifier: { type: 'dns', value },
  wildcard,
  token: TOKEN,
  keyAuthorization: KEY_AUTHORIZATION,
});
const signal = (): AbortSignal => AbortSignal.timeout(5_000);

let dns: Challtestsrv;
let validator: ChallengeValidator;
const names: string[] = [];
beforeAll(async () => {
  dns = await startChalltestsrv({ http01: false });
  validator = createDns01Validator(createNetClient({ dnsResolver: dns.dns, http01Port: 1, tlsAlpn01Port: 1, timeoutMs: 5_000 }));
});
afterAll(async () => {
  await dns.stop();
});
afterEach(async () => {
  await Promise.all(names.splice(0).map((n) => dns.clearTxt(n)));
});
async function addTxt(name: string, value: string): Promise<void> {
  names.push(name);
  await dns.addTxt(name, value);
}

describe('dns-01', () => {
  it('is valid when one TXT record holds base64url(SHA-256(key authorization))', async () => {
    await addTxt('_acme-challenge.a.example.test', 'unrelated');
    await addTxt('_acme-challenge.a.example.test', DIGEST);
    const result = await validator.validate(input('a.example.test'), signal());
    expect(result).toEqual({ status: 'valid', records: [{ hostname: 'a.example.test', resolver: dns.dnsAddress }] });
  });

  it('refuses TXT records that do not match with incorrectResponse, counting them', async () => {
    await addTxt('_acme-challenge.a.example.test', 'wrong-1');
    await addTxt('_acme-challenge.a.example.test', Buffer.from(sha256('other')).toString('base64url'));
    const result = await validator.validate(input('a.example.test'), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('incorrectResponse');
    expect(result.problem.detail).toBe(`dns-01: no TXT record at _acme-challenge.a.example.test matched (found 2 records); expected "${DIGEST}"`);
    expect(result.records).toEqual([{ hostname: 'a.example.test', resolver: dns.dnsAddress }]);
  });

  it('refuses a name without TXT records with unauthorized', async () => {
    const result = await validator.validate(input('nothing-here.example.test'), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('unauthorized');
    expect(result.problem.detail).toBe(`dns-01: no TXT record found at _acme-challenge.nothing-here.example.test (resolver ${dns.dnsAddress})`);
  });

  it('reports SERVFAIL with dns', async () => {
    await dns.setServfail('_acme-challenge.servfail.example.test');
    const result = await validator.validate(input('servfail.example.test'), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('dns');
    expect(result.problem.detail).toBe(
      `dns-01: TXT lookup for _acme-challenge.servfail.example.test failed: the server answered SERVFAIL (resolver ${dns.dnsAddress})`,
    );
  });

  it('reports an unreachable resolver with dns', async () => {
    const port = await closedPort();
    const offline = createDns01Validator(
      createNetClient({ dnsResolver: { host: '127.0.0.1', port }, http01Port: 1, tlsAlpn01Port: 1, timeoutMs: 600 }),
    );
    const result = await offline.validate(input('a.example.test'), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('dns');
    expect(result.problem.detail).toBe(
      `dns-01: TXT lookup for _acme-challenge.a.example.test failed: connection to the server refused (resolver 127.0.0.1:${port})`,
    );
  });

  it('follows a CNAME at the validation name', async () => {
    await addTxt('_acme-challenge.target.example.test', DIGEST);
    await dns.addCname('_acme-challenge.alias.example.test', '_acme-challenge.target.example.test');
    const result = await validator.validate(input('alias.example.test'), signal());
    expect(result.status).toBe('valid');
  });

  it('validates a wildcard at _acme-challenge of the base name', async () => {
    await addTxt('_acme-challenge.example.test', DIGEST);
    const result = await validator.validate(input('example.test', true), signal());
    expect(result.status).toBe('valid');
  });

  it('accepts DNS names and wildcards but never IP addresses (RFC 8738 §7)', () => {
    expect(validator.accepts({ type: 'dns', value: 'example.test' }, true)).toBe(true);
    expect(validator.accepts({ type: 'dns', value: 'a.example.test' }, false)).toBe(true);
    expect(validator.accepts({ type: 'ip', value: '192.0.2.1' }, false)).toBe(false);
  });
});
