import { describe, it, expect, beforeAll } from 'vitest';
import { calculateJwkThumbprint } from 'jose';
import {
  ACCOUNT_ALGORITHMS,
  importAccountKey,
  parseJws,
  sameKey,
  thumbprintOf,
  verifyExternalAccountBinding,
  verifyJws,
  verifyKeyChangeInner,
  type FlattenedJws,
} from '../../../src/acme/jws.js';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import { base64url } from '../../../src/lib/base64url.js';
import {
  generateAccountKey,
  privateJwk,
  signEab,
  signJws,
  signKeyChangeInner,
  type TestKey,
  type TestKeyAlg,
} from '../../helpers/jws-client.js';

const URL_NEW_ACCOUNT = 'https://acme.example.test/acme/web/new-account';
const URL_KEY_CHANGE = 'https://acme.example.test/acme/web/key-change';
const ACCOUNT_URL = 'https://acme.example.test/acme/web/acct/abc';
const NONCE = 'AAAAAAAAAAAAAAAAAAAAAA';
const MAC_KEY = new Uint8Array(32).fill(7);

/** The AcmeProblem a call throws (sync or async); fails the test when it throws nothing else. */
async function problemOf(fn: () => unknown): Promise<AcmeProblem> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected an AcmeProblem, nothing was thrown');
}

async function expectProblem(fn: () => unknown, type: string, status: number): Promise<AcmeProblem> {
  const p = await problemOf(fn);
  expect({ type: p.type, status: p.status }).toEqual({ type, status });
  expect(p.toDocument().type).toBe(`urn:ietf:params:acme:error:${type}`);
  return p;
}

/** A flattened JWS whose protected header is exactly `header` (signature irrelevant to parse checks). */
function withHeader(header: Record<string, unknown>, payload = ''): FlattenedJws {
  return { protected: base64url.encode(JSON.stringify(header)), payload, signature: 'c2ln' };
}

/** Parses, imports the jwk and verifies, the way the jws middleware does for a jwk request. */
async function acceptJwk(body: unknown): Promise<unknown> {
  const { jws, header } = parseJws(body);
  if (header.jwk === undefined) throw new Error('test JWS has no jwk');
  return verifyJws(jws, header, await importAccountKey(header.jwk, header.alg));
}

let es256: TestKey;
let es384: TestKey;
let rs256: TestKey;
beforeAll(async () => {
  [es256, es384, rs256] = await Promise.all([generateAccountKey('ES256'), generateAccountKey('ES384'), generateAccountKey('RS256')]);
});

describe('parseJws (RFC 8555 §6.2)', () => {
  it('returns the protected header members of a well-formed JWS', async () => {
    const body = await signJws({ key: es256, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: { a: 1 } });
    const { jws, header } = parseJws(body);
    expect(jws).toEqual(body);
    expect(header).toEqual({ alg: 'ES256', nonce: NONCE, url: URL_NEW_ACCOUNT, jwk: es256.jwk });
  });

  it('returns kid and no nonce when the JWS has them so', async () => {
    const body = await signJws({ key: es256, kid: ACCOUNT_URL, url: URL_NEW_ACCOUNT, payload: '' });
    expect(parseJws(body).header).toEqual({ alg: 'ES256', url: URL_NEW_ACCOUNT, kid: ACCOUNT_URL });
  });

  it('refuses alg "none" with badSignatureAlgorithm listing the supported algorithms', async () => {
    const p = await expectProblem(() => parseJws(withHeader({ alg: 'none', jwk: es256.jwk, nonce: NONCE, url: URL_NEW_ACCOUNT })), 'badSignatureAlgorithm', 400);
    expect(p.toDocument()).toMatchObject({ algorithms: [...ACCOUNT_ALGORITHMS] });
  });

  it('refuses "none" even when a caller puts it in the allow-list', async () => {
    await expectProblem(() => parseJws(withHeader({ alg: 'none', kid: ACCOUNT_URL, url: URL_NEW_ACCOUNT }), ['ES256', 'none']), 'badSignatureAlgorithm', 400);
  });

  it('refuses a MAC algorithm (HS256) outside EAB with badSignatureAlgorithm', async () => {
    await expectProblem(() => parseJws(withHeader({ alg: 'HS256', kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT })), 'badSignatureAlgorithm', 400);
  });

  it('refuses an algorithm outside a narrower allow-list', async () => {
    const body = await signJws({ key: rs256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: '' });
    const p = await expectProblem(() => parseJws(body, ['ES256']), 'badSignatureAlgorithm', 400);
    expect(p.extra).toEqual({ algorithms: ['ES256'] });
  });

  it('refuses a header without alg as malformed', async () => {
    await expectProblem(() => parseJws(withHeader({ kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT })), 'malformed', 400);
  });

  it('refuses a JWS carrying both jwk and kid', async () => {
    const body = await signJws({ key: es256, jwk: true, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws(body), 'malformed', 400);
  });

  it('refuses a JWS carrying neither jwk nor kid', async () => {
    const body = await signJws({ key: es256, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws(body), 'malformed', 400);
  });

  it('refuses a jwk that is not an object and a kid that is not a string', async () => {
    await expectProblem(() => parseJws(withHeader({ alg: 'ES256', jwk: 'key', url: URL_NEW_ACCOUNT })), 'malformed', 400);
    await expectProblem(() => parseJws(withHeader({ alg: 'ES256', kid: 42, url: URL_NEW_ACCOUNT })), 'malformed', 400);
  });

  it('refuses a JWS without url (RFC 8555 §6.4.1)', async () => {
    const body = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {}, headerOverrides: { url: undefined } });
    await expectProblem(() => parseJws(body), 'malformed', 400);
  });

  it('refuses a nonce that is not base64url (RFC 8555 §6.5.2)', async () => {
    await expectProblem(() => parseJws(withHeader({ alg: 'ES256', kid: ACCOUNT_URL, nonce: 'a+b/c=', url: URL_NEW_ACCOUNT })), 'malformed', 400);
    await expectProblem(() => parseJws(withHeader({ alg: 'ES256', kid: ACCOUNT_URL, nonce: 12, url: URL_NEW_ACCOUNT })), 'malformed', 400);
  });

  it('refuses the general serialization (a "signatures" array)', async () => {
    const flat = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    const general = { payload: flat.payload, signatures: [{ protected: flat.protected, signature: flat.signature }] };
    await expectProblem(() => parseJws(general), 'malformed', 400);
  });

  it('refuses an unprotected header', async () => {
    const flat = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws({ ...flat, header: { kid: 'x' } }), 'malformed', 400);
  });

  it('refuses members other than protected, payload and signature', async () => {
    const flat = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws({ ...flat, extra: 1 }), 'malformed', 400);
  });

  it('refuses a body that is not a JSON object', async () => {
    for (const body of [null, 'a.b.c', [], 42]) await expectProblem(() => parseJws(body), 'malformed', 400);
  });

  it('refuses a missing or non-string payload (detached payload)', async () => {
    const { payload: _payload, ...detached } = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws(detached), 'malformed', 400);
    await expectProblem(() => parseJws({ ...detached, payload: { a: 1 } }), 'malformed', 400);
  });

  it('refuses a missing signature', async () => {
    const flat = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws({ ...flat, signature: '' }), 'malformed', 400);
  });

  it('refuses members that are not base64url', async () => {
    const flat = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: { a: 1 } });
    const padded = Buffer.from(JSON.stringify({ alg: 'ES256', kid: ACCOUNT_URL, url: URL_NEW_ACCOUNT, x: 1 })).toString('base64');
    await expectProblem(() => parseJws({ ...flat, protected: padded }), 'malformed', 400);
    await expectProblem(() => parseJws({ ...flat, payload: `${flat.payload}=` }), 'malformed', 400);
    await expectProblem(() => parseJws({ ...flat, signature: `${flat.signature.slice(1)}+` }), 'malformed', 400);
    await expectProblem(() => parseJws({ ...flat, protected: 'A' }), 'malformed', 400);
  });

  it('refuses a protected header that is not a JSON object', async () => {
    const flat = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => parseJws({ ...flat, protected: base64url.encode('{"alg":') }), 'malformed', 400);
    await expectProblem(() => parseJws({ ...flat, protected: base64url.encode('["ES256"]') }), 'malformed', 400);
  });

  it('refuses "crit" and the unencoded payload option "b64" (RFC 7797)', async () => {
    const base = { alg: 'ES256', kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT };
    await expectProblem(() => parseJws(withHeader({ ...base, crit: ['b64'], b64: false })), 'malformed', 400);
    await expectProblem(() => parseJws(withHeader({ ...base, b64: false })), 'malformed', 400);
  });
});

describe('importAccountKey (RFC 8555 §6.2)', () => {
  it('refuses a jwk holding a private key as malformed', async () => {
    await expectProblem(async () => importAccountKey(await privateJwk(es256), 'ES256'), 'malformed', 400);
  });

  it('refuses an RSA key of 1024 bits with badPublicKey', async () => {
    const small = await generateAccountKey('RS256', { modulusLength: 1024 });
    await expectProblem(() => importAccountKey(small.jwk, 'RS256'), 'badPublicKey', 400);
  });

  it('refuses ES256 with a P-384 key with badPublicKey', async () => {
    await expectProblem(() => importAccountKey(es384.jwk, 'ES256'), 'badPublicKey', 400);
  });

  it('refuses RS256 with an EC key and ES256 with an RSA key', async () => {
    await expectProblem(() => importAccountKey(es256.jwk, 'RS256'), 'badPublicKey', 400);
    await expectProblem(() => importAccountKey(rs256.jwk, 'ES256'), 'badPublicKey', 400);
  });

  it('refuses EdDSA with Ed448', async () => {
    await expectProblem(() => importAccountKey({ kty: 'OKP', crv: 'Ed448', x: base64url.encode(new Uint8Array(57).fill(1)) }, 'EdDSA'), 'badPublicKey', 400);
  });

  it('refuses an unsupported curve and an unsupported key type', async () => {
    await expectProblem(() => importAccountKey({ ...es256.jwk, crv: 'secp256k1' }, 'ES256'), 'badPublicKey', 400);
    await expectProblem(() => importAccountKey({ kty: 'AKP', pub: 'AAAA' }, 'ES256'), 'badPublicKey', 400);
  });

  it('refuses a point that is not on the curve', async () => {
    const y = base64url.decode(String(es256.jwk.y))!;
    y[31] = y[31]! ^ 1;
    await expectProblem(() => importAccountKey({ ...es256.jwk, y: base64url.encode(y) }, 'ES256'), 'badPublicKey', 400);
  });

  it('refuses a coordinate of the wrong size and a modulus with a leading zero octet', async () => {
    await expectProblem(() => importAccountKey({ ...es256.jwk, x: base64url.encode(new Uint8Array(31).fill(1)) }, 'ES256'), 'badPublicKey', 400);
    const n = base64url.decode(String(rs256.jwk.n))!;
    await expectProblem(() => importAccountKey({ ...rs256.jwk, n: base64url.encode(new Uint8Array([0, ...n])) }, 'RS256'), 'badPublicKey', 400);
  });

  it('refuses a jwk that is not a JWK as malformed', async () => {
    await expectProblem(() => importAccountKey({ n: 'AQAB' }, 'RS256'), 'malformed', 400);
  });

  it('refuses a jwk whose own "alg" or "use" says otherwise', async () => {
    await expectProblem(() => importAccountKey({ ...es256.jwk, alg: 'ES384' }, 'ES256'), 'badPublicKey', 400);
    await expectProblem(() => importAccountKey({ ...es256.jwk, use: 'enc' }, 'ES256'), 'badPublicKey', 400);
  });

  it('refuses alg HS256 and "none" with badSignatureAlgorithm', async () => {
    await expectProblem(() => importAccountKey(es256.jwk, 'HS256'), 'badSignatureAlgorithm', 400);
    await expectProblem(() => importAccountKey(es256.jwk, 'none'), 'badSignatureAlgorithm', 400);
  });

  it('keeps only the public members and computes the RFC 7638 thumbprint', async () => {
    const key = await importAccountKey({ ...es256.jwk, kid: 'mine', key_ops: ['verify'], ext: true }, 'ES256');
    expect(key.jwk).toEqual({ crv: 'P-256', kty: 'EC', x: es256.jwk.x, y: es256.jwk.y });
    expect(key.thumbprint).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: String(es256.jwk.x), y: String(es256.jwk.y) }));
    expect(key.alg).toBe('ES256');
  });

  it('returns the cached import for the same key', async () => {
    const a = await importAccountKey(es256.jwk, 'ES256');
    const b = await importAccountKey({ ...es256.jwk, kid: 'other member' }, 'ES256');
    expect(b).toBe(a);
  });
});

describe('verifyJws', () => {
  const algs: TestKeyAlg[] = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  it.each(algs)('accepts a %s JWS and returns its JSON payload', async (alg) => {
    const key = await generateAccountKey(alg);
    const body = await signJws({ key, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: { termsOfServiceAgreed: true } });
    expect(await acceptJwk(body)).toEqual({ termsOfServiceAgreed: true });
  });

  it('returns undefined for POST-as-GET (payload "", RFC 8555 §6.3)', async () => {
    const body = await signJws({ key: es256, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: '' });
    expect(await acceptJwk(body)).toBeUndefined();
  });

  it('verifies a kid request with the stored account key', async () => {
    const stored = (await importAccountKey(es256.jwk, 'ES256')).jwk;
    const body = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: { status: 'deactivated' } });
    const { jws, header } = parseJws(body);
    expect(await verifyJws(jws, header, await importAccountKey(stored, header.alg))).toEqual({ status: 'deactivated' });
  });

  it('refuses a tampered payload: "JWS signature is invalid"', async () => {
    const body = await signJws({ key: es256, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: { contact: ['mailto:a@example.test'] } });
    const tampered = { ...body, payload: base64url.encode(JSON.stringify({ contact: ['mailto:evil@example.test'] })) };
    const p = await expectProblem(() => acceptJwk(tampered), 'malformed', 400);
    expect(p.detail).toBe('JWS signature is invalid');
  });

  it('refuses a JWS signed by another key than its jwk', async () => {
    const other = await generateAccountKey('ES256');
    const body = await signJws({ key: other, jwk: es256.jwk, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {} });
    await expectProblem(() => acceptJwk(body), 'malformed', 400);
  });

  it('refuses a header alg the key was not imported for', async () => {
    const body = await signJws({ key: es256, kid: ACCOUNT_URL, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: {}, alg: 'ES384' });
    const { jws, header } = parseJws(body);
    await expectProblem(async () => verifyJws(jws, header, await importAccountKey(es256.jwk, 'ES256')), 'badPublicKey', 400);
  });

  it('refuses an ES256 signature in DER (ASN.1) form: RFC 7518 §3.4 wants R ‖ S', async () => {
    const { KeyObject, sign } = await import('node:crypto');
    const body = await signJws({ key: es256, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: { a: 1 } });
    const derSig = sign('sha256', Buffer.from(`${body.protected}.${body.payload}`), { key: KeyObject.from(es256.privateKey), dsaEncoding: 'der' });
    const p = await expectProblem(() => acceptJwk({ ...body, signature: base64url.encode(derSig) }), 'malformed', 400);
    expect(p.detail).toBe('JWS signature is invalid');
  });

  it('refuses a payload that is not JSON', async () => {
    const body = await signJws({ key: es256, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: 'not json' });
    await expectProblem(() => acceptJwk(body), 'malformed', 400);
  });

  it('refuses a JSON payload that is not an object', async () => {
    const body = await signJws({ key: es256, jwk: true, nonce: NONCE, url: URL_NEW_ACCOUNT, payload: [1, 2] });
    await expectProblem(() => acceptJwk(body), 'malformed', 400);
  });
});

describe('thumbprintOf and sameKey (RFC 7638)', () => {
  it('computes the RFC 7638 §3.1 example thumbprint', async () => {
    const n = '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    expect(await thumbprintOf({ kty: 'RSA', n, e: 'AQAB', alg: 'RS256', kid: '2011-04-29' })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('treats the same key with other optional members as the same key', async () => {
    expect(await sameKey(es256.jwk, { ...es256.jwk, kid: 'x', use: 'sig' })).toBe(true);
    expect(await sameKey(es256.jwk, es384.jwk)).toBe(false);
    expect(await sameKey(es256.jwk, { kty: 'nonsense' })).toBe(false);
  });
});

describe('verifyExternalAccountBinding (RFC 8555 §7.3.4)', () => {
  const lookup = async (kid: string) => (kid === 'kid-1' ? MAC_KEY : undefined);
  const eab = (o: Partial<Parameters<typeof signEab>[0]> = {}) =>
    signEab({ kid: 'kid-1', macKey: MAC_KEY, url: URL_NEW_ACCOUNT, jwk: es256.jwk, ...o });

  it('returns the kid of a valid binding', async () => {
    expect(await verifyExternalAccountBinding(await eab(), es256.jwk, URL_NEW_ACCOUNT, lookup)).toBe('kid-1');
  });

  it('accepts HS384 and HS512 and a payload spelling the key with other members', async () => {
    expect(await verifyExternalAccountBinding(await eab({ alg: 'HS384' }), es256.jwk, URL_NEW_ACCOUNT, lookup)).toBe('kid-1');
    const spelled = { ...es256.jwk, key_ops: ['verify'], ext: true };
    expect(await verifyExternalAccountBinding(await eab({ alg: 'HS512', jwk: spelled }), es256.jwk, URL_NEW_ACCOUNT, lookup)).toBe('kid-1');
  });

  it('refuses a wrong MAC as unauthorized', async () => {
    const forged = await eab({ macKey: new Uint8Array(32).fill(8) });
    await expectProblem(() => verifyExternalAccountBinding(forged, es256.jwk, URL_NEW_ACCOUNT, lookup), 'unauthorized', 403);
  });

  it('refuses a url other than the outer url as malformed', async () => {
    const other = await eab({ url: 'https://acme.example.test/acme/other/new-account' });
    await expectProblem(() => verifyExternalAccountBinding(other, es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
  });

  it('refuses a binding of a different key than the account key as unauthorized', async () => {
    const binding = await eab({ jwk: es384.jwk });
    await expectProblem(() => verifyExternalAccountBinding(binding, es256.jwk, URL_NEW_ACCOUNT, lookup), 'unauthorized', 403);
  });

  it('refuses an unknown kid as unauthorized', async () => {
    const p = await expectProblem(async () => verifyExternalAccountBinding(await eab({ kid: 'kid-2' }), es256.jwk, URL_NEW_ACCOUNT, lookup), 'unauthorized', 403);
    expect(p.detail).toContain('unknown EAB key id');
  });

  it('refuses alg RS256 in a binding as malformed', async () => {
    const binding = await eab({ headerOverrides: { alg: 'RS256' } });
    await expectProblem(() => verifyExternalAccountBinding(binding, es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
  });

  it('refuses a nonce, a jwk instead of kid, and a general serialization as malformed', async () => {
    const withNonce = await eab({ headerOverrides: { nonce: NONCE } });
    await expectProblem(() => verifyExternalAccountBinding(withNonce, es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
    const withJwk = await eab({ headerOverrides: { kid: undefined, jwk: es256.jwk } });
    await expectProblem(() => verifyExternalAccountBinding(withJwk, es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
    const flat = await eab();
    const general = { payload: flat.payload, signatures: [{ protected: flat.protected, signature: flat.signature }] };
    await expectProblem(() => verifyExternalAccountBinding(general, es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
    await expectProblem(() => verifyExternalAccountBinding('x', es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
  });

  it('refuses a payload that is not a public JWK as malformed', async () => {
    await expectProblem(async () => verifyExternalAccountBinding(await eab({ jwk: 'not json' }), es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
    await expectProblem(async () => verifyExternalAccountBinding(await eab({ jwk: await privateJwk(es256) }), es256.jwk, URL_NEW_ACCOUNT, lookup), 'malformed', 400);
  });
});

describe('verifyKeyChangeInner (RFC 8555 §7.3.5)', () => {
  let newKey: TestKey;
  beforeAll(async () => {
    newKey = await generateAccountKey('EdDSA');
  });
  const inner = (o: Partial<Parameters<typeof signKeyChangeInner>[0]> = {}) =>
    signKeyChangeInner({ newKey, url: URL_KEY_CHANGE, account: ACCOUNT_URL, oldKey: es256.jwk, ...o });

  it('returns the new key, the account and the old key', async () => {
    const result = await verifyKeyChangeInner(await inner(), URL_KEY_CHANGE);
    expect(result.account).toBe(ACCOUNT_URL);
    expect(result.oldKey).toEqual(es256.jwk);
    expect(result.newKey.thumbprint).toBe(await thumbprintOf(newKey.jwk));
    expect(await sameKey(result.oldKey, es256.jwk)).toBe(true);
  });

  it('refuses an inner url that differs from the outer url', async () => {
    await expectProblem(async () => verifyKeyChangeInner(await inner(), URL_NEW_ACCOUNT), 'malformed', 400);
  });

  it('refuses an inner JWS with kid instead of jwk', async () => {
    const withKid = await inner({ headerOverrides: { jwk: undefined, kid: ACCOUNT_URL } });
    await expectProblem(() => verifyKeyChangeInner(withKid, URL_KEY_CHANGE), 'malformed', 400);
  });

  it('refuses an inner JWS without jwk', async () => {
    const bare = await inner({ headerOverrides: { jwk: undefined } });
    await expectProblem(() => verifyKeyChangeInner(bare, URL_KEY_CHANGE), 'malformed', 400);
  });

  it('refuses an inner JWS with a nonce', async () => {
    const withNonce = await inner({ headerOverrides: { nonce: NONCE } });
    await expectProblem(() => verifyKeyChangeInner(withNonce, URL_KEY_CHANGE), 'malformed', 400);
  });

  it('refuses an inner JWS not signed by its jwk', async () => {
    const lying = await inner({ headerOverrides: { jwk: (await generateAccountKey('EdDSA')).jwk } });
    await expectProblem(() => verifyKeyChangeInner(lying, URL_KEY_CHANGE), 'malformed', 400);
  });

  it('refuses a payload that is not a keyChange object', async () => {
    const body = await signJws({ key: newKey, jwk: true, url: URL_KEY_CHANGE, payload: { account: ACCOUNT_URL } });
    await expectProblem(() => verifyKeyChangeInner(body, URL_KEY_CHANGE), 'malformed', 400);
  });

  it('refuses an inner JWS with alg HS256 with badSignatureAlgorithm', async () => {
    const mac = await inner({ headerOverrides: { alg: 'HS256' } });
    await expectProblem(() => verifyKeyChangeInner(mac, URL_KEY_CHANGE), 'badSignatureAlgorithm', 400);
  });
});
