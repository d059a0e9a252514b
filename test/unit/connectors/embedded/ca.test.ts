import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { describe, it, expect, beforeEach } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { CA_FILES, caDirectory, issueServerCertificate, loadOrCreateCa } from '../../../../connectors/embedded/index.js';
import { TestClock, systemClock } from '../../../../src/lib/clock.js';
import { SeededRandom } from '../../../../src/lib/random.js';
import { config, tempDir } from './helpers.js';

const OPENSSL = '/usr/bin/openssl';

describe('embedded CA material', () => {
  let dir: string;
  beforeEach(async () => {
    const tmp = await tempDir();
    dir = caDirectory(tmp.path, 'embedded');
    return tmp.remove;
  });

  it('creates a root and an issuing CA on first use and reuses them later', async () => {
    const clock = new TestClock('2030-01-01T00:00:00Z');
    const first = await loadOrCreateCa(dir, config(), clock, new SeededRandom('ca-1'));
    const second = await loadOrCreateCa(dir, config({ keyType: 'rsa-2048' }), clock, new SeededRandom('ca-2'));

    expect(second.root.pem).toBe(first.root.pem);
    expect(second.issuing.pem).toBe(first.issuing.pem);
    expect(second.keyType).toBe('ec-p256'); // the CA on disk wins over a changed config
    expect(await readFile(join(dir, CA_FILES.rootCert), 'utf8')).toBe(first.root.pem);
  });

  it('shares one creation when called twice at once for the same directory', async () => {
    const clock = new TestClock();
    const [a, b] = await Promise.all([
      loadOrCreateCa(dir, config(), clock, new SeededRandom('race-a')),
      loadOrCreateCa(dir, config(), clock, new SeededRandom('race-b')),
    ]);
    expect(b.root.pem).toBe(a.root.pem);
  });

  it('writes the private keys as PKCS#8 PEM readable by the owner only', async () => {
    await loadOrCreateCa(dir, config(), new TestClock(), new SeededRandom('modes'));
    for (const file of [CA_FILES.rootKey, CA_FILES.issuingKey]) {
      expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(dir, file), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    }
  });

  it('gives the root and issuing CA the RFC 5280 CA extensions', async () => {
    const ca = await loadOrCreateCa(dir, config({ organization: 'Example Org' }), new TestClock(), new SeededRandom('exts'));
    const root = new x509.X509Certificate(ca.root.pem);
    const issuing = new x509.X509Certificate(ca.issuing.pem);

    const rootBc = root.getExtension(x509.BasicConstraintsExtension);
    const issuingBc = issuing.getExtension(x509.BasicConstraintsExtension);
    expect(rootBc).toMatchObject({ ca: true, critical: true });
    expect(issuingBc).toMatchObject({ ca: true, pathLength: 0, critical: true });
    for (const cert of [root, issuing]) {
      const ku = cert.getExtension(x509.KeyUsagesExtension);
      expect(ku?.critical).toBe(true);
      expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    }
    const rootSki = root.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(rootSki).toMatch(/^[0-9a-f]{40}$/);
    expect(issuing.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(rootSki);
    expect(issuing.issuer).toBe(root.subject);
    expect(issuing.subject).toBe('O=Example Org, CN=ACME Gateway Issuing CA');
    expect(await issuing.verify({ publicKey: root, signatureOnly: true })).toBe(true);
    expect(await root.isSelfSigned()).toBe(true);
  });

  it('creates an RSA CA when keyType asks for one', async () => {
    const ca = await loadOrCreateCa(dir, config({ keyType: 'rsa-2048' }), new TestClock(), new SeededRandom('rsa'));
    expect(ca.keyType).toBe('rsa-2048');
    const issuing = new X509Certificate(ca.issuing.pem);
    expect(issuing.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(issuing.verify(new X509Certificate(ca.root.pem).publicKey)).toBe(true);
  });

  it('refuses to start when the issuing key does not belong to the issuing certificate', async () => {
    const clock = new TestClock();
    await loadOrCreateCa(dir, config(), clock, new SeededRandom('mismatch'));
    const other = await tempDir();
    try {
      const otherDir = caDirectory(other.path, 'embedded');
      await loadOrCreateCa(otherDir, config(), clock, new SeededRandom('mismatch-2'));
      await writeFile(join(dir, CA_FILES.issuingKey), await readFile(join(otherDir, CA_FILES.issuingKey)));
    } finally {
      await other.remove();
    }
    await expect(loadOrCreateCa(dir, config(), clock, new SeededRandom('mismatch-3'))).rejects.toMatchObject({ code: 'misconfigured' });
  });
});

describe('issueServerCertificate', () => {
  let dir: string;
  beforeEach(async () => {
    const tmp = await tempDir();
    dir = caDirectory(tmp.path, 'embedded');
    return tmp.remove;
  });

  it('makes a P-256 serverAuth certificate for DNS names and IPs that verifies against the root', async () => {
    const ca = await loadOrCreateCa(dir, config(), systemClock, new SeededRandom('tls'));
    const { certPem, keyPem, chainPem } = await issueServerCertificate(ca, ['localhost', 'gw.example.test', '127.0.0.1', '::1'], 30);
    const leaf = new X509Certificate(certPem);
    const issuing = new X509Certificate(chainPem);
    const root = new X509Certificate(ca.root.pem);

    expect(leaf.verify(issuing.publicKey)).toBe(true);
    expect(issuing.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(issuing)).toBe(true);
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkHost('gw.example.test')).toBe('gw.example.test');
    expect(leaf.checkHost('other.example.test')).toBeUndefined();
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // Node lists the extended key usages here
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leaf.ca).toBe(false);
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(30);
  });

  it('completes a real TLS handshake on 127.0.0.1 with a client that trusts only root.pem', async () => {
    const ca = await loadOrCreateCa(dir, config(), systemClock, new SeededRandom('handshake'));
    const { certPem, keyPem, chainPem } = await issueServerCertificate(ca, ['localhost', '127.0.0.1'], 7);
    const server = tls.createServer({ key: keyPem, cert: certPem + chainPem }, (socket) => socket.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const rootPem = await readFile(join(dir, CA_FILES.rootCert), 'utf8');
    try {
      for (const servername of [undefined, 'localhost']) {
        const received = await new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port, ca: rootPem, ...(servername ? { servername } : {}) }, () => {
            if (!socket.authorized) reject(socket.authorizationError);
          });
          let body = '';
          socket.on('data', (d: Buffer) => (body += d.toString()));
          socket.on('end', () => resolve(body));
          socket.on('error', reject);
        });
        expect(received).toBe('hello');
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('is accepted by openssl verify with root.pem as the only trust anchor', async () => {
    const ca = await loadOrCreateCa(dir, config(), systemClock, new SeededRandom('openssl'));
    const { certPem } = await issueServerCertificate(ca, ['localhost'], 7);
    const leafFile = join(dir, 'leaf-test.pem');
    await writeFile(leafFile, certPem);
    const out = execFileSync(OPENSSL, ['verify', '-CAfile', join(dir, CA_FILES.rootCert), '-untrusted', join(dir, CA_FILES.issuingCert), '-purpose', 'sslserver', leafFile], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${leafFile}: OK`);
  });
});
