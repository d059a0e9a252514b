import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { authorityKeyIdOf, certificateFacts, derOfPem } from '../../../src/issuance/certificate.js';

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

describe('certificateFacts and derOfPem', () => {
  it('reads validity and SPKI as node:crypto X509Certificate does', async () => {
    const der = await selfSigned(true);
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    const { X509Certificate } = await import('node:crypto');
    const node = new X509Certificate(pem);
    const read = certificateFacts(derOfPem(pem));
    expect(read.notBefore.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(read.notAfter.getTime()).toBe(new Date(node.validTo).getTime());
    expect(Buffer.from(read.spki).equals(node.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('reads GeneralizedTime (years from 2050) and UTCTime 50–99 as 19xx', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=t', notBefore: new Date('1999-12-31T23:59:59Z'), notAfter: new Date('2051-06-01T12:00:00Z'), keys, signingAlgorithm: alg,
    });
    const read = certificateFacts(new Uint8Array(cert.rawData));
    expect(read.notBefore.toISOString()).toBe('1999-12-31T23:59:59.000Z');
    expect(read.notAfter.toISOString()).toBe('2051-06-01T12:00:00.000Z');
  });

  it('refuses what is not a certificate', () => {
    expect(() => derOfPem('no pem here')).toThrow(RangeError);
    expect(() => certificateFacts(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(RangeError);
  });
});
