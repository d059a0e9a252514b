/**
 * The JWS layer over HTTP (RFC 8555 §6.2-6.5): media type, size, flattened serialization, algorithm,
 * jwk xor kid as the resource demands, url integrity, replay nonces, signature. Every refusal is a
 * problem document with a fresh nonce, and changes nothing in the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url } from '../../src/lib/base64url.js';
import { generateAccountKey, privateJwk, signJws, type AcmeHttpClient, type SignJwsOptions, type TestKey } from '../helpers/jws-client.js';
import { Harness, expectJson, expectProblem, nonceOf, thumbprint, type Actor } from './support.js';

let h: Harness;
let alice: Actor;
let bob: Actor; // an account of the other profile
let dir: string;
let newAccountUrl: string;
let newOrderUrl: string;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: {}, other: {} }, server: { bodyLimitBytes: 4096 } });
  alice = await h.account();
  bob = await h.account({ profile: 'other' });
  dir = h.directoryUrl();
  newAccountUrl = await alice.client.url('newAccount');
  newOrderUrl = await alice.client.url('newOrder');
});
afterAll(() => h?.stop());

const ORDER = { identifiers: [{ type: 'dns', value: 'jws.example.test' }] };

/** Signs as told (fresh nonce unless given) and POSTs the flattened JWS. */
async function send(client: AcmeHttpClient, url: string, o: Partial<SignJwsOptions> & { key: TestKey; payload: unknown }) {
  const nonce = 'nonce' in o ? o.nonce : await client.nonce();
  const jws = await signJws({ url, ...o, nonce });
  return client.postBody(url, JSON.stringify(jws));
}

async function ordersOf(actor: Actor): Promise<number> {
  return (await h.store.listOrders(actor.id, null, 1000)).items.length;
}

async function accountFor(key: TestKey, profile = 'default') {
  return h.store.findAccountByThumbprint(profile, await thumbprint(key));
}

describe('transport (RFC 8555 §6.2)', () => {
  it('refuses a Content-Type other than application/jose+json with 415, creating nothing', async () => {
    const key = await generateAccountKey();
    const jws = await signJws({ key, jwk: true, nonce: await alice.client.nonce(), url: newAccountUrl, payload: { termsOfServiceAgreed: true } });
    const res = await alice.client.postBody(newAccountUrl, JSON.stringify(jws), 'application/json');
    expectProblem(res, 415, 'malformed', dir);
    expect(await accountFor(key)).toBeUndefined();
  });

  it('refuses a body over server.bodyLimitBytes with 413', async () => {
    const before = await ordersOf(alice);
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, payload: { ...ORDER, padding: 'x'.repeat(8192) } });
    expectProblem(res, 413, 'malformed', dir);
    expect(await ordersOf(alice)).toBe(before);
  });

  it('refuses a chunked body (no Content-Length) that grows over server.bodyLimitBytes with 413', async () => {
    const { Agent, fetch } = await import('undici');
    const before = await ordersOf(alice);
    const dispatcher = new Agent({ connect: { ca: h.gw.caPem } });
    try {
      const chunk = new TextEncoder().encode('x'.repeat(1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 16) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const res = await fetch(newOrderUrl, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/jose+json' }, dispatcher });
      expect(res.headers.get('content-length')).not.toBe('0');
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ type: 'urn:ietf:params:acme:error:malformed', detail: 'the request body is larger than 4096 bytes' });
    } finally {
      await dispatcher.close();
    }
    expect(await ordersOf(alice)).toBe(before);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await alice.client.postBody(newOrderUrl, '{"protected": ');
    expectProblem(res, 400, 'malformed', dir);
  });

  it('refuses the general JSON serialization', async () => {
    const jws = await signJws({ key: alice.key, kid: alice.kid, nonce: await alice.client.nonce(), url: newOrderUrl, payload: ORDER });
    const general = { payload: jws.payload, signatures: [{ protected: jws.protected, signature: jws.signature }] };
    expectProblem(await alice.client.postBody(newOrderUrl, JSON.stringify(general)), 400, 'malformed', dir);
  });

  it('refuses an unprotected header', async () => {
    const jws = await signJws({ key: alice.key, kid: alice.kid, nonce: await alice.client.nonce(), url: newOrderUrl, payload: ORDER });
    expectProblem(await alice.client.postBody(newOrderUrl, JSON.stringify({ ...jws, header: { kid: alice.kid } })), 400, 'malformed', dir);
  });

  it('refuses a payload that is not a JSON object', async () => {
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, payload: 'not json' });
    expectProblem(res, 400, 'malformed', dir);
  });

  it('refuses POST-as-GET where the resource needs a payload', async () => {
    const before = await ordersOf(alice);
    expectProblem(await alice.fetch(newOrderUrl), 400, 'malformed', dir);
    expect(await ordersOf(alice)).toBe(before);
  });
});

describe('algorithm and key (RFC 8555 §6.2)', () => {
  it.each(['none', 'HS256'])('refuses alg %s with badSignatureAlgorithm listing the algorithms', async (alg) => {
    const key = await generateAccountKey();
    const res = await send(alice.client, newAccountUrl, { key, jwk: true, alg, payload: { termsOfServiceAgreed: true } });
    const doc = expectProblem(res, 400, 'badSignatureAlgorithm', dir);
    // §6.2: "The problem document returned with the error MUST include an "algorithms" field".
    expect(doc.algorithms).toEqual(expect.arrayContaining(['ES256', 'EdDSA']));
    expect(doc.algorithms).not.toContain('none');
    expect(doc.algorithms?.some((a) => a.startsWith('HS'))).toBe(false);
    expect(await accountFor(key)).toBeUndefined();
  });

  it('refuses an RS256 key below 2048 bits with badPublicKey, creating nothing', async () => {
    const key = await generateAccountKey('RS256', { modulusLength: 1024 });
    const res = await send(alice.client, newAccountUrl, { key, jwk: true, payload: { termsOfServiceAgreed: true } });
    expectProblem(res, 400, 'badPublicKey', dir);
    expect(await accountFor(key)).toBeUndefined();
  });

  it('refuses a jwk that carries the private key', async () => {
    const key = await generateAccountKey();
    const res = await send(alice.client, newAccountUrl, { key, jwk: await privateJwk(key), payload: { termsOfServiceAgreed: true } });
    expectProblem(res, 400, 'malformed', dir);
    expect(await accountFor(key)).toBeUndefined();
  });

  it('refuses a JWS with both jwk and kid', async () => {
    const before = await ordersOf(alice);
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, jwk: true, payload: ORDER });
    expectProblem(res, 400, 'malformed', dir);
    expect(await ordersOf(alice)).toBe(before);
  });

  it('refuses a JWS with neither jwk nor kid', async () => {
    const res = await send(alice.client, newOrderUrl, { key: alice.key, payload: ORDER });
    expectProblem(res, 400, 'malformed', dir);
  });

  it('refuses jwk where the resource wants kid (newOrder)', async () => {
    const before = await ordersOf(alice);
    const res = await send(alice.client, newOrderUrl, { key: alice.key, jwk: true, payload: ORDER });
    expectProblem(res, 400, 'malformed', dir);
    expect(await ordersOf(alice)).toBe(before);
  });

  it('refuses kid where the resource wants jwk (newAccount)', async () => {
    const res = await send(alice.client, newAccountUrl, { key: alice.key, kid: alice.kid, payload: { termsOfServiceAgreed: true } });
    expectProblem(res, 400, 'malformed', dir);
  });

  it('refuses a signature made by another key than the jwk', async () => {
    const claimed = await generateAccountKey();
    const signer = await generateAccountKey();
    const res = await send(alice.client, newAccountUrl, { key: signer, jwk: claimed.jwk, payload: { termsOfServiceAgreed: true } });
    expectProblem(res, 400, 'malformed', dir);
    expect(await accountFor(claimed)).toBeUndefined();
    expect(await accountFor(signer)).toBeUndefined();
  });

  it('refuses a signature made by another key than the kid account\'s', async () => {
    const before = await ordersOf(alice);
    const res = await send(alice.client, newOrderUrl, { key: await generateAccountKey(), kid: alice.kid, payload: ORDER });
    expectProblem(res, 400, 'malformed', dir);
    expect(await ordersOf(alice)).toBe(before);
  });

  it('refuses a signature over another payload', async () => {
    const jws = await signJws({ key: alice.key, kid: alice.kid, nonce: await alice.client.nonce(), url: newOrderUrl, payload: ORDER });
    const tampered = { ...jws, payload: base64url.encode(JSON.stringify({ identifiers: [{ type: 'dns', value: 'evil.example.test' }] })) };
    expectProblem(await alice.client.postBody(newOrderUrl, JSON.stringify(tampered)), 400, 'malformed', dir);
  });
});

describe('kid (RFC 8555 §6.2, §7.3)', () => {
  it('answers a kid naming no account with accountDoesNotExist', async () => {
    const kid = alice.kid.replace(/[^/]+$/, 'NoSuchAccount');
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid, payload: ORDER });
    expectProblem(res, 400, 'accountDoesNotExist', dir);
  });

  it('answers a kid of another profile\'s account with accountDoesNotExist, creating nothing', async () => {
    const res = await send(bob.client, newOrderUrl, { key: bob.key, kid: bob.kid, payload: ORDER });
    expectProblem(res, 400, 'accountDoesNotExist', dir);
    expect(await ordersOf(bob)).toBe(0);
  });

  it('does not accept the other profile\'s account URL as kid even with its id under this profile', async () => {
    const kid = alice.kid.replace(/[^/]+$/, bob.id);
    const res = await send(bob.client, newOrderUrl, { key: bob.key, kid, payload: ORDER });
    expectProblem(res, 400, 'accountDoesNotExist', dir);
    expect(await ordersOf(bob)).toBe(0);
  });
});

describe('url (RFC 8555 §6.4)', () => {
  it('refuses a JWS whose url is not the request URL as unauthorized', async () => {
    const before = await ordersOf(alice);
    const jws = await signJws({ key: alice.key, kid: alice.kid, nonce: await alice.client.nonce(), url: alice.kid, payload: ORDER });
    const res = await alice.client.postBody(newOrderUrl, JSON.stringify(jws));
    expectProblem(res, 403, 'unauthorized', dir);
    expect(await ordersOf(alice)).toBe(before);
  });

  it('compares the url as a string: a trailing slash is another URL', async () => {
    const jws = await signJws({ key: alice.key, kid: alice.kid, nonce: await alice.client.nonce(), url: `${newOrderUrl}/`, payload: ORDER });
    expectProblem(await alice.client.postBody(newOrderUrl, JSON.stringify(jws)), 403, 'unauthorized', dir);
  });

  it('refuses a JWS without url as malformed', async () => {
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, payload: ORDER, headerOverrides: { url: undefined } });
    expectProblem(res, 400, 'malformed', dir);
  });
});

describe('nonces (RFC 8555 §6.5)', () => {
  /** §6.5: a badNonce response "MUST include a Replay-Nonce header field with a fresh nonce that the server will accept in a retry". */
  async function retryWith(nonce: string) {
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce, payload: ORDER });
    expectJson(res, 201, dir);
  }

  it('refuses a JWS without nonce with badNonce, and the nonce it returns works on retry', async () => {
    const before = await ordersOf(alice);
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce: undefined, payload: ORDER });
    expectProblem(res, 400, 'badNonce', dir);
    expect(await ordersOf(alice)).toBe(before);
    await retryWith(nonceOf(res));
    expect(await ordersOf(alice)).toBe(before + 1);
  });

  it('refuses a nonce that was used already, and the nonce it returns works on retry', async () => {
    const nonce = await alice.client.nonce();
    expectJson(await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce, payload: ORDER }), 201, dir);
    const before = await ordersOf(alice);
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce, payload: ORDER });
    expectProblem(res, 400, 'badNonce', dir);
    expect(await ordersOf(alice)).toBe(before);
    await retryWith(nonceOf(res));
  });

  it('refuses a nonce the server never issued, and the nonce it returns works on retry', async () => {
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce: 'AAAAAAAAAAAAAAAAAAAAAA', payload: ORDER });
    expectProblem(res, 400, 'badNonce', dir);
    await retryWith(nonceOf(res));
  });

  it('refuses a nonce from a badNonce response once it has been used', async () => {
    const bad = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce: 'AAAAAAAAAAAAAAAAAAAAAA', payload: ORDER });
    const fresh = nonceOf(bad);
    await retryWith(fresh);
    expectProblem(await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce: fresh, payload: ORDER }), 400, 'badNonce', dir);
  });

  it('refuses a nonce that is not base64url as malformed (§6.5.2)', async () => {
    const res = await send(alice.client, newOrderUrl, { key: alice.key, kid: alice.kid, nonce: 'not+base64/url=', payload: ORDER });
    expectProblem(res, 400, 'malformed', dir);
  });

  it('accepts a nonce handed out by any response, e.g. an error', async () => {
    const err = await h.raw('GET', newOrderUrl);
    expect(err.status).toBe(405);
    await retryWith(nonceOf(err));
  });
});
