/**
 * newOrder (RFC 8555 §7.4) with its authorizations (§7.1.4, §7.5): single and multiple names,
 * wildcards, duplicates, refused identifiers reported all at once (§6.7.1), requested validity.
 * A refused order leaves no order in the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness, expectJson, expectProblem, idOf, type Actor, type AuthzJson, type OrderJson } from './support.js';

const DAY_MS = 86_400_000;
let h: Harness;
let dir: string;
let alice: Actor;
let newOrderUrl: string;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: { validity: { default: '10d', min: '1d', max: '30d' } } } });
  dir = h.directoryUrl();
  alice = await h.account();
  newOrderUrl = await alice.client.url('newOrder');
});
afterAll(() => h?.stop());

const dns = (value: string) => ({ type: 'dns', value });

async function orderCount(): Promise<number> {
  return (await h.store.listOrders(alice.id, null, 1000)).items.length;
}

async function authzsOf(order: OrderJson): Promise<AuthzJson[]> {
  return Promise.all(order.authorizations.map((url) => h.fetchJson<AuthzJson>(alice, url)));
}

/** A refused newOrder: the problem, and no order stored. */
async function refused(payload: unknown, status: number, type: string) {
  const before = await orderCount();
  const doc = expectProblem(await alice.post(newOrderUrl, payload), status, type, dir);
  expect(await orderCount()).toBe(before);
  return doc;
}

describe('creating an order (RFC 8555 §7.4)', () => {
  it('answers one name with 201, Location and a pending order with one authorization', async () => {
    const res = await alice.post(newOrderUrl, { identifiers: [dns('single.example.test')] });
    const order = expectJson<OrderJson>(res, 201, dir);
    const location = res.headers.get('location') ?? '';
    expect(location).toBe(h.directoryUrl().replace(/directory$/, `order/${idOf(location)}`));
    expect(order).toMatchObject({ status: 'pending', identifiers: [dns('single.example.test')], finalize: `${location}/finalize` });
    expect(new Date(order.expires).getTime()).toBeGreaterThan(Date.now());
    expect(order).not.toHaveProperty('certificate');
    expect(order.authorizations).toHaveLength(1);
    const stored = await h.store.getOrder(idOf(location) as never);
    expect(stored).toMatchObject({ status: 'pending', accountId: alice.id, identifiers: [dns('single.example.test')] });
  });

  it('gives each authorization its identifier, an expiry and pending challenges with tokens (§7.1.4, §8)', async () => {
    const { body } = await h.order(alice, ['authz.example.test']);
    const res = await alice.fetch(body.authorizations[0] ?? '');
    const authz = expectJson<AuthzJson>(res, 200, dir);
    expect(authz).toMatchObject({ identifier: dns('authz.example.test'), status: 'pending' });
    expect(authz).not.toHaveProperty('wildcard'); // §7.1.4: "For other authorizations, it MUST be absent."
    expect(new Date(authz.expires).getTime()).toBeLessThanOrEqual(new Date(body.expires).getTime());
    expect(authz.challenges.map((c) => c.type).sort()).toEqual(['dns-01', 'http-01', 'tls-alpn-01']);
    for (const c of authz.challenges) {
      expect(c.status).toBe('pending');
      expect(c.token).toMatch(/^[A-Za-z0-9_-]{22,}$/); // §8.1: at least 128 bits, base64url
      expect(c.url.startsWith(h.directoryUrl().replace(/directory$/, 'chall/'))).toBe(true);
    }
    expect(new Set(authz.challenges.map((c) => c.url)).size).toBe(3);
  });

  it('answers several names with one authorization per name', async () => {
    const names = ['a.multi.example.test', 'b.multi.example.test', 'multi.example.test'];
    const { body } = await h.order(alice, names);
    expect(body.identifiers.map((i) => i.value).sort()).toEqual(names);
    const authzs = await authzsOf(body);
    expect(authzs.map((a) => a.identifier.value).sort()).toEqual(names);
  });

  it('answers a wildcard with an authorization for the base domain, wildcard: true and only dns-01 (§7.1.3)', async () => {
    const { body } = await h.order(alice, ['*.wild.example.test']);
    expect(body.identifiers).toEqual([dns('*.wild.example.test')]);
    const [authz] = await authzsOf(body);
    // §7.1.3: "MUST NOT include the asterisk and full stop" and "MUST include the optional wildcard field".
    expect(authz).toMatchObject({ identifier: dns('wild.example.test'), wildcard: true });
    expect(authz?.challenges.map((c) => c.type)).toEqual(['dns-01']);
  });

  it('keeps a wildcard and its base domain apart', async () => {
    const { body } = await h.order(alice, ['*.both.example.test', 'both.example.test']);
    const authzs = await authzsOf(body);
    expect(authzs).toHaveLength(2);
    expect(authzs.map((a) => [a.identifier.value, a.wildcard === true]).sort()).toEqual([
      ['both.example.test', false],
      ['both.example.test', true],
    ]);
  });

  it('collapses duplicate names into one identifier and one authorization', async () => {
    const { body } = await h.order(alice, ['dup.example.test', 'dup.example.test', 'DUP.example.test']);
    expect(body.identifiers).toEqual([dns('dup.example.test')]);
    expect(body.authorizations).toHaveLength(1);
  });

  it('offers no dns-01 for an IP address (RFC 8738 §7)', async () => {
    const { body } = await h.order(alice, [{ type: 'ip', value: '127.0.0.1' }]);
    const [authz] = await authzsOf(body);
    expect(authz?.identifier).toEqual({ type: 'ip', value: '127.0.0.1' });
    expect(authz?.challenges.map((c) => c.type).sort()).toEqual(['http-01', 'tls-alpn-01']);
  });
});

describe('refused identifiers (RFC 8555 §6.7.1, §7.1.4)', () => {
  it('reports every refused name at once as rejectedIdentifier, one subproblem each', async () => {
    const bad = ['under_score.example.test', '-lead.example.test', 'nodot', '*.*.example.test', 'a..b.example.test', 'xn--zz.example.test', 'a.example.123'];
    const doc = await refused({ identifiers: [dns('fine.example.test'), ...bad.map(dns)] }, 400, 'rejectedIdentifier');
    expect(doc.subproblems).toHaveLength(bad.length);
    for (const sub of doc.subproblems ?? []) {
      expect(sub.type).toBe('urn:ietf:params:acme:error:rejectedIdentifier');
      expect(sub.detail).toContain(sub.identifier.value);
    }
    expect((doc.subproblems ?? []).map((s) => s.identifier).sort((x, y) => x.value.localeCompare(y.value))).toEqual(
      bad.map(dns).sort((x, y) => x.value.localeCompare(y.value)),
    );
  });

  it('refuses an A-label that is not valid Punycode (§7.1.4: "MUST verify ... xn-- ... properly encoded")', async () => {
    const doc = await refused({ identifiers: [dns('xn--zz.example.test')] }, 400, 'rejectedIdentifier');
    expect(doc.subproblems?.map((s) => s.identifier)).toEqual([dns('xn--zz.example.test')]);
  });

  it('accepts a valid A-label', async () => {
    expect((await h.order(alice, ['xn--nxasmq6b.example.test'])).body.status).toBe('pending');
  });

  it('refuses an identifier type it does not know with unsupportedIdentifier', async () => {
    const doc = await refused({ identifiers: [{ type: 'email', value: 'ops@example.test' }] }, 400, 'unsupportedIdentifier');
    expect(doc.subproblems).toEqual([expect.objectContaining({ type: 'urn:ietf:params:acme:error:unsupportedIdentifier', identifier: { type: 'email', value: 'ops@example.test' } })]);
  });

  it('refuses an empty identifiers list as malformed', async () => {
    await refused({ identifiers: [] }, 400, 'malformed');
  });

  it('refuses a payload without identifiers as malformed', async () => {
    await refused({ notAfter: new Date(Date.now() + 5 * DAY_MS).toISOString() }, 400, 'malformed');
  });
});

describe('requested validity (RFC 8555 §7.4: notBefore, notAfter)', () => {
  const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');

  it('accepts notBefore and notAfter inside the profile range and shows them in the order', async () => {
    const notBefore = at(DAY_MS);
    const notAfter = at(11 * DAY_MS);
    const { body } = await h.order(alice, ['validity.example.test'], { notBefore, notAfter });
    expect(body).toMatchObject({ notBefore, notAfter });
  });

  it('accepts RFC 3339 times with an offset', async () => {
    const notAfter = new Date(Date.now() + 5 * DAY_MS);
    const local = `${notAfter.toISOString().slice(0, 19)}+00:00`;
    const { body } = await h.order(alice, ['offset.example.test'], { notAfter: local });
    expect(new Date(body.notAfter ?? '').getTime()).toBe(new Date(local).getTime());
  });

  it.each([
    ['longer than validity.max', () => ({ notBefore: at(DAY_MS), notAfter: at(40 * DAY_MS) })],
    ['shorter than validity.min', () => ({ notBefore: at(DAY_MS), notAfter: at(DAY_MS + 3_600_000) })],
    ['notAfter before notBefore', () => ({ notBefore: at(5 * DAY_MS), notAfter: at(2 * DAY_MS) })],
    ['notBefore far in the past', () => ({ notBefore: at(-10 * DAY_MS), notAfter: at(5 * DAY_MS) })],
    ['not an RFC 3339 time', () => ({ notAfter: 'next tuesday' })],
  ])('refuses a validity %s, creating nothing', async (_what, validity) => {
    await refused({ identifiers: [dns('bad-validity.example.test')], ...validity() }, 400, 'malformed');
  });
});
