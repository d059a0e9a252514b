/**
 * CAA (RFC 8659) with the account and method parameters (RFC 8657), as a client sees it: the
 * profile names this CA `ca.example.test`, the gateway's dnsResolver is pebble-challtestsrv, and
 * each test publishes CAA records there for names of its own. CAA is checked when a challenge
 * succeeds (a refusal makes the challenge, its authorization and the order invalid with a `caa`
 * problem naming the record) and again at finalize for authorizations older than
 * `caa.recheckAfter` and for `validation: none`. The gateway runs on a TestClock the tests advance.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../../src/lib/clock.js';
import type { Challtestsrv } from '../fakes/challtestsrv.js';
import { generateAccountKey } from '../helpers/jws-client.js';
import {
  Harness,
  URN,
  b64u,
  dns01Digest,
  expectJson,
  expectProblem,
  idOf,
  keyAuthorization,
  makeCsr,
  waitFor,
  type Actor,
  type AuthzJson,
  type OrderJson,
} from './support.js';

const CA = 'ca.example.test';
const HOUR_MS = 3_600_000;
// Started a minute back, so the listener certificate made at startup is valid for the real TLS client.
const clock = new TestClock(new Date(Date.now() - 60_000));
let h: Harness;
let srv: Challtestsrv;
let alice: Actor;

beforeAll(async () => {
  h = await Harness.start(
    {
      profiles: {
        default: { caaIdentities: [CA], caa: { recheckAfter: '1h' } },
        open: { caaIdentities: [CA], validation: 'none' },
      },
    },
    { validation: true, gateway: { clock } },
  );
  if (!h.dns) throw new Error('the harness started no DNS server');
  srv = h.dns;
  alice = await h.account();
});
afterAll(() => h?.stop());

type Order = { url: string; body: OrderJson };

/** newOrder for `names`, every authorization answered with http-01; the order as it ends up (ready or invalid). */
async function validateHttp01(actor: Actor, names: string[]): Promise<Order> {
  const order = await h.order(actor, names);
  return { url: order.url, body: await h.makeReady(actor, order) };
}

/** newOrder for a wildcard, answered with dns-01 through a TXT record at challtestsrv. */
async function validateDns01(actor: Actor, wildcard: string): Promise<Order> {
  const order = await h.order(actor, [wildcard]);
  const authzUrl = order.body.authorizations[0] ?? '';
  const authz = await h.fetchJson<AuthzJson>(actor, authzUrl);
  const challenge = authz.challenges.find((c) => c.type === 'dns-01');
  if (!challenge) throw new Error(`no dns-01 challenge for ${wildcard}`);
  await srv.addTxt(`_acme-challenge.${authz.identifier.value}`, dns01Digest(await keyAuthorization(challenge.token, actor.key)));
  expect((await actor.post(challenge.url, {})).status).toBe(200);
  await waitFor(`authz ${wildcard}`, () => h.fetchJson<AuthzJson>(actor, authzUrl), (a) => a.status !== 'pending');
  return { url: order.url, body: await waitFor('order', () => h.fetchJson<OrderJson>(actor, order.url), (o) => o.status !== 'pending') };
}

/** Finalizes a ready order with a fresh key's CSR and waits for it; returns the order. */
async function finalize(actor: Actor, order: Order): Promise<OrderJson> {
  const names = order.body.identifiers.map((i) => i.value);
  const res = await actor.post(order.body.finalize, { csr: b64u(await makeCsr(names, await generateAccountKey())) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return waitFor('order done', () => h.fetchJson<OrderJson>(actor, order.url), (o) => o.status !== 'processing');
}

async function expectIssued(actor: Actor, order: Order): Promise<void> {
  expect(order.body.status, JSON.stringify(order.body)).toBe('ready');
  const done = await finalize(actor, order);
  expect(done.status, JSON.stringify(done.error)).toBe('valid');
}

/** The order is invalid, and its (first) authorization's validated challenge carries a caa problem; returns its detail. */
async function expectCaaRefusal(actor: Actor, order: Order, challengeType: string): Promise<string> {
  expect(order.body.status, JSON.stringify(order.body)).toBe('invalid');
  expect(order.body.error?.type).toBe(`${URN}caa`);
  const authz = await h.fetchJson<AuthzJson>(actor, order.body.authorizations[0] ?? '');
  expect(authz.status).toBe('invalid');
  const challenge = authz.challenges.find((c) => c.type === challengeType);
  expect(challenge?.status).toBe('invalid');
  expect(challenge?.error?.type, JSON.stringify(challenge?.error)).toBe(`${URN}caa`);
  expect((await h.store.getOrder(idOf(order.url) as never))?.status).toBe('invalid');
  return challenge?.error?.detail ?? '';
}

describe('CAA at validation (RFC 8659 §3)', () => {
  it('issues for a name without CAA records', async () => {
    await expectIssued(alice, await validateHttp01(alice, ['none.caa.example.test']));
  });

  it('issues when the Relevant RRset names this CA: 0 issue "ca.example.test"', async () => {
    await srv.addCaa('ours.caa.example.test', [{ tag: 'issue', value: CA }]);
    await expectIssued(alice, await validateHttp01(alice, ['ours.caa.example.test']));
  });

  it('refuses with caa naming the record when it names another CA: 0 issue "other.example"', async () => {
    await srv.addCaa('theirs.caa.example.test', [{ tag: 'issue', value: 'other.example' }]);
    const detail = await expectCaaRefusal(alice, await validateHttp01(alice, ['theirs.caa.example.test']), 'http-01');
    expect(detail).toContain('0 issue \\"other.example\\"');
    expect(detail).toContain('theirs.caa.example.test');
  });

  it('climbs the tree: a record at the parent refuses a name below it, and names where it was found', async () => {
    await srv.addCaa('parent.caa.example.test', [{ tag: 'issue', value: 'other.example' }]);
    const detail = await expectCaaRefusal(alice, await validateHttp01(alice, ['www.parent.caa.example.test']), 'http-01');
    expect(detail).toContain('at parent.caa.example.test');
    expect(detail).toContain('other.example');
  });

  it('uses issuewild for a wildcard: refused when issuewild names another CA, though issue names this one (§4.3)', async () => {
    await srv.addCaa('wild.caa.example.test', [
      { tag: 'issue', value: CA },
      { tag: 'issuewild', value: 'other.example' },
    ]);
    const detail = await expectCaaRefusal(alice, await validateDns01(alice, '*.wild.caa.example.test'), 'dns-01');
    expect(detail).toContain('0 issuewild \\"other.example\\"');
    expect(detail).toContain('*.wild.caa.example.test');
  });

  it('uses issuewild for a wildcard: issued when issuewild names this CA, though issue names another', async () => {
    await srv.addCaa('tame.caa.example.test', [
      { tag: 'issue', value: 'other.example' },
      { tag: 'issuewild', value: CA },
    ]);
    await expectIssued(alice, await validateDns01(alice, '*.tame.caa.example.test'));
  });

  it('refuses with caa when accounturi names another account (RFC 8657 §3), and issues for the named one', async () => {
    await srv.addCaa('acct.caa.example.test', [{ tag: 'issue', value: `${CA}; accounturi=${alice.kid.replace(/[^/]+$/, 'someone-else')}` }]);
    const detail = await expectCaaRefusal(alice, await validateHttp01(alice, ['acct.caa.example.test']), 'http-01');
    expect(detail).toContain('accounturi');
    expect(detail).toContain('someone-else');

    await srv.addCaa('mine.caa.example.test', [{ tag: 'issue', value: `${CA}; accounturi=${alice.kid}` }]);
    await expectIssued(alice, await validateHttp01(alice, ['mine.caa.example.test']));
  });

  it('refuses with caa when validationmethods leaves out the method used (RFC 8657 §4), and issues when it lists it', async () => {
    await srv.addCaa('methods.caa.example.test', [{ tag: 'issue', value: `${CA}; validationmethods=dns-01,tls-alpn-01` }]);
    const detail = await expectCaaRefusal(alice, await validateHttp01(alice, ['methods.caa.example.test']), 'http-01');
    expect(detail).toContain('validationmethods=dns-01,tls-alpn-01');
    expect(detail).toContain('http-01');

    await srv.addCaa('http.caa.example.test', [{ tag: 'issue', value: `${CA}; validationmethods=http-01` }]);
    await expectIssued(alice, await validateHttp01(alice, ['http.caa.example.test']));
  });
});

describe('CAA again at finalize', () => {
  it('does not look again within caa.recheckAfter of the validation', async () => {
    const order = await validateHttp01(alice, ['fresh.recheck.caa.example.test']);
    await srv.addCaa('fresh.recheck.caa.example.test', [{ tag: 'issue', value: 'other.example' }]);
    clock.advance(HOUR_MS / 2);
    await expectIssued(alice, order);
  });

  it('refuses finalize with caa after caa.recheckAfter when a record added since validation names another CA', async () => {
    const order = await validateHttp01(alice, ['late.recheck.caa.example.test']);
    expect(order.body.status).toBe('ready');
    await srv.addCaa('late.recheck.caa.example.test', [{ tag: 'issue', value: 'other.example' }]);
    clock.advance(HOUR_MS + 60_000);
    const res = await alice.post(order.body.finalize, { csr: b64u(await makeCsr(['late.recheck.caa.example.test'], await generateAccountKey())) });
    const doc = expectProblem(res, 403, 'caa', h.directoryUrl());
    expect(doc.detail).toContain('0 issue \\"other.example\\"');
    expect(doc.detail).toContain('late.recheck.caa.example.test');
    // Nothing was sent to the CA: the order is still ready, without a certificate.
    const after = expectJson<OrderJson>(await alice.fetch(order.url), 200, h.directoryUrl());
    expect(after.status).toBe('ready');
    expect(after).not.toHaveProperty('certificate');
  });

  it('checks CAA at finalize for validation: none, refusing with caa', async () => {
    const bob = await h.account({ profile: 'open' });
    await srv.addCaa('open.caa.example.test', [{ tag: 'issue', value: 'other.example' }]);
    const order = await h.order(bob, ['open.caa.example.test']);
    expect(order.body.status).toBe('ready');
    const res = await bob.post(order.body.finalize, { csr: b64u(await makeCsr(['open.caa.example.test'], await generateAccountKey())) });
    const doc = expectProblem(res, 403, 'caa', h.directoryUrl('open'));
    expect(doc.detail).toContain('0 issue \\"other.example\\"');

    // The same profile issues where CAA allows it.
    const allowed = await h.order(bob, ['open-ok.caa.example.test']);
    const done = await finalize(bob, allowed);
    expect(done.status, JSON.stringify(done.error)).toBe('valid');
  });
});
