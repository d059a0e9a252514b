import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { describe, it, expect, beforeEach } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { caIssuersPath, crlPath, type EmbeddedConnector } from '../../../../connectors/embedded/index.js';
import { hasCrlPublisher, hasHealthProbe, hasRevocationStatus, hasTrustAnchors } from '../../../../src/sdk/index.js';
import { TestClock } from '../../../../src/lib/clock.js';
import { BASE_URL, issueRequest, makeCsr, signal, start, tempDir } from './helpers.js';

const OPENSSL = '/usr/bin/openssl';
const START = '2030-01-01T00:00:00Z';
const DAY_MS = 86_400_000;

describe('embedded connector', () => {
  let dataDir: string;
  let clock: TestClock;
  let connector: EmbeddedConnector;

  beforeEach(async () => {
    const tmp = await tempDir();
    dataDir = tmp.path;
    clock = new TestClock(START);
    connector = (await start(dataDir, clock, 'connector')).connector;
    return async () => {
      await connector.close();
      await tmp.remove();
    };
  });

  const chainOf = (issued: { leafPem: string; chainPem: string[] }) => {
    const [rootPem] = connector.caCertificatesPem();
    return { leaf: new X509Certificate(issued.leafPem), issuing: new X509Certificate(issued.chainPem[0] ?? ''), root: new X509Certificate(rootPem ?? '') };
  };

  describe('issue', () => {
    it('issues for a P-256 CSR with the identifiers as SANs, serverAuth and a 128-bit serial', async () => {
      const issued = await connector.issue(await issueRequest('order-p256', ['a.example.test', '*.b.example.test', '192.0.2.7']), signal());
      const { leaf, issuing, root } = chainOf(issued);

      expect(leaf.subjectAltName).toBe('DNS:a.example.test, DNS:*.b.example.test, IP Address:192.0.2.7');
      expect(leaf.subject).toBe('CN=a.example.test');
      expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
      expect(leaf.ca).toBe(false);
      expect(issued.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(issued.serial).not.toMatch(/^00/);
      expect(leaf.serialNumber.toLowerCase()).toBe(issued.serial);
      expect(issued.issuer).toBe('O=ACME Gateway, CN=ACME Gateway Issuing CA');
      expect(issued.chainPem).toHaveLength(1);
      expect(leaf.verify(issuing.publicKey)).toBe(true);
      expect(issuing.verify(root.publicKey)).toBe(true);
      expect(leaf.checkHost('x.b.example.test')).toBe('*.b.example.test'); // Node returns the matching SAN
    });

    it('sets keyUsage digitalSignature, SKI/AKI, AIA and CRL distribution point', async () => {
      const issued = await connector.issue(await issueRequest('order-exts', ['a.example.test']), signal());
      const leaf = new x509.X509Certificate(issued.leafPem);
      const issuing = new x509.X509Certificate(issued.chainPem[0] ?? '');

      const ku = leaf.getExtension(x509.KeyUsagesExtension);
      expect(ku).toMatchObject({ critical: true, usages: x509.KeyUsageFlags.digitalSignature });
      expect(leaf.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: false });
      expect(leaf.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(Buffer.from(await leaf.publicKey.getKeyIdentifier()).toString('hex'));
      expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(issuing.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
      expect(leaf.getExtension(x509.AuthorityInfoAccessExtension)?.caIssuers.map((n) => n.value)).toEqual([`${BASE_URL}${caIssuersPath('embedded')}`]);
      const dp = leaf.getExtension(x509.CRLDistributionPointsExtension)?.distributionPoints[0]?.distributionPoint?.fullName?.[0]?.uniformResourceIdentifier;
      expect(dp).toBe(`${BASE_URL}${crlPath('embedded')}`);
      expect(crlPath('embedded')).toBe('/crl/embedded.crl');
      expect(caIssuersPath('embedded')).toBe('/ca/embedded/issuing.crt');
    });

    it('issues for an RSA-2048 CSR with keyEncipherment added', async () => {
      const issued = await connector.issue(await issueRequest('order-rsa', ['rsa.example.test'], { key: 'rsa-2048' }), signal());
      const { leaf, issuing } = chainOf(issued);
      expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(leaf.verify(issuing.publicKey)).toBe(true);
      const ku = new x509.X509Certificate(issued.leafPem).getExtension(x509.KeyUsagesExtension);
      expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    });

    it('issues for a P-384 CSR', async () => {
      const issued = await connector.issue(await issueRequest('order-p384', ['p384.example.test'], { key: 'ec-p384' }), signal());
      expect(chainOf(issued).leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    });

    it('passes openssl verify with root.pem trusted and the issuing CA untrusted', async () => {
      const issued = await connector.issue(await issueRequest('order-openssl', ['o.example.test']), signal());
      const dir = join(dataDir, 'connectors', 'embedded');
      await writeFile(join(dir, 'leaf-test.pem'), issued.leafPem);
      const attime = String(clock.now().getTime() / 1000 + 60);
      const out = execFileSync(OPENSSL, ['verify', '-attime', attime, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), join(dir, 'leaf-test.pem')], { encoding: 'utf8' });
      expect(out).toMatch(/leaf-test\.pem: OK/);
    });

    it('runs from the clock for 90 days by default', async () => {
      const issued = await connector.issue(await issueRequest('order-default-validity', ['v.example.test']), signal());
      const leaf = new x509.X509Certificate(issued.leafPem);
      expect(leaf.notBefore.toISOString()).toBe('2030-01-01T00:00:00.000Z');
      expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe(90 * DAY_MS);
    });

    it('uses the requested validity when one is given', async () => {
      const validity = { notBefore: new Date('2030-01-02T00:00:00Z'), notAfter: new Date('2030-01-09T12:00:00Z') };
      const issued = await connector.issue(await issueRequest('order-validity', ['v.example.test'], { validity }), signal());
      const leaf = new x509.X509Certificate(issued.leafPem);
      expect(leaf.notBefore).toEqual(validity.notBefore);
      expect(leaf.notAfter).toEqual(validity.notAfter);
    });

    it('adds clientAuth when the template attributes ask for it', async () => {
      const req = await issueRequest('order-client', ['c.example.test'], { attributes: { extendedKeyUsages: ['serverAuth', 'clientAuth'] } });
      const issued = await connector.issue(req, signal());
      expect(chainOf(issued).leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    });

    it('reports a malformed extendedKeyUsages attribute as misconfigured', async () => {
      const req = await issueRequest('order-bad-eku', ['c.example.test'], { attributes: { extendedKeyUsages: ['codeSigning'] } });
      await expect(connector.issue(req, signal())).rejects.toMatchObject({ code: 'misconfigured' });
    });

    it('leaves the subject empty and marks the SAN critical when the first name is longer than 64 characters', async () => {
      const long = `${'l'.repeat(60)}.example.test`;
      const issued = await connector.issue(await issueRequest('order-long', [long, 'short.example.test']), signal());
      const leaf = new x509.X509Certificate(issued.leafPem);
      expect(leaf.subject).toBe('');
      expect(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(true);
    });

    it('rejects an RSA-1024 CSR as bad-request', async () => {
      const req = await issueRequest('order-rsa1024', ['weak.example.test'], { key: 'rsa-1024' });
      await expect(connector.issue(req, signal())).rejects.toMatchObject({ name: 'ConnectorError', code: 'bad-request' });
    });

    it('rejects a P-521 CSR as bad-request', async () => {
      const req = await issueRequest('order-p521', ['p521.example.test'], { key: 'ec-p521' });
      await expect(connector.issue(req, signal())).rejects.toMatchObject({ code: 'bad-request', message: expect.stringMatching(/P-521/) });
    });

    it('rejects a CSR whose signature does not verify as bad-request', async () => {
      const csr = await makeCsr(['tampered.example.test']);
      const last = csr.length - 1;
      csr[last] = (csr[last] ?? 0) ^ 0x01;
      const req = await issueRequest('order-bad-sig', ['tampered.example.test'], { csr });
      await expect(connector.issue(req, signal())).rejects.toMatchObject({ code: 'bad-request', message: expect.stringMatching(/signature/) });
    });

    it('rejects bytes that are no CSR as bad-request', async () => {
      const req = await issueRequest('order-garbage', ['g.example.test'], { csr: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) });
      await expect(connector.issue(req, signal())).rejects.toMatchObject({ code: 'bad-request' });
    });

    it('rejects an identifier that is no DNS name or IP, naming it', async () => {
      const req = await issueRequest('order-bad-name', ['ok.example.test']);
      const bad = { ...req, identifiers: [...req.identifiers, { type: 'dns' as const, value: 'bad_name..example' }] };
      await expect(connector.issue(bad, signal())).rejects.toMatchObject({ code: 'bad-request', info: { identifiers: [{ type: 'dns', value: 'bad_name..example' }] } });
    });

    it('returns the same certificate when a request id is submitted twice', async () => {
      const req = await issueRequest('order-twice', ['twice.example.test']);
      const first = await connector.issue(req, signal());
      clock.advance(60_000);
      const second = await connector.issue({ ...req, csr: await makeCsr(['twice.example.test']) }, signal());
      expect(second).toEqual(first);
    });

    it('returns one certificate when the same request id races with itself', async () => {
      const req = await issueRequest('order-race', ['race.example.test']);
      const results = await Promise.all([connector.issue(req, signal()), connector.issue(req, signal()), connector.issue(req, signal())]);
      expect(new Set(results.map((r) => r.serial)).size).toBe(1);
    });

    it('throws timeout without issuing when the signal is already aborted', async () => {
      const req = await issueRequest('order-aborted', ['abort.example.test']);
      await expect(connector.issue(req, AbortSignal.abort())).rejects.toMatchObject({ code: 'timeout' });
      await expect(connector.status({ requestId: 'order-aborted' }, signal())).rejects.toMatchObject({ code: 'not-found' });
    });
  });

  describe('status', () => {
    it('returns the certificate issued for a request id', async () => {
      const issued = await connector.issue(await issueRequest('order-status', ['s.example.test']), signal());
      expect(await connector.status({ requestId: 'order-status' }, signal())).toEqual(issued);
    });

    it('throws not-found for an unknown request id', async () => {
      await expect(connector.status({ requestId: 'never-issued' }, signal())).rejects.toMatchObject({ code: 'not-found' });
    });
  });

  describe('revoke', () => {
    it('revokes once, then reports already-revoked', async () => {
      const issued = await connector.issue(await issueRequest('order-revoke', ['r.example.test']), signal());
      await connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal());
      await expect(connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 4 }, signal())).rejects.toMatchObject({ code: 'already-revoked' });
      expect(await connector.certificateStatus(issued.serial, issued.issuer, signal())).toEqual({ revoked: true, reason: 1, revokedAt: new Date(START) });
    });

    it('finds the serial in upper case or with a leading zero byte', async () => {
      const issued = await connector.issue(await issueRequest('order-revoke-case', ['rc.example.test']), signal());
      await connector.revoke({ serial: `00${issued.serial.toUpperCase()}`, issuer: issued.issuer, reason: 0 }, signal());
      expect((await connector.certificateStatus(issued.serial, issued.issuer, signal())).revoked).toBe(true);
    });

    it('throws not-found for an unknown serial or another issuer', async () => {
      const issued = await connector.issue(await issueRequest('order-revoke-unknown', ['u.example.test']), signal());
      await expect(connector.revoke({ serial: '0123456789abcdef', issuer: issued.issuer, reason: 0 }, signal())).rejects.toMatchObject({ code: 'not-found' });
      await expect(connector.revoke({ serial: issued.serial, issuer: 'CN=Someone Else', reason: 0 }, signal())).rejects.toMatchObject({ code: 'not-found' });
    });

    it('refuses reason 8 (removeFromCRL) as bad-request', async () => {
      const issued = await connector.issue(await issueRequest('order-revoke-8', ['e.example.test']), signal());
      await expect(connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 8 }, signal())).rejects.toMatchObject({ code: 'bad-request' });
    });

    it('reports a certificate that was not revoked as good', async () => {
      const issued = await connector.issue(await issueRequest('order-good', ['good.example.test']), signal());
      expect(await connector.certificateStatus(issued.serial, issued.issuer, signal())).toEqual({ revoked: false });
    });
  });

  describe('crl', () => {
    it('lists a revoked serial with its reason, AKI, CRL number and a day until nextUpdate', async () => {
      const kept = await connector.issue(await issueRequest('order-kept', ['k.example.test']), signal());
      const gone = await connector.issue(await issueRequest('order-gone', ['g.example.test']), signal());
      clock.advance(3_600_000);
      await connector.revoke({ serial: gone.serial, issuer: gone.issuer, reason: 1 }, signal());

      const crl = new x509.X509Crl(await connector.crl(signal()));
      const issuing = new x509.X509Certificate(gone.chainPem[0] ?? '');
      expect(await crl.verify({ publicKey: issuing })).toBe(true);
      expect(crl.issuer).toBe(gone.issuer);
      expect(crl.thisUpdate.toISOString()).toBe('2030-01-01T01:00:00.000Z');
      expect(crl.nextUpdate?.getTime()).toBe(crl.thisUpdate.getTime() + DAY_MS);
      expect(crl.entries.map((e) => [e.serialNumber, e.reason, e.revocationDate.toISOString()])).toEqual([[gone.serial, 1, '2030-01-01T01:00:00.000Z']]);
      expect(crl.findRevoked(kept.serial)).toBeNull();
      expect(crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(issuing.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
      expect(crl.getExtension('2.5.29.20')).not.toBeNull();
    });

    it('is printed by openssl crl with the serial and reason', async () => {
      const issued = await connector.issue(await issueRequest('order-openssl-crl', ['oc.example.test']), signal());
      await connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 4 }, signal());
      const file = join(dataDir, 'crl-test.der');
      await writeFile(file, await connector.crl(signal()));
      const text = execFileSync(OPENSSL, ['crl', '-inform', 'DER', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toContain(`Serial Number: ${issued.serial.toUpperCase()}`);
      expect(text).toMatch(/CRL Reason Code:\s*\n\s*Superseded/);
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*1\b/);
    });

    it('serves the cached CRL until a revocation changes it, then a higher CRL number', async () => {
      const first = await connector.crl(signal());
      clock.advance(60_000);
      expect(await connector.crl(signal())).toBe(first);

      const issued = await connector.issue(await issueRequest('order-crl-cache', ['cc.example.test']), signal());
      await connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 0 }, signal());
      const second = await connector.crl(signal());
      expect(second).not.toBe(first);
      const number = (der: Uint8Array) => Buffer.from(new x509.X509Crl(der).getExtension('2.5.29.20')?.value ?? new ArrayBuffer(0)).toString('hex');
      expect(number(first)).toBe('020101');
      expect(number(second)).toBe('020102');
      // Reason 0 is left out of the entry, as RFC 5280 §5.3.1 prefers.
      expect(new x509.X509Crl(second).findRevoked(issued.serial)?.reason).toBeUndefined();
    });

    it('makes a fresh CRL once half of its validity has passed', async () => {
      const first = new x509.X509Crl(await connector.crl(signal()));
      clock.advance(12 * 3_600_000);
      const second = new x509.X509Crl(await connector.crl(signal()));
      expect(second.thisUpdate.getTime()).toBe(first.thisUpdate.getTime() + 12 * 3_600_000);
    });
  });

  describe('capabilities', () => {
    it('offers CRL, trust anchors, health and revocation status through the SDK type guards', () => {
      expect(hasCrlPublisher(connector)).toBe(true);
      expect(hasTrustAnchors(connector)).toBe(true);
      expect(hasHealthProbe(connector)).toBe(true);
      expect(hasRevocationStatus(connector)).toBe(true);
    });

    it('gives the root and the issuing CA as trust anchors', async () => {
      const [root, issuing] = connector.caCertificatesPem();
      expect(new X509Certificate(issuing ?? '').checkIssued(new X509Certificate(root ?? ''))).toBe(true);
    });

    it('is healthy while open and not after close', async () => {
      expect(await connector.health(signal())).toMatchObject({ ok: true });
      await connector.close();
      expect(await connector.health(signal())).toMatchObject({ ok: false });
      await expect(connector.status({ requestId: 'x' }, signal())).rejects.toMatchObject({ code: 'unavailable' });
    });
  });

  describe('persistence', () => {
    it('keeps issued and revoked records and the CA across a re-create', async () => {
      const issued = await connector.issue(await issueRequest('order-persist', ['p.example.test']), signal());
      const revoked = await connector.issue(await issueRequest('order-persist-revoked', ['pr.example.test']), signal());
      await connector.revoke({ serial: revoked.serial, issuer: revoked.issuer, reason: 5 }, signal());
      const firstCrl = new x509.X509Crl(await connector.crl(signal()));
      const roots = connector.caCertificatesPem();
      await connector.close();

      connector = (await start(dataDir, clock, 'connector-after-restart')).connector;
      expect(connector.caCertificatesPem()).toEqual(roots);
      expect(await connector.status({ requestId: 'order-persist' }, signal())).toEqual(issued);
      expect(await connector.issue(await issueRequest('order-persist', ['p.example.test']), signal())).toEqual(issued);
      expect(await connector.certificateStatus(revoked.serial, revoked.issuer, signal())).toMatchObject({ revoked: true, reason: 5 });
      await expect(connector.revoke({ serial: revoked.serial, issuer: revoked.issuer, reason: 1 }, signal())).rejects.toMatchObject({ code: 'already-revoked' });
      const crl = new x509.X509Crl(await connector.crl(signal()));
      expect(crl.findRevoked(revoked.serial)?.reason).toBe(5);
      const number = (c: x509.X509Crl) => Buffer.from(c.getExtension('2.5.29.20')?.value ?? new ArrayBuffer(0)).readUIntBE(2, 1);
      expect(number(crl)).toBeGreaterThan(number(firstCrl));
    });
  });
});

describe.each(['ec-p384', 'rsa-2048'] as const)('embedded connector with a %s CA', (keyType) => {
  it('issues leaves that Node and openssl verify up to the root', async () => {
    const tmp = await tempDir();
    const clock = new TestClock(START);
    const { connector } = await start(tmp.path, clock, `ca-${keyType}`, { keyType });
    try {
      const issued = await connector.issue(await issueRequest(`order-${keyType}`, ['k.example.test', '2001:db8::7']), signal());
      const [rootPem, issuingPem] = connector.caCertificatesPem();
      const leaf = new X509Certificate(issued.leafPem);
      expect(leaf.verify(new X509Certificate(issuingPem ?? '').publicKey)).toBe(true);
      expect(leaf.checkIP('2001:db8::7')).toBe('2001:db8::7');
      const dir = join(tmp.path, 'connectors', 'embedded');
      await writeFile(join(dir, 'leaf-test.pem'), issued.leafPem);
      const attime = String(clock.now().getTime() / 1000 + 60);
      const out = execFileSync(OPENSSL, ['verify', '-attime', attime, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), join(dir, 'leaf-test.pem')], { encoding: 'utf8' });
      expect(out).toMatch(/leaf-test\.pem: OK/);
      expect(rootPem).toBe(await readFile(join(dir, 'root.pem'), 'utf8'));
      const crl = new x509.X509Crl(await connector.crl(signal()));
      expect(await crl.verify({ publicKey: new x509.X509Certificate(issuingPem ?? '') })).toBe(true);
    } finally {
      await connector.close();
      await tmp.remove();
    }
  });
});
