/**
 * Status changes driven by time (RFC 8555 §7.1.6): expiry is computed from `expires` and the clock on
 * read. The gateway runs on a TestClock that the tests advance; TLS and validation use real time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../../src/lib/clock.js';
import { generateAccountKey } from '../helpers/jws-client.js';
import { Harness, b64u, expectJson, expectProblem, idOf, makeCsr, type Actor, type AuthzJson, type OrderJson } from './support.js';

const DAY_MS = 86_400_000;
// Started a minute back, so the listener certificate made at startup is valid for the real TLS client.
const clock = new TestClock(new Date(Date.now() - 60_000));
let h: Harness;
let dir: string;
let alice: Actor;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: { orderLifetime: '2d', authzLifetime: '1d', authzReuse: '30d' } } }, { validation: true, gateway: { clock } });
  dir = h.directoryUrl();
  alice = await h.account();
});
afterAll(() => h?.stop());

/** Moves the gateway's clock to just after `iso`. */
function passTime(iso: string): void {
  clock.set(new Date(new Date(iso).getTime() + 1_000));
}

describe('expiry on read (RFC 8555 §7.1.6)', () => {
  it('reads a pending order whose expires has passed as invalid', async () => {
    const { url, body } = await h.order(alice, ['late.state.example.test']);
    expect(body.status).toBe('pending');
    expect(Math.abs(new Date(body.expires).getTime() - (clock.now().getTime() + 2 * DAY_MS))).toBeLessThan(1_000); // orderLifetime
    passTime(body.expires);
    const after = expectJson<OrderJson>(await alice.fetch(url), 200, dir);
    expect(after.status).toBe('invalid');
    expect(after.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
  });

  it('reads a pending authorization whose expires has passed as expired, and refuses to validate it', async () => {
    const { url, body } = await h.order(alice, ['stale.state.example.test']);
    const authzUrl = body.authorizations[0] ?? '';
    const authz = await h.fetchJson<AuthzJson>(alice, authzUrl);
    expect(new Date(authz.expires).getTime()).toBeLessThan(new Date(body.expires).getTime()); // authzLifetime 1d < orderLifetime 2d
    passTime(authz.expires);
    expect(expectJson<AuthzJson>(await alice.fetch(authzUrl), 200, dir).status).toBe('expired');
    // §7.1.6: "The order also moves to the "invalid" state if ... one of its authorizations enters a
    // final state other than "valid" ("expired", "revoked", or "deactivated")."
    expect(expectJson<OrderJson>(await alice.fetch(url), 200, dir).status).toBe('invalid');

    const http01 = authz.challenges.find((c) => c.type === 'http-01');
    if (!http01) throw new Error('no http-01');
    await h.provisionHttp01(alice, http01);
    expectProblem(await alice.post(http01.url, {}), 400, 'malformed', dir);
    expect((await h.store.getChallenge(idOf(http01.url) as never))?.status).toBe('pending');
    // Only pending or valid authorizations can be deactivated (§7.1.6).
    expectProblem(await alice.post(authzUrl, { status: 'deactivated' }), 400, 'malformed', dir);
  });

  it('reads a ready order whose expires has passed as invalid, and refuses to finalize it with orderNotReady', async () => {
    const ready = await h.readyOrder(alice, ['ready-late.state.example.test']);
    const authzUrl = ready.body.authorizations[0] ?? '';
    passTime(ready.body.expires);
    const after = expectJson<OrderJson>(await alice.fetch(ready.url), 200, dir);
    expect(after.status).toBe('invalid');
    // The validated authorization outlives the order (authzReuse 30d).
    expect((await h.fetchJson<AuthzJson>(alice, authzUrl)).status).toBe('valid');

    const res = await alice.post(ready.body.finalize, { csr: b64u(await makeCsr(['ready-late.state.example.test'], await generateAccountKey())) });
    expectProblem(res, 403, 'orderNotReady', dir);
    expect((await h.store.getOrder(idOf(ready.url) as never))?.certificateId).toBeNull();
  });

  it('reads a valid authorization past its expires as expired, and a new order for the name needs a new one', async () => {
    const ready = await h.readyOrder(alice, ['reuse.state.example.test']);
    const authzUrl = ready.body.authorizations[0] ?? '';
    const authz = await h.fetchJson<AuthzJson>(alice, authzUrl);
    expect(authz.status).toBe('valid');
    passTime(authz.expires);
    expect((await h.fetchJson<AuthzJson>(alice, authzUrl)).status).toBe('expired');
    const again = await h.order(alice, ['reuse.state.example.test']);
    expect(again.body.status).toBe('pending');
    expect(again.body.authorizations).not.toContain(authzUrl);
  });
});
