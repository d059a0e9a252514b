/**
 * The account resource (RFC 8555 §7.1.2, §7.3.2, §7.3.6) and its orders list (§7.1.2.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness, expectJson, expectProblem, linkTargets, type AccountJson, type Actor } from './support.js';

let h: Harness;
let dir: string;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: { ordersPageSize: 2 } } });
  dir = h.directoryUrl();
});
afterAll(() => h?.stop());

describe('reading the account (RFC 8555 §7.3.2)', () => {
  let alice: Actor;
  beforeAll(async () => {
    alice = await h.account({ payload: { termsOfServiceAgreed: true, contact: ['mailto:alice@example.test'] } });
  });

  it('returns it on POST-as-GET', async () => {
    const res = await alice.fetch(alice.kid);
    const body = expectJson<AccountJson>(res, 200, dir);
    expect(body).toMatchObject({ status: 'valid', contact: ['mailto:alice@example.test'], termsOfServiceAgreed: true, orders: `${alice.kid}/orders` });
  });

  it('returns it unchanged on an empty update {}', async () => {
    const before = await h.store.getAccount(alice.id);
    const body = expectJson<AccountJson>(await alice.post(alice.kid, {}), 200, dir);
    expect(body).toMatchObject({ status: 'valid', contact: ['mailto:alice@example.test'] });
    expect(await h.store.getAccount(alice.id)).toEqual(before);
  });

  it('refuses another account\'s URL as unauthorized, changing nothing', async () => {
    const bob = await h.account();
    const before = await h.store.getAccount(bob.id);
    expectProblem(await alice.fetch(bob.kid), 403, 'unauthorized', dir);
    expectProblem(await alice.post(bob.kid, { contact: ['mailto:mallory@example.test'] }), 403, 'unauthorized', dir);
    expectProblem(await alice.post(bob.kid, { status: 'deactivated' }), 403, 'unauthorized', dir);
    expect(await h.store.getAccount(bob.id)).toEqual(before);
  });
});

describe('updating the account (RFC 8555 §7.3.2)', () => {
  it('replaces the contacts and answers 200 with the result', async () => {
    const alice = await h.account({ payload: { contact: ['mailto:old@example.test'] } });
    const res = await alice.post(alice.kid, { contact: ['mailto:new@example.test', 'mailto:second@example.test'] });
    const body = expectJson<AccountJson>(res, 200, dir);
    expect(body.contact).toEqual(['mailto:new@example.test', 'mailto:second@example.test']);
    expect((await h.store.getAccount(alice.id))?.contact).toEqual(['mailto:new@example.test', 'mailto:second@example.test']);
  });

  it('removes every contact for an empty list', async () => {
    const alice = await h.account({ payload: { contact: ['mailto:old@example.test'] } });
    const body = expectJson<AccountJson>(await alice.post(alice.kid, { contact: [] }), 200, dir);
    expect(body.contact ?? []).toEqual([]);
  });

  it('refuses an unsupported contact, changing nothing', async () => {
    const alice = await h.account({ payload: { contact: ['mailto:old@example.test'] } });
    const before = await h.store.getAccount(alice.id);
    expectProblem(await alice.post(alice.kid, { contact: ['tel:+15551234567'] }), 400, 'unsupportedContact', dir);
    expectProblem(await alice.post(alice.kid, { contact: ['mailto:a@example.test?cc=b@example.test'] }), 400, 'invalidContact', dir);
    expect(await h.store.getAccount(alice.id)).toEqual(before);
  });

  it('ignores the orders field (§7.3.2: "MUST ignore any updates to the orders field")', async () => {
    const alice = await h.account();
    const body = expectJson<AccountJson>(await alice.post(alice.kid, { orders: 'https://evil.example/orders' }), 200, dir);
    expect(body.orders).toBe(`${alice.kid}/orders`);
  });

  it('ignores status "valid" on a valid account (§7.3.2: "MUST ignore any updates to ... the status field")', async () => {
    const alice = await h.account();
    const before = await h.store.getAccount(alice.id);
    const body = expectJson<AccountJson>(await alice.post(alice.kid, { status: 'valid' }), 200, dir);
    expect(body.status).toBe('valid');
    expect(await h.store.getAccount(alice.id)).toEqual(before);
  });

  it('refuses a status the client may not set ("revoked") as malformed, changing nothing', async () => {
    const alice = await h.account();
    const before = await h.store.getAccount(alice.id);
    expectProblem(await alice.post(alice.kid, { status: 'revoked' }), 400, 'malformed', dir);
    expect(await h.store.getAccount(alice.id)).toEqual(before);
  });
});

describe('deactivation (RFC 8555 §7.3.6)', () => {
  let alice: Actor;
  let orderUrl: string;
  beforeAll(async () => {
    alice = await h.account();
    orderUrl = (await h.order(alice, ['deactivated.example.test'])).url;
    const res = await alice.post(alice.kid, { status: 'deactivated' });
    const body = expectJson<AccountJson>(res, 200, dir);
    expect(body.status).toBe('deactivated');
  });

  it('stores the account as deactivated', async () => {
    expect((await h.store.getAccount(alice.id))?.status).toBe('deactivated');
  });

  // §7.3.6: "If a server receives a POST or POST-as-GET from a deactivated account, it MUST return an
  // error response with status code 401 (Unauthorized) and type ...:unauthorized".
  it('answers POST-as-GET of the account with 401 unauthorized', async () => {
    expectProblem(await alice.fetch(alice.kid), 401, 'unauthorized', dir);
  });

  it('answers a second deactivation with 401 unauthorized', async () => {
    expectProblem(await alice.post(alice.kid, { status: 'deactivated' }), 401, 'unauthorized', dir);
  });

  it('answers newOrder with 401 unauthorized, creating nothing', async () => {
    const before = (await h.store.listOrders(alice.id, null, 100)).items.length;
    expectProblem(await alice.post(await alice.client.url('newOrder'), { identifiers: [{ type: 'dns', value: 'x.example.test' }] }), 401, 'unauthorized', dir);
    expect((await h.store.listOrders(alice.id, null, 100)).items.length).toBe(before);
  });

  it('answers POST-as-GET of its order and of its orders list with 401 unauthorized', async () => {
    expectProblem(await alice.fetch(orderUrl), 401, 'unauthorized', dir);
    expectProblem(await alice.fetch(`${alice.kid}/orders`), 401, 'unauthorized', dir);
  });

  it('answers keyChange with 401 unauthorized', async () => {
    expectProblem(await alice.post(await alice.client.url('keyChange'), { protected: 'e30', payload: '', signature: 'AA' }), 401, 'unauthorized', dir);
  });

  it('refuses newAccount with the deactivated key with 401 unauthorized (§7.3.6: "MUST NOT accept further requests authorized by that account\'s key")', async () => {
    const res = await alice.client.post(await alice.client.url('newAccount'), { onlyReturnExisting: true }, { jwk: true });
    expectProblem(res, 401, 'unauthorized', dir);
    const created = await alice.client.post(await alice.client.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    expectProblem(created, 401, 'unauthorized', dir);
    expect((await h.store.getAccount(alice.id))?.status).toBe('deactivated');
  });
});

describe('orders list (RFC 8555 §7.1.2.1)', () => {
  it('lists every order of the account across pages linked by rel="next"', async () => {
    const alice = await h.account();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await h.order(alice, [`o${i}.list.example.test`])).url);

    const seen: string[] = [];
    let url: string | undefined = `${alice.kid}/orders`;
    let pages = 0;
    while (url !== undefined) {
      const res = await alice.fetch(url);
      const body = expectJson<{ orders: string[] }>(res, 200, dir);
      expect(body.orders.length).toBeLessThanOrEqual(2);
      seen.push(...body.orders);
      const next = linkTargets(res, 'next');
      expect(next.length).toBeLessThanOrEqual(1);
      url = next[0];
      if (++pages > 5) throw new Error('the orders list does not end');
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort()).toEqual([...created].sort());
  });

  it('answers an account without orders with an empty list and no next link', async () => {
    const alice = await h.account();
    const res = await alice.fetch(`${alice.kid}/orders`);
    expect(expectJson<{ orders: string[] }>(res, 200, dir).orders).toEqual([]);
    expect(linkTargets(res, 'next')).toEqual([]);
  });

  it('refuses another account\'s orders list as unauthorized', async () => {
    const alice = await h.account();
    const bob = await h.account();
    await h.order(bob, ['bob.list.example.test']);
    expectProblem(await alice.fetch(`${bob.kid}/orders`), 403, 'unauthorized', dir);
  });

  it('refuses a payload other than POST-as-GET as malformed', async () => {
    const alice = await h.account();
    expectProblem(await alice.post(`${alice.kid}/orders`, {}), 400, 'malformed', dir);
  });
});

describe('the request log line', () => {
  it('names the request id, method, path, status, profile and account of a kid request, once per request (the nonce HEAD has its own)', async () => {
    const { memoryLogger } = await import('../helpers/memory-logger.js');
    const log = memoryLogger();
    const logged = await Harness.start({}, { gateway: { log } });
    try {
      const bob = await logged.account({ payload: { termsOfServiceAgreed: true } });
      const before = log.lines.length;
      const res = await bob.post(bob.kid, '');
      expect(res.status).toBe(200);
      const lines = log.lines.slice(before).filter((l) => l.msg === 'request' && (l.obj as { method?: string }).method === 'POST');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'info', obj: { method: 'POST', path: new URL(bob.kid).pathname, status: 200, profile: 'default', account: bob.id } });
      expect((lines[0]?.obj as { reqId?: unknown }).reqId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await logged.stop();
    }
  });
});
