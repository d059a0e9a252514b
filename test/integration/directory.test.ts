/**
 * The directory (RFC 8555 §7.1.1) and newNonce (§7.2) over HTTPS, and the method rules of §6.3:
 * GET only for these two, POST-as-GET for everything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness, expectAcmeHeaders, expectJson, expectProblem, linkTargets, nonceOf, type Actor } from './support.js';

const TERMS = 'https://example.test/terms/v1';
let h: Harness;
let alice: Actor;

beforeAll(async () => {
  h = await Harness.start({
    profiles: {
      default: { termsOfService: TERMS, website: 'https://example.test/', caaIdentities: ['ca.example.test'], description: 'web servers' },
      partners: { eab: { required: true } },
    },
  });
  alice = await h.account();
});
afterAll(() => h?.stop());

describe('directory (RFC 8555 §7.1.1)', () => {
  it('answers GET with every resource URL of the profile and its meta', async () => {
    const dir = h.directoryUrl();
    const res = await alice.client.get(dir);
    const body = expectJson<Record<string, unknown>>(res, 200, dir);
    const root = dir.replace(/\/directory$/, '');
    expect(body).toMatchObject({
      newNonce: `${root}/new-nonce`,
      newAccount: `${root}/new-account`,
      newOrder: `${root}/new-order`,
      revokeCert: `${root}/revoke-cert`,
      keyChange: `${root}/key-change`,
    });
    for (const resource of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange']) {
      expect(new URL(body[resource] as string).protocol).toBe('https:');
    }
    // §7.1.1: "If the ACME server does not implement pre-authorization ..., it MUST omit the "newAuthz" field".
    expect(body).not.toHaveProperty('newAuthz');
    expect(body.meta).toEqual({
      termsOfService: TERMS,
      website: 'https://example.test/',
      caaIdentities: ['ca.example.test'],
      externalAccountRequired: false,
      description: 'web servers',
    });
  });

  it('says externalAccountRequired: true for a profile that requires EAB (§7.3.4)', async () => {
    const res = await alice.client.get(h.directoryUrl('partners'));
    const body = expectJson<{ meta: Record<string, unknown>; newAccount: string }>(res, 200, h.directoryUrl('partners'));
    expect(body.meta.externalAccountRequired).toBe(true);
    expect(body.meta).not.toHaveProperty('termsOfService');
    expect(body.newAccount).toContain('/acme/partners/');
  });

  it('answers an unknown profile with 404 malformed', async () => {
    const res = await alice.client.get(h.directoryUrl().replace('/acme/default/', '/acme/nope/'));
    const doc = expectProblem(res, 404, 'malformed');
    expect(doc.detail).toContain('nope');
  });

  it('answers a POST-as-GET with the directory (§6.3: "in addition to POST-as-GET requests")', async () => {
    const dir = h.directoryUrl();
    const res = await alice.fetch(dir);
    const body = expectJson<Record<string, unknown>>(res, 200, dir);
    expect(body.newOrder).toBe(await alice.client.url('newOrder'));
  });

  it('refuses a POST that is not a JWS with 415', async () => {
    const res = await h.raw('POST', h.directoryUrl(), '{}');
    expectProblem(res, 415, 'malformed', h.directoryUrl());
  });

  it('refuses PUT with 405 malformed', async () => {
    const res = await h.raw('PUT', h.directoryUrl(), '{}');
    expectProblem(res, 405, 'malformed', h.directoryUrl());
  });
});

describe('newNonce (RFC 8555 §7.2)', () => {
  it('answers HEAD with 200, a nonce, Cache-Control: no-store and Link rel="index"', async () => {
    const res = await h.raw('HEAD', await alice.client.url('newNonce'));
    expect(res.status).toBe(200);
    expect(res.body).toBeUndefined();
    expect(res.headers.get('cache-control')).toMatch(/\bno-store\b/);
    expectAcmeHeaders(res, h.directoryUrl());
  });

  it('answers GET with 204, an empty body, a nonce and Cache-Control: no-store', async () => {
    const res = await h.raw('GET', await alice.client.url('newNonce'));
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(res.headers.get('cache-control')).toMatch(/\bno-store\b/);
    expectAcmeHeaders(res, h.directoryUrl());
  });

  it('hands out a different nonce each time', async () => {
    const url = await alice.client.url('newNonce');
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) nonces.add(nonceOf(await h.raw('HEAD', url)));
    expect(nonces.size).toBe(5);
  });

  it('answers a POST-as-GET like a GET (§6.3): 204 with a fresh nonce and no-store', async () => {
    const res = await alice.fetch(await alice.client.url('newNonce'));
    expect(res.status).toBe(204);
    expect(res.headers.get('cache-control')).toMatch(/\bno-store\b/);
    expectAcmeHeaders(res, h.directoryUrl());
  });

  it('refuses PUT with 405 malformed', async () => {
    const res = await h.raw('PUT', await alice.client.url('newNonce'), '{}');
    expectProblem(res, 405, 'malformed', h.directoryUrl());
  });
});

describe('GET on other resources (RFC 8555 §6.3)', () => {
  it.each(['newAccount', 'newOrder', 'revokeCert', 'keyChange'])('answers GET %s with 405 malformed', async (resource) => {
    const res = await h.raw('GET', await alice.client.url(resource));
    expectProblem(res, 405, 'malformed', h.directoryUrl());
  });

  it('answers GET on the account URL with 405 malformed, and leaves the account alone', async () => {
    const res = await h.raw('GET', alice.kid);
    expectProblem(res, 405, 'malformed', h.directoryUrl());
    expect(linkTargets(res, 'index')).toEqual([h.directoryUrl()]);
  });
});
