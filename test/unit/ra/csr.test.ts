/**
 * Finalize's CSR checks (src/ra/csr.ts, RFC 8555 §7.4): the PKCS#10 signature, the key types a
 * profile accepts, and exactly the order's identifiers as names. Every refusal is badCSR naming
 * what is wrong. CSRs are built with @peculiar/x509 over node:crypto keys.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { describe, it, expect } from 'vitest';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import type { Identifier } from '../../../src/protocol/types.js';
import { checkCsr } from '../../../src/ra/csr.js';
import { readCsr } from '../../../src/sdk/csr.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyKind = 'ec-p256' | 'ec-p384' | 'rsa-1024' | 'rsa-2048' | 'ed25519';

const ALGORITHMS: Record<KeyKind, { generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm; sign: webcrypto.EcdsaParams | webcrypto.Algorithm }> = {
  'ec-p256': { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'ec-p384': { generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  'rsa-1024': { generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'rsa-2048': { generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  ed25519: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

const keyCache = new Map<KeyKind, Promise<webcrypto.CryptoKeyPair>>();
function keys(kind: KeyKind): Promise<webcrypto.CryptoKeyPair> {
  let k = keyCache.get(kind);
  if (!k) {
    k = webcrypto.subtle.generateKey(ALGORITHMS[kind].generate as webcrypto.EcKeyGenParams, true, ['sign', 'verify']);
    keyCache.set(kind, k);
  }
  return k;
}

interface CsrSpec {
  cn?: string;
  dns?: string[];
  ips?: string[];
  emails?: string[];
  key?: KeyKind;
}

async function csr(spec: CsrSpec): Promise<Uint8Array> {
  const kind = spec.key ?? 'ec-p256';
  const names: x509.JsonGeneralName[] = [
    ...(spec.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(spec.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(spec.cn !== undefined ? { name: [{ CN: [spec.cn] }] } : {}),
    keys: await keys(kind),
    signingAlgorithm: ALGORITHMS[kind].sign,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return new Uint8Array(req.rawData);
}

const dns = (value: string): Identifier => ({ type: 'dns', value });
const ip = (value: string): Identifier => ({ type: 'ip', value });
const EC_ONLY = ['ec-p256'];
const DEFAULT_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'];

async function refusal(der: Uint8Array, order: Identifier[], allowed: string[] = DEFAULT_TYPES): Promise<AcmeProblem> {
  try {
    await checkCsr(der, order, allowed);
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected checkCsr to refuse');
}

describe('checkCsr: accepted requests', () => {
  it('accepts a P-256 CSR naming the order\'s names, and reports its key type and the identifiers', async () => {
    const der = await csr({ cn: 'a.example.test', dns: ['a.example.test', 'b.example.test'] });
    const out = await checkCsr(der, [dns('a.example.test'), dns('b.example.test')], EC_ONLY);
    expect(out).toEqual({ der, keyType: 'ec-p256', identifiers: [dns('a.example.test'), dns('b.example.test')] });
  });

  it('accepts a CSR without a subject, its names only in subjectAltName', async () => {
    const out = await checkCsr(await csr({ dns: ['a.example.test'] }), [dns('a.example.test')], EC_ONLY);
    expect(out.identifiers).toEqual([dns('a.example.test')]);
  });

  it('accepts a CSR naming its only identifier in the common name alone (§7.4 "either ... or both")', async () => {
    const out = await checkCsr(await csr({ cn: 'a.example.test' }), [dns('a.example.test')], EC_ONLY);
    expect(out.keyType).toBe('ec-p256');
  });

  it('compares names without regard to case or a trailing dot', async () => {
    const der = await csr({ cn: 'A.Example.TEST', dns: ['A.Example.TEST.', '*.Wild.example.test'] });
    await expect(checkCsr(der, [dns('a.example.test'), dns('*.wild.example.test')], EC_ONLY)).resolves.toMatchObject({ keyType: 'ec-p256' });
  });

  it('accepts IPv4 and IPv6 addresses as iPAddress names (RFC 8738)', async () => {
    const der = await csr({ ips: ['192.0.2.7', '2001:db8::1'] });
    await expect(checkCsr(der, [ip('192.0.2.7'), ip('2001:db8::1')], EC_ONLY)).resolves.toMatchObject({ identifiers: [ip('192.0.2.7'), ip('2001:db8::1')] });
  });

  it('accepts an RSA-2048 CSR when the profile allows rsa-2048', async () => {
    const out = await checkCsr(await csr({ dns: ['rsa.example.test'], key: 'rsa-2048' }), [dns('rsa.example.test')], DEFAULT_TYPES);
    expect(out.keyType).toBe('rsa-2048');
  });

  it('names a P-384 key ec-p384 and an Ed25519 key ed25519', async () => {
    expect((await checkCsr(await csr({ dns: ['a.example.test'], key: 'ec-p384' }), [dns('a.example.test')], ['ec-p384'])).keyType).toBe('ec-p384');
    expect((await checkCsr(await csr({ dns: ['a.example.test'], key: 'ed25519' }), [dns('a.example.test')], ['ed25519'])).keyType).toBe('ed25519');
  });
});

describe('checkCsr: refusals (badCSR)', () => {
  it('refuses bytes that are not a PKCS#10 request', async () => {
    const p = await refusal(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), [dns('a.example.test')]);
    expect(p).toMatchObject({ type: 'badCSR', status: 400 });
    expect(p.detail).toMatch(/^the CSR (is not|cannot be read)/);
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const der = await csr({ dns: ['a.example.test'] });
    const tampered = new Uint8Array(der);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
    const p = await refusal(tampered, [dns('a.example.test')]);
    expect(p).toMatchObject({ type: 'badCSR', detail: 'the CSR signature does not verify' });
  });

  it('refuses a key type the profile does not allow, naming it and the allowed ones', async () => {
    const p = await refusal(await csr({ dns: ['a.example.test'], key: 'rsa-2048' }), [dns('a.example.test')], ['ec-p256', 'ec-p384']);
    expect(p).toMatchObject({ type: 'badCSR', detail: 'key type rsa-2048 is not allowed by this profile (allowed: ec-p256, ec-p384)' });
  });

  it('refuses a 1024-bit RSA key under the default key types', async () => {
    const p = await refusal(await csr({ dns: ['a.example.test'], key: 'rsa-1024' }), [dns('a.example.test')]);
    expect(p.detail).toContain('key type rsa-1024 is not allowed');
  });

  it('refuses a CSR missing one of the order\'s names, naming both sets', async () => {
    const p = await refusal(await csr({ dns: ['a.example.test'] }), [dns('a.example.test'), dns('b.example.test')]);
    expect(p).toMatchObject({ type: 'badCSR', detail: 'the CSR names (a.example.test) do not equal the order\'s identifiers (a.example.test, b.example.test)' });
  });

  it('refuses a CSR asking for a name the order does not have', async () => {
    const p = await refusal(await csr({ dns: ['a.example.test', 'extra.example.test'] }), [dns('a.example.test')]);
    expect(p.detail).toContain('(a.example.test, extra.example.test)');
  });

  it('refuses a CSR without any name, saying "none"', async () => {
    const p = await refusal(await csr({}), [dns('a.example.test')]);
    expect(p.detail).toBe('the CSR names (none) do not equal the order\'s identifiers (a.example.test)');
  });

  it('refuses a common name that is not one of the order\'s identifiers, naming it', async () => {
    const p = await refusal(await csr({ cn: 'other.example.test', dns: ['a.example.test'] }), [dns('a.example.test')]);
    expect(p).toMatchObject({ type: 'badCSR', detail: 'the CSR\'s common name "other.example.test" is not one of the order\'s identifiers' });
  });

  it('refuses a CSR with any common name that is not one of the order\'s identifiers, first or last', async () => {
    // §7.4: the CSR "MUST indicate the exact same set of requested identifiers"; a subject may hold several CNs.
    for (const cns of [['other.example.test', 'a.example.test'], ['a.example.test', 'other.example.test']]) {
      const req = await x509.Pkcs10CertificateRequestGenerator.create({
        name: cns.map((cn) => ({ CN: [cn] })),
        keys: await keys('ec-p256'),
        signingAlgorithm: ALGORITHMS['ec-p256'].sign,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'a.example.test' }])],
      });
      const p = await refusal(new Uint8Array(req.rawData), [dns('a.example.test')]);
      expect(p, `subject CN=${cns.join(', CN=')}`).toMatchObject({ type: 'badCSR', detail: 'the CSR\'s common name "other.example.test" is not one of the order\'s identifiers' });
    }
  });

  it('refuses an e-mail subjectAltName, saying which names are issued', async () => {
    const p = await refusal(await csr({ dns: ['a.example.test'], emails: ['ops@example.test'] }), [dns('a.example.test')]);
    expect(p.type).toBe('badCSR');
    expect(p.detail).toContain('DNS names and IP addresses');
  });

  it('refuses an IP address written as a DNS name for an ip identifier', async () => {
    const p = await refusal(await csr({ dns: ['192.0.2.7'] }), [ip('192.0.2.7')]);
    expect(p.type).toBe('badCSR');
  });

  it('refuses a wildcard CSR for an order of the base name', async () => {
    const p = await refusal(await csr({ dns: ['*.example.test'] }), [dns('example.test')]);
    expect(p.detail).toContain('(*.example.test)');
  });
});

describe('readCsr (SDK): one read per CSR bytes', () => {
  it('answers a second read of the same bytes from its cache, frozen, and reads different bytes afresh', async () => {
    const der = await csr({ dns: ['cache.example.test'] });
    const first = readCsr(der);
    expect(readCsr(new Uint8Array(der))).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.dnsNames)).toBe(true);
    expect(first).toMatchObject({ keyType: 'ec-p256', keyDescription: { kind: 'ec', curve: 'P-256' }, signatureValid: true, dnsNames: ['cache.example.test'] });
    const tampered = new Uint8Array(der);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
    expect(readCsr(tampered).signatureValid).toBe(false);
    expect(readCsr(der)).toBe(first);
  });

  it('reads RSA sizes off the modulus as Node does', async () => {
    const read = readCsr(await csr({ dns: ['rsa.example.test'], key: 'rsa-2048' }));
    expect(read.keyDescription).toEqual({ kind: 'rsa', bits: 2048 });
    expect(read.key.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });
});
