/**
 * Authorizations (RFC 8555 §7.5, §7.5.2) and challenges (§7.5.1, §8.3, §8.4) with real validation:
 * names resolve to 127.0.0.1 through pebble-challtestsrv, http-01 is answered by a node:http
 * responder on the port the gateway is configured with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey } from '../helpers/jws-client.js';
import { Harness, b64u, dns01Digest, expectJson, expectProblem, idOf, keyAuthorization, linkTargets, makeCsr, waitFor, type Actor, type AuthzJson, type ChallengeJson, type OrderJson } from './support.js';

let h: Harness;
let dir: string;
let alice: Actor;
let mallory: Actor;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: {} }, validation: { retryAfterSeconds: 3 } }, { validation: true });
  dir = h.directoryUrl();
  alice = await h.account();
  mallory = await h.account();
});
afterAll(() => h?.stop());

/** A fresh order for `name` with its (single) authorization. */
async function orderWithAuthz(name: string, actor = alice) {
  const order = await h.order(actor, [name]);
  const authzUrl = order.body.authorizations[0] ?? '';
  const authz = await h.fetchJson<AuthzJson>(actor, authzUrl);
  const challenge = (type: string): ChallengeJson => {
    const c = authz.challenges.find((x) => x.type === type);
    if (!c) throw new Error(`no ${type} challenge`);
    return c;
  };
  return { order, authzUrl, authz, challenge };
}

const untilSettled = (actor: Actor, url: string) => waitFor(`authz ${url}`, () => h.fetchJson<AuthzJson>(actor, url), (a) => a.status !== 'pending');

describe('authorization (RFC 8555 §7.5)', () => {
  it('returns the authorization on POST-as-GET', async () => {
    const { authzUrl } = await orderWithAuthz('read.authz.example.test');
    const body = expectJson<AuthzJson>(await alice.fetch(authzUrl), 200, dir);
    expect(body).toMatchObject({ identifier: { type: 'dns', value: 'read.authz.example.test' }, status: 'pending' });
  });

  it('refuses another account\'s authorization as unauthorized', async () => {
    const { authzUrl } = await orderWithAuthz('theirs.authz.example.test');
    expectProblem(await mallory.fetch(authzUrl), 403, 'unauthorized', dir);
  });

  it('answers an unknown authorization with 404 malformed', async () => {
    expectProblem(await alice.fetch(`${dir.replace(/directory$/, 'authz/')}NoSuchAuthz`), 404, 'malformed', dir);
  });
});

describe('deactivating an authorization (RFC 8555 §7.5.2)', () => {
  it('deactivates it (200, the updated object) and the order becomes invalid (§7.1.6)', async () => {
    const { order, authzUrl } = await orderWithAuthz('deactivate.authz.example.test');
    const res = await alice.post(authzUrl, { status: 'deactivated' });
    expect(expectJson<AuthzJson>(res, 200, dir).status).toBe('deactivated');
    expect((await h.store.getAuthz(idOf(authzUrl) as never))?.status).toBe('deactivated');
    const after = await h.fetchJson<OrderJson>(alice, order.url);
    expect(after.status).toBe('invalid');
    expect(after.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
  });

  it('deactivates a valid authorization too; its ready order becomes invalid and cannot be finalized', async () => {
    const ready = await h.readyOrder(alice, ['valid-then-deactivated.authz.example.test']);
    const authzUrl = ready.body.authorizations[0] ?? '';
    expect(expectJson<AuthzJson>(await alice.post(authzUrl, { status: 'deactivated' }), 200, dir).status).toBe('deactivated');
    // §7.1.6: the order moves to invalid once an authorization is "deactivated"; §7.5.2: "The server
    // MUST NOT treat deactivated authorization objects as sufficient for issuing certificates."
    expect((await h.fetchJson<OrderJson>(alice, ready.url)).status).toBe('invalid');
    const csr = b64u(await makeCsr(['valid-then-deactivated.authz.example.test'], await generateAccountKey()));
    expectProblem(await alice.post(ready.body.finalize, { csr }), 403, 'orderNotReady', dir);
    expect((await h.store.getOrder(idOf(ready.url) as never))?.certificateId).toBeNull();
    const again = await h.order(alice, ['valid-then-deactivated.authz.example.test']);
    expect(again.body.status).toBe('pending');
    expect(again.body.authorizations).not.toContain(authzUrl);
  });

  it('refuses to deactivate twice as malformed, changing nothing', async () => {
    const { authzUrl } = await orderWithAuthz('twice.authz.example.test');
    expect((await alice.post(authzUrl, { status: 'deactivated' })).status).toBe(200);
    const before = await h.store.getAuthz(idOf(authzUrl) as never);
    expectProblem(await alice.post(authzUrl, { status: 'deactivated' }), 400, 'malformed', dir);
    expect(await h.store.getAuthz(idOf(authzUrl) as never)).toEqual(before);
  });

  it('refuses another account\'s deactivation as unauthorized, changing nothing', async () => {
    const { order, authzUrl } = await orderWithAuthz('foreign.authz.example.test');
    const before = await h.store.getAuthz(idOf(authzUrl) as never);
    expectProblem(await mallory.post(authzUrl, { status: 'deactivated' }), 403, 'unauthorized', dir);
    expect(await h.store.getAuthz(idOf(authzUrl) as never)).toEqual(before);
    expect((await h.fetchJson<OrderJson>(alice, order.url)).status).toBe('pending');
  });

  it('refuses a status other than deactivated as malformed, changing nothing', async () => {
    const { authzUrl } = await orderWithAuthz('valid-please.authz.example.test');
    const before = await h.store.getAuthz(idOf(authzUrl) as never);
    expectProblem(await alice.post(authzUrl, { status: 'valid' }), 400, 'malformed', dir);
    expect(await h.store.getAuthz(idOf(authzUrl) as never)).toEqual(before);
  });
});

describe('responding to a challenge (RFC 8555 §7.5.1)', () => {
  it('starts validation on POST {}: processing, Retry-After and Link rel="up"; then valid, authz valid, order ready', async () => {
    const { order, authzUrl, challenge } = await orderWithAuthz('ok.chall.example.test');
    const http01 = challenge('http-01');
    await h.provisionHttp01(alice, http01);
    const res = await alice.post(http01.url, {});
    const body = expectJson<ChallengeJson>(res, 200, dir);
    expect(body).toMatchObject({ type: 'http-01', url: http01.url, token: http01.token, status: 'processing' });
    expect(res.headers.get('retry-after')).toBe('3');
    expect(linkTargets(res, 'up')).toEqual([authzUrl]);

    const authz = await untilSettled(alice, authzUrl);
    expect(authz.status).toBe('valid');
    // §7.5.1: "If the final state is "valid", then the server MUST include an "expires" field."
    expect(new Date(authz.expires).getTime()).toBeGreaterThan(Date.now());
    const done = authz.challenges.find((c) => c.url === http01.url);
    expect(done).toMatchObject({ status: 'valid' });
    expect(new Date(done?.validated ?? '').getTime()).toBeGreaterThan(0);
    expect(h.http01Requests).toContain(`/.well-known/acme-challenge/${http01.token}`);

    const c = expectJson<ChallengeJson>(await alice.fetch(http01.url), 200, dir);
    expect(c.status).toBe('valid');
    expect((await h.fetchJson<OrderJson>(alice, order.url)).status).toBe('ready');
    expect((await h.store.getOrder(idOf(order.url) as never))?.status).toBe('ready');
  });

  it('validates dns-01 for a wildcard through the DNS server', async () => {
    const { order, authzUrl, challenge } = await orderWithAuthz('*.wild.chall.example.test');
    const dns01 = challenge('dns-01');
    await h.dns?.addTxt('_acme-challenge.wild.chall.example.test', dns01Digest(await keyAuthorization(dns01.token, alice.key)));
    expect((await alice.post(dns01.url, {})).status).toBe(200);
    const authz = await untilSettled(alice, authzUrl);
    expect(authz).toMatchObject({ status: 'valid', wildcard: true });
    expect((await h.fetchJson<OrderJson>(alice, order.url)).status).toBe('ready');
  });

  it.each([
    ['the wrong key authorization', 'wrong.chall.example.test', (token: string) => `${token}.not-the-thumbprint`, 'incorrectResponse'],
    ['404', 'missing.chall.example.test', undefined, undefined],
  ])('fails on %s: challenge invalid with an error naming the URL, authz invalid, order invalid', async (_what, name, answer, type) => {
    const { order, authzUrl, challenge } = await orderWithAuthz(name);
    const http01 = challenge('http-01');
    if (answer) h.http01Answers.set(http01.token, answer(http01.token));
    expect(expectJson<ChallengeJson>(await alice.post(http01.url, {}), 200, dir).status).toBe('processing');

    const authz = await untilSettled(alice, authzUrl);
    expect(authz.status).toBe('invalid');
    const failed = expectJson<ChallengeJson>(await alice.fetch(http01.url), 200, dir);
    expect(failed.status).toBe('invalid');
    expect(failed.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
    if (type) expect(failed.error?.type).toBe(`urn:ietf:params:acme:error:${type}`);
    expect(failed.error?.detail).toContain(`/.well-known/acme-challenge/${http01.token}`);
    expect(failed.error?.detail).toContain(name);
    // §7.5.1: "The server SHOULD NOT remove challenges with status "invalid"."
    expect(authz.challenges.find((c) => c.url === http01.url)?.status).toBe('invalid');

    const after = await h.fetchJson<OrderJson>(alice, order.url);
    expect(after.status).toBe('invalid');
    expect(after.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
    expect((await h.store.getOrder(idOf(order.url) as never))?.status).toBe('invalid');
  });

  it('does not start validation on POST-as-GET', async () => {
    const { authzUrl, challenge } = await orderWithAuthz('peek.chall.example.test');
    const http01 = challenge('http-01');
    await h.provisionHttp01(alice, http01);
    const res = await alice.fetch(http01.url);
    const body = expectJson<ChallengeJson>(res, 200, dir);
    expect(body.status).toBe('pending');
    expect(res.headers.get('retry-after')).toBeNull();
    expect(linkTargets(res, 'up')).toEqual([authzUrl]);
    expect((await h.store.getChallenge(idOf(http01.url) as never))?.status).toBe('pending');
    expect(h.http01Requests).not.toContain(`/.well-known/acme-challenge/${http01.token}`);
  });

  it('returns a challenge that is no longer pending unchanged', async () => {
    const ready = await h.readyOrder(alice, ['again.chall.example.test']);
    const authz = await h.fetchJson<AuthzJson>(alice, ready.body.authorizations[0] ?? '');
    const valid = authz.challenges.find((c) => c.status === 'valid');
    if (!valid) throw new Error('no valid challenge');
    const before = await h.store.getChallenge(idOf(valid.url) as never);
    const res = await alice.post(valid.url, {});
    expect(expectJson<ChallengeJson>(res, 200, dir)).toEqual(valid);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await h.store.getChallenge(idOf(valid.url) as never)).toEqual(before);
  });

  it('returns an invalid challenge unchanged, without validating again', async () => {
    const { authzUrl, challenge } = await orderWithAuthz('failed-again.chall.example.test');
    const http01 = challenge('http-01');
    await alice.post(http01.url, {});
    await untilSettled(alice, authzUrl);
    const failed = await h.fetchJson<ChallengeJson>(alice, http01.url);
    const asked = h.http01Requests.length;
    await h.provisionHttp01(alice, http01);
    expect(expectJson<ChallengeJson>(await alice.post(http01.url, {}), 200, dir)).toEqual(failed);
    expect(h.http01Requests.length).toBe(asked);
  });

  it('refuses another account\'s challenge as unauthorized, without validating', async () => {
    const { challenge } = await orderWithAuthz('foreign.chall.example.test');
    const http01 = challenge('http-01');
    expectProblem(await mallory.post(http01.url, {}), 403, 'unauthorized', dir);
    expectProblem(await mallory.fetch(http01.url), 403, 'unauthorized', dir);
    expect((await h.store.getChallenge(idOf(http01.url) as never))?.status).toBe('pending');
  });
});
