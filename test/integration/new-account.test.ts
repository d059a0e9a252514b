/**
 * newAccount (RFC 8555 §7.3): creation, finding an account by key (§7.3.1), contact rules, terms of
 * service, External Account Binding (§7.3.4). After every refusal the store holds no account for
 * the key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey, signEab, type SignEabOptions, type TestKey } from '../helpers/jws-client.js';
import { Harness, expectAcmeHeaders, expectJson, expectProblem, idOf, thumbprint, type AccountJson } from './support.js';

const TERMS = 'https://example.test/terms/v2';
let h: Harness;

beforeAll(async () => {
  h = await Harness.start({
    profiles: { default: {}, tos: { termsOfService: TERMS }, partners: { eab: { required: true } } },
  });
});
afterAll(() => h?.stop());

/** newAccount signed with `key` (jwk) under `profile`. */
async function newAccount(key: TestKey, payload: unknown, profile = 'default') {
  const client = h.client(key, profile);
  return client.post(await client.url('newAccount'), payload, { jwk: true });
}

async function storedFor(key: TestKey, profile = 'default') {
  return h.store.findAccountByThumbprint(profile, await thumbprint(key));
}

describe('creating an account (RFC 8555 §7.3)', () => {
  it('answers 201 with the account and its URL in Location, and stores the key', async () => {
    const key = await generateAccountKey();
    const res = await newAccount(key, { termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
    const body = expectJson<AccountJson>(res, 201, h.directoryUrl());
    const location = res.headers.get('location') ?? '';
    expect(location).toMatch(new RegExp(`^${h.directoryUrl().replace(/directory$/, 'acct/')}[A-Za-z0-9_-]+$`));
    expect(body).toMatchObject({ status: 'valid', contact: ['mailto:ops@example.test'], orders: `${location}/orders` });
    // §7.3: "The server MUST NOT reflect the "onlyReturnExisting" field or any unrecognized fields".
    expect(body).not.toHaveProperty('onlyReturnExisting');
    const stored = await storedFor(key);
    expect(stored).toMatchObject({ id: idOf(location), status: 'valid', contact: ['mailto:ops@example.test'], eabKid: null });
  });

  it('ignores unknown fields and does not reflect them', async () => {
    const key = await generateAccountKey('EdDSA');
    const res = await newAccount(key, { termsOfServiceAgreed: true, orders: 'https://evil.example/orders', favouriteColour: 'green' });
    const body = expectJson<AccountJson & Record<string, unknown>>(res, 201, h.directoryUrl());
    expect(body).not.toHaveProperty('favouriteColour');
    expect(body.orders).toBe(`${res.headers.get('location')}/orders`);
  });

  it('accepts every account algorithm the directory promises (ES256, ES384, ES512, RS256, EdDSA)', async () => {
    for (const alg of ['ES256', 'ES384', 'ES512', 'RS256', 'EdDSA'] as const) {
      const key = await generateAccountKey(alg);
      expect((await newAccount(key, {})).status, alg).toBe(201);
    }
  });
});

describe('finding an account by key (RFC 8555 §7.3.1)', () => {
  it('answers the same key again with 200, the same Location and the account as it was', async () => {
    const key = await generateAccountKey();
    const first = await newAccount(key, { contact: ['mailto:first@example.test'] });
    expect(first.status).toBe(201);
    const again = await newAccount(key, { contact: ['mailto:second@example.test'] });
    const body = expectJson<AccountJson>(again, 200, h.directoryUrl());
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    // "any fields in the request object MUST be ignored"
    expect(body.contact).toEqual(['mailto:first@example.test']);
    expect((await storedFor(key))?.contact).toEqual(['mailto:first@example.test']);
  });

  it('answers onlyReturnExisting for an unknown key with accountDoesNotExist, creating nothing', async () => {
    const key = await generateAccountKey();
    const res = await newAccount(key, { onlyReturnExisting: true, termsOfServiceAgreed: true });
    expectProblem(res, 400, 'accountDoesNotExist', h.directoryUrl());
    expect(await storedFor(key)).toBeUndefined();
  });

  it('answers onlyReturnExisting for a known key with 200 and its Location', async () => {
    const key = await generateAccountKey();
    const created = await newAccount(key, {});
    const res = await newAccount(key, { onlyReturnExisting: true });
    const body = expectJson<AccountJson>(res, 200, h.directoryUrl());
    expect(res.headers.get('location')).toBe(created.headers.get('location'));
    expect(body.status).toBe('valid');
    expect(body).not.toHaveProperty('onlyReturnExisting');
  });

  it('keeps accounts of one key apart per profile', async () => {
    const key = await generateAccountKey();
    const a = await newAccount(key, {});
    const b = await newAccount(key, { termsOfServiceAgreed: true }, 'tos');
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.headers.get('location')).not.toBe(b.headers.get('location'));
  });
});

describe('contacts (RFC 8555 §7.3)', () => {
  it.each(['tel:+15551234567', 'https://example.test/contact', 'xmpp:ops@example.test'])('refuses %s with unsupportedContact, creating nothing', async (contact) => {
    const key = await generateAccountKey();
    const doc = expectProblem(await newAccount(key, { contact: [contact] }), 400, 'unsupportedContact', h.directoryUrl());
    // §7.3: "with a description of the error and what types of contact URLs the server considers acceptable".
    expect(doc.detail).toContain('mailto');
    expect(await storedFor(key)).toBeUndefined();
  });

  it.each([
    ['no address', 'mailto:'],
    ['not an address', 'mailto:not-an-address'],
    ['hfields', 'mailto:ops@example.test?subject=hello'],
    ['two addresses', 'mailto:a@example.test,b@example.test'],
  ])('refuses a mailto with %s with invalidContact, creating nothing', async (_what, contact) => {
    const key = await generateAccountKey();
    const doc = expectProblem(await newAccount(key, { contact: ['mailto:ok@example.test', contact] }), 400, 'invalidContact', h.directoryUrl());
    expect(doc.detail).toContain(contact);
    expect(await storedFor(key)).toBeUndefined();
  });
});

describe('terms of service (RFC 8555 §7.3)', () => {
  it('puts the terms in the directory meta', async () => {
    const res = await h.client(await generateAccountKey(), 'tos').get(h.directoryUrl('tos'));
    expect((res.body as { meta: Record<string, unknown> }).meta.termsOfService).toBe(TERMS);
  });

  it.each([
    ['missing', {}],
    ['false', { termsOfServiceAgreed: false }],
  ])('refuses newAccount with termsOfServiceAgreed %s, creating nothing', async (_what, payload) => {
    const key = await generateAccountKey();
    expectProblem(await newAccount(key, payload, 'tos'), 400, 'malformed', h.directoryUrl('tos'));
    expect(await storedFor(key, 'tos')).toBeUndefined();
  });

  it('creates the account when the terms are agreed, and says so', async () => {
    const key = await generateAccountKey();
    const body = expectJson<AccountJson>(await newAccount(key, { termsOfServiceAgreed: true }, 'tos'), 201, h.directoryUrl('tos'));
    expect(body.termsOfServiceAgreed).toBe(true);
    expect((await storedFor(key, 'tos'))?.termsAgreedVersion).toBe(TERMS);
  });
});

describe('External Account Binding (RFC 8555 §7.3.4)', () => {
  let newAccountUrl: string;
  beforeAll(async () => {
    newAccountUrl = await h.url('newAccount', 'partners');
  });

  async function eabKey(maxBindings = 1) {
    const created = await h.gw.gateway.ra.eab.create('partners', { maxBindings });
    return { kid: created.kid, macKey: new Uint8Array(Buffer.from(created.hmacKey, 'base64url')) };
  }

  async function binding(key: TestKey, eab: { kid: string; macKey: Uint8Array }, over: Partial<SignEabOptions> = {}) {
    return signEab({ kid: eab.kid, macKey: eab.macKey, url: newAccountUrl, jwk: key.jwk, ...over });
  }

  it('refuses newAccount without a binding with externalAccountRequired, creating nothing', async () => {
    const key = await generateAccountKey();
    expectProblem(await newAccount(key, { termsOfServiceAgreed: true }, 'partners'), 400, 'externalAccountRequired', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
  });

  it('creates the account for a valid binding and returns the binding in the account object', async () => {
    const key = await generateAccountKey();
    const eab = await eabKey();
    const externalAccountBinding = await binding(key, eab);
    const res = await newAccount(key, { termsOfServiceAgreed: true, externalAccountBinding }, 'partners');
    const body = expectJson<AccountJson>(res, 201, h.directoryUrl('partners'));
    // §7.3.4: "The account object the CA returns MUST include an "externalAccountBinding" field with
    // the same value as the field in the request."
    expect(body.externalAccountBinding).toEqual(externalAccountBinding);
    expect((await storedFor(key, 'partners'))?.eabKid).toBe(eab.kid);
  });

  it('accepts HS384 and HS512 bindings too', async () => {
    for (const alg of ['HS384', 'HS512'] as const) {
      const key = await generateAccountKey();
      const res = await newAccount(key, { externalAccountBinding: await binding(key, await eabKey(), { alg }) }, 'partners');
      expect(res.status, alg).toBe(201);
    }
  });

  it('refuses a binding whose MAC does not verify, creating nothing', async () => {
    const key = await generateAccountKey();
    const eab = await eabKey();
    const wrong = { ...eab, macKey: new Uint8Array(32).fill(7) };
    const res = await newAccount(key, { externalAccountBinding: await binding(key, wrong) }, 'partners');
    expectProblem(res, 403, 'unauthorized', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
    expect(await h.store.countAccountsForEab(eab.kid)).toBe(0);
  });

  it('refuses a binding with an unknown kid, creating nothing', async () => {
    const key = await generateAccountKey();
    const res = await newAccount(key, { externalAccountBinding: await binding(key, { kid: 'kid-nobody', macKey: new Uint8Array(32).fill(1) }) }, 'partners');
    expectProblem(res, 403, 'unauthorized', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
  });

  it('refuses a binding of another key than the account key, creating nothing', async () => {
    const key = await generateAccountKey();
    const other = await generateAccountKey();
    const eab = await eabKey();
    const res = await newAccount(key, { externalAccountBinding: await binding(other, eab) }, 'partners');
    expectProblem(res, 403, 'unauthorized', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
    expect(await h.store.countAccountsForEab(eab.kid)).toBe(0);
  });

  it('refuses a key used past its maxBindings, creating nothing', async () => {
    const eab = await eabKey(1);
    const first = await generateAccountKey();
    expect((await newAccount(first, { externalAccountBinding: await binding(first, eab) }, 'partners')).status).toBe(201);
    const second = await generateAccountKey();
    const res = await newAccount(second, { externalAccountBinding: await binding(second, eab) }, 'partners');
    expectProblem(res, 403, 'unauthorized', h.directoryUrl('partners'));
    expect(await storedFor(second, 'partners')).toBeUndefined();
    expect(await h.store.countAccountsForEab(eab.kid)).toBe(1);
  });

  it('refuses a binding that carries a nonce (§7.3.4: "MUST NOT be present")', async () => {
    const key = await generateAccountKey();
    const eab = await eabKey();
    const res = await newAccount(key, { externalAccountBinding: await binding(key, eab, { headerOverrides: { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' } }) }, 'partners');
    expectProblem(res, 400, 'malformed', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
  });

  it('refuses a binding whose url is not the outer url', async () => {
    const key = await generateAccountKey();
    const eab = await eabKey();
    const res = await newAccount(key, { externalAccountBinding: await binding(key, eab, { url: `${newAccountUrl}?x` }) }, 'partners');
    expectProblem(res, 400, 'malformed', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
  });

  it('refuses a binding signed with a signature algorithm instead of a MAC', async () => {
    const key = await generateAccountKey();
    const eab = await eabKey();
    const res = await newAccount(key, { externalAccountBinding: await binding(key, eab, { headerOverrides: { alg: 'ES256' } }) }, 'partners');
    expectProblem(res, 400, 'malformed', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
  });

  it('refuses a binding for a key of another profile', async () => {
    const key = await generateAccountKey();
    const other = await h.gw.gateway.ra.eab.create('default');
    const res = await newAccount(key, { externalAccountBinding: await binding(key, { kid: other.kid, macKey: new Uint8Array(Buffer.from(other.hmacKey, 'base64url')) }) }, 'partners');
    expectProblem(res, 403, 'unauthorized', h.directoryUrl('partners'));
    expect(await storedFor(key, 'partners')).toBeUndefined();
  });

  it('answers an existing account\'s key with 200 without a new binding', async () => {
    const key = await generateAccountKey();
    const created = await newAccount(key, { externalAccountBinding: await binding(key, await eabKey()) }, 'partners');
    const again = await newAccount(key, { onlyReturnExisting: true }, 'partners');
    expect(again.status).toBe(200);
    expectAcmeHeaders(again, h.directoryUrl('partners'));
    expect(again.headers.get('location')).toBe(created.headers.get('location'));
  });
});
