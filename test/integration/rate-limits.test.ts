/**
 * RFC 8555 §6.6 rate limits over HTTP: `rateLimited` (429) with Retry-After and the problem
 * document, per account for new orders and per client address for new accounts, per profile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey } from '../helpers/jws-client.js';
import { Harness, expectProblem, type Actor } from './support.js';

let h: Harness;
let first: Actor;
beforeAll(async () => {
  h = await Harness.start({
    profiles: {
      default: { rateLimits: { newOrders: { count: 2, per: '1h' }, newAccounts: { count: 2, per: '1h' } } },
      open: {},
    },
  });
});
afterAll(() => h?.stop());

describe('rate limits (RFC 8555 §6.6)', () => {
  it('refuses a third new order of one account within the hour with 429 rateLimited and Retry-After, not another account\'s', async () => {
    const [alice, bob] = [await h.account(), await h.account()];
    first = alice;
    await h.order(alice, ['rl-1.example.test']);
    await h.order(alice, ['rl-2.example.test']);
    const res = await alice.post(await alice.client.url('newOrder'), { identifiers: [{ type: 'dns', value: 'rl-3.example.test' }] });
    const p = expectProblem(res, 429, 'rateLimited', h.directoryUrl());
    expect(p.detail).toMatch(/^too many new orders for this account: at most 2 per 1h; try again in \d+ s$/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await h.order(bob, ['rl-4.example.test'])).body.status).toBe('pending');
  });

  it('refuses a third new account from one address, still answers an existing key, and a profile without limits is not limited', async () => {
    // Two accounts were created above from this address (127.0.0.1); a third is over the limit.
    const dir = h.directoryUrl();
    const client = h.client(await generateAccountKey('ES256'));
    const refused = await client.post(await client.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    const p = expectProblem(refused, 429, 'rateLimited', dir);
    expect(p.detail).toMatch(/^too many new accounts from this address: at most 2 per 1h; try again in \d+ s$/);
    // Looking up an existing account is not counted: the first account's key still gets its account.
    const again = await first.client.post(await first.client.url('newAccount'), { onlyReturnExisting: true }, { jwk: true });
    expect(again.status).toBe(200);
    const found = await first.client.post(await first.client.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    expect(found.status).toBe(200);
    // Limits are per profile: "open" has none.
    for (let i = 0; i < 3; i++) await h.account({ profile: 'open' });
  });
});
