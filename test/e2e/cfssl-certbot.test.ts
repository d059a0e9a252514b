/**
 * Issue #7, the cfssl proof: certbot (Debian's 2.x) gets a certificate through the gateway from a
 * real `cfssl serve` (Debian's golang-cfssl, test/fakes/cfssl.ts), revokes it through ACME, and
 * `openssl ocsp` asked at the gateway's front door, the URL in the certificate's AIA, says
 * `revoked` at once. The cfssl profile's ocsp_url names that front door, as connectors/cfssl/README.md
 * asks of an operator; the answer is signed by cfssl's OCSP responder (ocspsign).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { CFSSL_PROFILES, startCfsslBackend, type CfsslBackend } from '../fakes/cfssl.js';
import { certbotRunner, requireCertbot, type CertbotRunner } from '../helpers/certbot.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/gateway-process.js';
import { OPENSSL, certFacts, opensslVerify, requireOpenssl, runTool, sharedFixture } from './support.js';

const CERTBOT_TIMEOUT_MS = 85_000;
const TEST_TIMEOUT_MS = 120_000;
const PROFILE = 'cfssl';

let dns: Challtestsrv;
let cfssl: CfsslBackend;
let gw: TestGateway;
let work: string;
let http01Port: number;
let ocspUrl: string;
let certbot: CertbotRunner;
const gatewayLog: string[] = [];
const logTail = (lines = 30) => gatewayLog.slice(-lines).join('');

const ready = sharedFixture(async () => {
  await requireCertbot();
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-cfssl-certbot-'));
  // The gateway's port first: cfssl's signing profile names the front door in every leaf's AIA.
  const port = await freePort();
  ocspUrl = `https://localhost:${port}/ocsp/cfssl`;
  cfssl = await startCfsslBackend({ ocspUrl });
  http01Port = await freePort();
  gw = await startTestGateway(
    {
      server: { listen: `127.0.0.1:${port}` },
      validation: { dnsResolver: dns.dnsAddress, http01Port, retryAfterSeconds: 1 },
      connectors: {
        cfssl: { type: 'cfssl', url: cfssl.url, authKeyFile: cfssl.files.authKey, certdb: cfssl.files.certdb, timeoutMs: 10_000 },
      },
      profiles: { [PROFILE]: { connector: 'cfssl', template: CFSSL_PROFILES.authenticated, challenges: ['http-01'] } },
      defaultProfile: PROFILE,
    },
    { log: createLogger('info', { write: (line: string) => void gatewayLog.push(line) }) },
  );
  expect(gw.baseUrl).toBe(`https://localhost:${port}`);
  certbot = certbotRunner({ dir: path.join(work, 'certbot'), server: gw.directory(PROFILE), caBundlePath: gw.caBundlePath, timeoutMs: CERTBOT_TIMEOUT_MS, logs: logTail });
});

afterAll(async () => {
  await gw?.stop();
  await cfssl?.stop();
  await dns?.stop();
  if (work && !process.env.KEEP_E2E) await rm(work, { recursive: true, force: true });
});

/** `openssl ocsp` at the URL the leaf names, trusting only cfssl's CA; TLS to the gateway trusts its bundle. */
async function askOcsp(leafPath: string): Promise<string> {
  const leaf = new X509Certificate(await readFile(leafPath, 'utf8'));
  const aia = /OCSP - URI:(\S+)/.exec(leaf.infoAccess ?? '')?.[1];
  expect(aia, 'the leaf names the gateway\'s OCSP route in its AIA').toBe(ocspUrl);
  const run = await runTool(OPENSSL, ['ocsp', '-issuer', cfssl.files.caCert, '-cert', leafPath, '-url', aia ?? '', '-CAfile', cfssl.files.caCert, '-no_nonce', '-timeout', '10'], {
    env: { ...process.env, SSL_CERT_FILE: gw.caBundlePath },
    timeoutMs: 20_000,
  });
  const text = `${run.stdout}\n${run.stderr}`;
  expect(run.code, `openssl ocsp:\n${text}\n--- gateway log\n${logTail()}`).toBe(0);
  expect(text).toContain('Response verify OK');
  return text;
}

describe('certbot through the gateway to cfssl, and OCSP at the front door', { timeout: TEST_TIMEOUT_MS }, () => {
  it('gets a certificate from cfssl, revokes it through ACME, and openssl ocsp at the AIA URL says revoked', async () => {
    await ready();
    await certbot.run([
      'certonly', '--standalone',
      '--http-01-port', String(http01Port), '--http-01-address', '127.0.0.1',
      '--issuance-timeout', '60',
      '--cert-name', 'web', '-d', 'web.example.test', '-d', 'www.web.example.test',
    ]);
    const certPath = certbot.live('web', 'cert.pem');
    const caPath = path.join(work, 'cfssl-ca.pem');
    await writeFile(caPath, cfssl.caPem);
    await opensslVerify(caPath, certbot.live('web', 'chain.pem'), certPath);
    const facts = certFacts(await readFile(certPath, 'utf8'));
    expect(facts.dnsNames).toEqual(['web.example.test', 'www.web.example.test']);
    expect(facts.issuer).toContain('CN=cfssl Test Root CA');

    expect(await askOcsp(certPath)).toMatch(/cert\.pem: good/);

    await certbot.run(['revoke', '--cert-path', certPath, '--reason', 'keycompromise', '--no-delete-after-revoke']);
    const after = await askOcsp(certPath); // no refresh, dump or restart: answered from cfssl's certdb now
    expect(after).toMatch(/cert\.pem: revoked/);
    expect(after).toContain('Reason: keyCompromise');
    expect(cfssl.protocolErrors()).toEqual([]);
  });
});
