import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problem } from '../../../src/protocol/problem.js';
import type { ChallengeType } from '../../../src/protocol/types.js';
import { createValidators, validateChallenge } from '../../../src/va/index.js';
import { NetError, type NetClient, type NetErrorKind } from '../../../src/va/net.js';
import { createNetClient } from '../../../src/va/net-node.js';
import type { ChallengeValidator, ValidationInput, ValidationResult } from '../../../src/va/validator.js';
import { startChalltestsrv, type Challtestsrv } from '../../fakes/challtestsrv.js';
import { keyAuthorizationFor, startSilentServer, type TestServer } from './fixtures.js';

const TOKEN = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const input = (value = 'a.example.test', opts: { type?: 'dns' | 'ip'; wildcard?: boolean } = {}): ValidationInput => ({
  identifier: { type: opts.type ?? 'dns', value },
  wildcard: opts.wildcard ?? false,
  token: TOKEN,
  keyAuthorization: keyAuthorizationFor(TOKEN),
});

/** A validator for http-01 whose validate() the test supplies. */
function fake(validate: ChallengeValidator['validate']): Map<ChallengeType, ChallengeValidator> {
  return new Map([['http-01', { type: 'http-01', accepts: () => true, validate }]]);
}

function problemOf(result: ValidationResult): { type: string; detail: string } {
  expect(result.status).toBe('invalid');
  return result.status === 'invalid' ? { type: result.problem.type, detail: result.problem.detail } : { type: '', detail: '' };
}

let dns: Challtestsrv;
let silent: TestServer;
beforeAll(async () => {
  [dns, silent] = await Promise.all([startChalltestsrv({ http01: false }), startSilentServer()]);
});
afterAll(async () => {
  await Promise.all([dns.stop(), silent.close()]);
});

describe('createValidators', () => {
  it('has one validator per challenge type', () => {
    const net: NetClient = createNetClient({ http01Port: 80, tlsAlpn01Port: 443, timeoutMs: 1_000 });
    const validators = createValidators(net);
    expect([...validators.keys()].sort()).toEqual(['dns-01', 'http-01', 'tls-alpn-01']);
    for (const [type, v] of validators) expect(v.type).toBe(type);
  });
});

describe('validateChallenge', () => {
  it.each<[NetErrorKind, string]>([
    ['dns', 'dns'],
    ['tls', 'tls'],
    ['connection', 'connection'],
    ['timeout', 'connection'],
    ['too-large', 'connection'],
    ['redirect', 'connection'],
  ])('turns a thrown NetError of kind %s into the %s problem', async (kind, type) => {
    const validators = fake(async () => {
      throw new NetError(kind, 'what went wrong');
    });
    const result = await validateChallenge(validators, 'http-01', input(), 1_000);
    expect(problemOf(result)).toEqual({ type, detail: 'http-01: what went wrong' });
    expect(result.records).toEqual([]);
  });

  it('turns a thrown AcmeProblem into an invalid result', async () => {
    const validators = fake(async () => {
      throw problem.unauthorized('no');
    });
    expect(problemOf(await validateChallenge(validators, 'http-01', input(), 1_000))).toEqual({ type: 'unauthorized', detail: 'no' });
  });

  it('lets a programmer error through', async () => {
    const validators = fake(async () => {
      throw new TypeError('bug');
    });
    await expect(validateChallenge(validators, 'http-01', input(), 1_000)).rejects.toThrow(TypeError);
  });

  it('holds the deadline even for a validator that ignores its signal', async () => {
    const validators = fake(() => new Promise<ValidationResult>(() => undefined));
    expect(problemOf(await validateChallenge(validators, 'http-01', input(), 100))).toEqual({
      type: 'connection',
      detail: 'http-01: no result within 100 ms',
    });
  });

  it('stops when the caller aborts', async () => {
    const validators = fake(() => new Promise<ValidationResult>(() => undefined));
    const shutdown = new AbortController();
    const pending = validateChallenge(validators, 'http-01', input(), 60_000, shutdown.signal);
    shutdown.abort();
    expect(problemOf(await pending).type).toBe('connection');
  });

  it('times out http-01 against a server that never answers', async () => {
    const net = createNetClient({ dnsResolver: dns.dns, http01Port: silent.port, tlsAlpn01Port: 1, timeoutMs: 60_000 });
    const result = await validateChallenge(createValidators(net), 'http-01', input(), 200);
    expect(problemOf(result)).toEqual({
      type: 'connection',
      detail: `http-01: GET http://a.example.test:${silent.port}/.well-known/acme-challenge/${TOKEN} failed: no answer from 127.0.0.1:${silent.port} before the deadline`,
    });
    expect(result.records[0]).toMatchObject({ hostname: 'a.example.test', addressesResolved: ['127.0.0.1'] });
  });

  it('refuses dns-01 for an IP identifier (RFC 8738 §7)', async () => {
    const net = createNetClient({ dnsResolver: dns.dns, http01Port: 1, tlsAlpn01Port: 1, timeoutMs: 1_000 });
    const result = await validateChallenge(createValidators(net), 'dns-01', input('192.0.2.1', { type: 'ip' }), 1_000);
    expect(problemOf(result)).toEqual({ type: 'malformed', detail: 'dns-01 cannot prove the IP address 192.0.2.1 (RFC 8738 §7)' });
  });

  it.each<ChallengeType>(['http-01', 'tls-alpn-01'])('refuses %s for a wildcard', async (type) => {
    const net = createNetClient({ dnsResolver: dns.dns, http01Port: 1, tlsAlpn01Port: 1, timeoutMs: 1_000 });
    const result = await validateChallenge(createValidators(net), type, input('example.test', { wildcard: true }), 1_000);
    expect(problemOf(result)).toEqual({
      type: 'malformed',
      detail: `${type} cannot prove the wildcard *.example.test; a wildcard is proven with dns-01 only`,
    });
  });

  it('refuses a challenge type that is not offered', async () => {
    const result = await validateChallenge(new Map(), 'tls-alpn-01', input(), 1_000);
    expect(problemOf(result)).toEqual({ type: 'malformed', detail: 'challenge type tls-alpn-01 is not offered by this server' });
  });
});
