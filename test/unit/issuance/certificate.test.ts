import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { authorityKeyIdOf } from '../../../src/issuance/certificate.js';

x509.cryptoProvider.set(globalThis.crypto);

async function selfSigned(withAki: boolean): Promise<Uint8Array> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0187654321',
    name: 'CN=test',
    notBefore: new Date('2030-01-01T00:00:00Z'),
    notAfter: new Date('2030-02-01T00:00:00Z'),
    keys,
    signingAlgorithm: alg,
    extensions: withAki ? [await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey), new x509.BasicConstraintsExtension(false)] : [new x509.BasicConstraintsExtension(false)],
  });
  return new Uint8Array(cert.rawData);
}

describe('authorityKeyIdOf (the RFC 9773 certID half)', () => {
  it('reads the AKI keyIdentifier exactly as @peculiar/x509 does, base64url', async () => {
    const der = await selfSigned(true);
    const keyId = new x509.X509Certificate(der).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId ?? '';
    expect(keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(authorityKeyIdOf(der)).toBe(Buffer.from(keyId, 'hex').toString('base64url'));
  });

  it('is null for a certificate without an AKI extension', async () => {
    expect(authorityKeyIdOf(await selfSigned(false))).toBeNull();
  });

  it('throws on bytes that are not DER', () => {
    expect(() => authorityKeyIdOf(new Uint8Array([0x30, 0x85, 1]))).toThrow(RangeError);
  });
});
