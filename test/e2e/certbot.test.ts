/**
 * certbot (Debian's 2.x) against the built gateway on loopback: http-01 with certbot's standalone
 * server, dns-01 with a wildcard through manual hooks that write pebble-challtestsrv records,
 * renewal and revocation. certbot trusts only the CA bundle the gateway printed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { certbotRunner, requireCertbot, type CertbotRunner } from '../helpers/certbot.js';
import { freePort, requireBinary, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { CURL, certFacts, fetchCrl, opensslVerify, requireOpenssl, writeScript, sharedFixture } from './support.js';

const CLIENT_TIMEOUT_MS = 90_000;

let dns: Challtestsrv;
let gw: GatewayProcess;
let work: string;
let certbot: CertbotRunner;
const issuedSerials = new Map<string, string>();

const ready = sharedFixture(async () => {
  await requireCertbot();
  await requireBinary(CURL, 'curl');
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  // Retry-After 1 s on a challenge being validated: certbot polls no sooner than it says.
  gw = await startGatewayProcess({ dnsResolver: dns.dnsAddress, http01Port: await freePort(), config: { validation: { retryAfterSeconds: 1 } } });
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-certbot-'));
  // Only the printed bundle is trusted; nothing goes through a proxy.
  certbot = certbotRunner({ dir: work, server: gw.directoryUrl, caBundlePath: gw.caBundlePath, timeoutMs: CLIENT_TIMEOUT_MS - 5_000, logs: () => gw.logTail(30) });
});

afterAll(async () => {
  await gw?.stop();
  await dns?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const live = (name: string, file: string) => certbot.live(name, file);

/** Checks certbot's lineage with openssl against the CA bundle, and returns the leaf's facts. */
async function checkLineage(name: string, expectedNames: string[]) {
  await opensslVerify(gw.caBundlePath, live(name, 'chain.pem'), live(name, 'cert.pem'));
  const facts = certFacts(await readFile(live(name, 'cert.pem'), 'utf8'));
  expect(facts.dnsNames).toEqual([...expectedNames].sort());
  return facts;
}

describe('certbot against the built gateway', { timeout: CLIENT_TIMEOUT_MS }, () => {
  it('gets a certificate for two names through http-01 with its standalone server', async () => {
    await ready();
    await certbot.run([
      'certonly', '--standalone',
      '--http-01-port', String(gw.http01Port), '--http-01-address', '127.0.0.1',
      '--cert-name', 'web', '-d', 'a.example.test', '-d', 'b.example.test',
    ]);
    const facts = await checkLineage('web', ['a.example.test', 'b.example.test']);
    issuedSerials.set('web', facts.serial);
  });

  it('gets a wildcard certificate through dns-01 with manual hooks writing challtestsrv TXT records', async () => {
    await ready();
    const curl = `${CURL} -sS --fail --noproxy '*'`;
    const auth = await writeScript(
      path.join(work, 'auth-hook.sh'),
      `${curl} -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" ${dns.managementUrl}/set-txt`,
    );
    const cleanup = await writeScript(
      path.join(work, 'cleanup-hook.sh'),
      `${curl} -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\"}" ${dns.managementUrl}/clear-txt`,
    );

    await certbot.run([
      'certonly', '--manual', '--preferred-challenges', 'dns',
      '--manual-auth-hook', auth, '--manual-cleanup-hook', cleanup,
      '--cert-name', 'wild', '-d', '*.w.example.test', '-d', 'w.example.test',
    ]);
    const facts = await checkLineage('wild', ['*.w.example.test', 'w.example.test']);
    issuedSerials.set('wild', facts.serial);
  });

  it('renews a lineage with --force-renewal and gets a new certificate', async () => {
    await ready();
    const before = issuedSerials.get('web');
    expect(before, 'the http-01 test issued "web"').toBeDefined();
    await certbot.run(['renew', '--cert-name', 'web', '--force-renewal', '--no-random-sleep-on-renew']);
    const facts = await checkLineage('web', ['a.example.test', 'b.example.test']);
    expect(facts.serial).not.toBe(before);
    issuedSerials.set('web', facts.serial);
  });

  it('revokes with reason keyCompromise, signed by the account key, and the CRL lists it', async () => {
    await ready();
    const serial = issuedSerials.get('web');
    expect(serial).toBeDefined();
    await certbot.run(['revoke', '--cert-path', live('web', 'cert.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    const entry = (await fetchCrl(gw.baseUrl, gw.caPem)).find((e) => e.serial === serial);
    expect(entry, `serial ${serial} on the CRL`).toBeDefined();
    expect(entry?.reason).toBe('Key Compromise');
  });

  it('revokes with the default reason, signed by the certificate key, and the CRL lists it', async () => {
    await ready();
    const serial = issuedSerials.get('wild');
    expect(serial).toBeDefined();
    await certbot.run(['revoke', '--cert-path', live('wild', 'cert.pem'), '--key-path', live('wild', 'privkey.pem'), '--no-delete-after-revoke']);
    const entry = (await fetchCrl(gw.baseUrl, gw.caPem)).find((e) => e.serial === serial);
    expect(entry, `serial ${serial} on the CRL`).toBeDefined();
    // RFC 5280 §5.3.1: "unspecified (0)" SHOULD be expressed by leaving the reason code out.
    expect(entry?.reason === undefined || entry.reason === 'Unspecified', `reason ${entry?.reason}`).toBe(true);
  });

  it('logged nothing at level error while serving the client', async () => {
    await ready();
    // style.md: "error: someone must act". A real client's ordinary run must not need anyone.
    const errors = gw.stderr().split('\n').filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
  });
});
