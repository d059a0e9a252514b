/**
 * Account key rollover (RFC 8555 §7.3.5): the outer JWS signed by the old key (kid), the inner one
 * by the new key (jwk, no nonce, same url). Every refusal leaves the stored key as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey, signKeyChangeInner, type SignKeyChangeInnerOptions, type TestKey } from '../helpers/jws-client.js';
import { Harness, expectJson, expectProblem, thumbprint, type AccountJson, type Actor } from './support.js';

let h: Harness;
let dir: string;
let keyChangeUrl: string;

beforeAll(async () => {
  h = await Harness.start({ profiles: { default: {} } });
  dir = h.directoryUrl();
  keyChangeUrl = await h.url('keyChange');
});
afterAll(() => h?.stop());

function inner(actor: Actor, newKey: TestKey, over: Partial<SignKeyChangeInnerOptions> = {}) {
  return signKeyChangeInner({ newKey, url: keyChangeUrl, account: actor.kid, oldKey: actor.key.jwk, ...over });
}

async function storedThumbprint(actor: Actor): Promise<string | undefined> {
  return (await h.store.getAccount(actor.id))?.jwkThumbprint;
}

describe('key rollover (RFC 8555 §7.3.5)', () => {
  it('replaces the key: 200, the old key is refused, the new key works', async () => {
    const alice = await h.account();
    const newKey = await generateAccountKey();
    const res = await alice.post(keyChangeUrl, await inner(alice, newKey));
    expect(expectJson<AccountJson>(res, 200, dir).status).toBe('valid');
    expect(await storedThumbprint(alice)).toBe(await thumbprint(newKey));

    // The old key no longer signs for the account...
    expectProblem(await alice.fetch(alice.kid), 400, 'malformed', dir);
    // ... nor finds it (§7.3.1).
    const lookupOld = await alice.client.post(await alice.client.url('newAccount'), { onlyReturnExisting: true }, { jwk: true });
    expectProblem(lookupOld, 400, 'accountDoesNotExist', dir);

    // The new key does, under the same account URL.
    const viaNew = await alice.client.post(alice.kid, '', { kid: alice.kid }, { key: newKey });
    expect(expectJson<AccountJson>(viaNew, 200, dir).status).toBe('valid');
    const lookupNew = await alice.client.post(await alice.client.url('newAccount'), { onlyReturnExisting: true }, { jwk: true }, { key: newKey });
    expect(lookupNew.status).toBe(200);
    expect(lookupNew.headers.get('location')).toBe(alice.kid);
  });

  it('keeps the account\'s orders (§7.3.5: "MUST NOT invalidate pending orders")', async () => {
    const alice = await h.account();
    const order = await h.order(alice, ['rollover.example.test']);
    const newKey = await generateAccountKey();
    expect((await alice.post(keyChangeUrl, await inner(alice, newKey))).status).toBe(200);
    const res = await alice.client.post(order.url, '', { kid: alice.kid }, { key: newKey });
    expect(expectJson<{ status: string }>(res, 200, dir).status).toBe('pending');
  });

  it('refuses an inner JWS whose url is not the outer url, keeping the key', async () => {
    const alice = await h.account();
    const before = await storedThumbprint(alice);
    const res = await alice.post(keyChangeUrl, await inner(alice, await generateAccountKey(), { url: alice.kid }));
    expectProblem(res, 400, 'malformed', dir);
    expect(await storedThumbprint(alice)).toBe(before);
  });

  it('refuses an inner JWS with kid instead of jwk, keeping the key', async () => {
    const alice = await h.account();
    const before = await storedThumbprint(alice);
    const res = await alice.post(keyChangeUrl, await inner(alice, await generateAccountKey(), { headerOverrides: { jwk: undefined, kid: alice.kid } }));
    expectProblem(res, 400, 'malformed', dir);
    expect(await storedThumbprint(alice)).toBe(before);
  });

  it('refuses an inner JWS that carries a nonce, keeping the key', async () => {
    const alice = await h.account();
    const before = await storedThumbprint(alice);
    const res = await alice.post(keyChangeUrl, await inner(alice, await generateAccountKey(), { headerOverrides: { nonce: await alice.client.nonce() } }));
    expectProblem(res, 400, 'malformed', dir);
    expect(await storedThumbprint(alice)).toBe(before);
  });

  it('refuses an inner JWS not signed by its jwk, keeping the key', async () => {
    const alice = await h.account();
    const before = await storedThumbprint(alice);
    const claimed = await generateAccountKey();
    const res = await alice.post(keyChangeUrl, await inner(alice, await generateAccountKey(), { headerOverrides: { jwk: claimed.jwk } }));
    expectProblem(res, 400, 'malformed', dir);
    expect(await storedThumbprint(alice)).toBe(before);
  });

  it('refuses an oldKey that is not the account key, keeping the key', async () => {
    const alice = await h.account();
    const before = await storedThumbprint(alice);
    const res = await alice.post(keyChangeUrl, await inner(alice, await generateAccountKey(), { oldKey: (await generateAccountKey()).jwk }));
    expectProblem(res, 403, 'unauthorized', dir);
    expect(await storedThumbprint(alice)).toBe(before);
  });

  it('refuses an inner account that is not the signing account, keeping both keys', async () => {
    const alice = await h.account();
    const bob = await h.account();
    const [a, b] = [await storedThumbprint(alice), await storedThumbprint(bob)];
    const res = await alice.post(keyChangeUrl, await inner(alice, await generateAccountKey(), { account: bob.kid }));
    expectProblem(res, 403, 'unauthorized', dir);
    expect([await storedThumbprint(alice), await storedThumbprint(bob)]).toEqual([a, b]);
  });

  it('answers a new key that another account holds with 409 and that account in Location', async () => {
    const alice = await h.account();
    const bob = await h.account();
    const before = await storedThumbprint(alice);
    const res = await alice.post(keyChangeUrl, await inner(alice, bob.key));
    expectProblem(res, 409, 'malformed', dir);
    expect(res.headers.get('location')).toBe(bob.kid);
    expect(await storedThumbprint(alice)).toBe(before);
    expect(await storedThumbprint(bob)).toBe(await thumbprint(bob.key));
  });

  it('refuses POST-as-GET as malformed', async () => {
    const alice = await h.account();
    expectProblem(await alice.fetch(keyChangeUrl), 400, 'malformed', dir);
  });

  it('refuses a payload that is not a JWS as malformed', async () => {
    const alice = await h.account();
    expectProblem(await alice.post(keyChangeUrl, { account: alice.kid, oldKey: alice.key.jwk }), 400, 'malformed', dir);
  });
});
