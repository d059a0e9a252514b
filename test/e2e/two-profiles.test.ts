/**
 * Issue #5, "Done when": one built gateway process, two differently configured ACME profiles, real
 * clients against each and against the other's refusal.
 *
 *   web:   http-01 and tls-alpn-01, 90-day certificates, RSA 2048 or EC P-256 keys: certbot.
 *   short: dns-01 only, 2 days by default (7 at most), EC P-256 keys only, and a certificate
 *          profile `daily` (draft-ietf-acme-profiles): lego with the exec DNS provider writing
 *          pebble-challtestsrv records.
 *
 * Debian's lego 4.9.1 has no `--profile` flag (and certbot 2.1 none either), so the certificate
 * profile is chosen with the npm acme-client, whose createOrder sends the payload as given.
 * Lifetimes and key types of what the clients stored are read with openssl.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as acme from 'acme-client';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { certbotRunner, requireCertbot, type CertbotRunner } from '../helpers/certbot.js';
import { requireBinary, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { CURL, OPENSSL, firstPem, opensslVerify, requireOpenssl, restPems, runOk, runTool, sharedFixture, writeScript } from './support.js';

const LEGO = '/usr/bin/lego';
const CLIENT_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 90_000;
const DAY_MS = 86_400_000;

let dns: Challtestsrv;
let gw: GatewayProcess;
let work: string;
let certbot: CertbotRunner;
let legoEnv: NodeJS.ProcessEnv;
let execScript: string;

const ready = sharedFixture(async () => {
  await requireCertbot();
  await requireBinary(LEGO, 'lego');
  await requireBinary(CURL, 'curl');
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  gw = await startGatewayProcess({
    dnsResolver: dns.dnsAddress,
    config: {
      // Retry-After 1 s on a challenge being validated: the clients poll no sooner than it says.
      validation: { retryAfterSeconds: 1 },
      profiles: {
        web: {
          description: 'Web servers',
          challenges: ['http-01', 'tls-alpn-01'],
          validity: { default: '90d', min: '1d', max: '90d' },
          csrKeyTypes: ['rsa-2048', 'ec-p256'],
        },
        short: {
          description: 'Short-lived certificates',
          challenges: ['dns-01'],
          validity: { default: '2d', min: '1h', max: '7d' },
          csrKeyTypes: ['ec-p256'],
          certificateProfiles: { daily: { description: 'One-day certificates', template: 'server', validity: { default: '1d', min: '1h', max: '1d' } } },
        },
      },
      defaultProfile: 'web',
    },
  });
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-two-profiles-'));
  certbot = certbotRunner({ dir: path.join(work, 'certbot'), server: gw.directory('web'), caBundlePath: gw.caBundlePath, timeoutMs: CLIENT_TIMEOUT_MS, logs: () => gw.logTail(30) });
  legoEnv = { ...process.env, LEGO_CA_CERTIFICATES: gw.caBundlePath, NO_PROXY: '*', no_proxy: '*' };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'LEGO_PATH']) delete legoEnv[k];
  // lego's exec provider runs `EXEC_PATH present|cleanup <fqdn> <value>`; the fqdn ends in a dot.
  const curl = `${CURL} -sS --fail --noproxy '*'`;
  execScript = await writeScript(
    path.join(work, 'lego-exec.sh'),
    [
      'case "$1" in',
      `  present) ${curl} -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" ${dns.managementUrl}/set-txt ;;`,
      `  cleanup) ${curl} -d "{\\"host\\":\\"$2\\"}" ${dns.managementUrl}/clear-txt ;;`,
      '  *) echo "unknown action $1" >&2; exit 2 ;;',
      'esac',
    ].join('\n'),
  );
});

afterAll(async () => {
  await gw?.stop();
  await dns?.stop();
  if (work && !process.env.KEEP_E2E) await rm(work, { recursive: true, force: true });
});

interface OpensslFacts {
  /** "rsa-2048", "ec-prime256v1". */
  keyType: string;
  lifetimeMs: number;
  dnsNames: string[];
}

/** What openssl reads from a PEM certificate file: key type and size, lifetime, DNS names. */
async function opensslFacts(certPath: string): Promise<OpensslFacts> {
  const text = (await runOk(OPENSSL, ['x509', '-in', certPath, '-noout', '-text'], { timeoutMs: 10_000 })).stdout;
  const dates = (await runOk(OPENSSL, ['x509', '-in', certPath, '-noout', '-startdate', '-enddate'], { timeoutMs: 10_000 })).stdout;
  const notBefore = Date.parse(/notBefore=(.+)/.exec(dates)?.[1] ?? '');
  const notAfter = Date.parse(/notAfter=(.+)/.exec(dates)?.[1] ?? '');
  const algorithm = /Public Key Algorithm: (\S+)/.exec(text)?.[1];
  const keyType =
    algorithm === 'rsaEncryption' ? `rsa-${/Public-Key: \((\d+) bit\)/.exec(text)?.[1]}` : algorithm === 'id-ecPublicKey' ? `ec-${/ASN1 OID: (\S+)/.exec(text)?.[1]}` : `${algorithm}`;
  const san = /X509v3 Subject Alternative Name:[^\n]*\n\s*(.+)/.exec(text)?.[1] ?? '';
  const dnsNames = san.split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)).sort();
  return { keyType, lifetimeMs: notAfter - notBefore, dnsNames };
}

// ---------------------------------------------------------------- certbot

function certonly(name: string, domains: string[], extra: string[] = []): string[] {
  return [
    'certonly', '--standalone',
    '--http-01-port', String(gw.http01Port), '--http-01-address', '127.0.0.1',
    '--issuance-timeout', '45',
    '--cert-name', name,
    ...domains.flatMap((d) => ['-d', d]),
    ...extra,
  ];
}

async function certbotLineage(runner: CertbotRunner, name: string): Promise<OpensslFacts> {
  await opensslVerify(gw.caBundlePath, runner.live(name, 'chain.pem'), runner.live(name, 'cert.pem'));
  return opensslFacts(runner.live(name, 'cert.pem'));
}

// ---------------------------------------------------------------- lego

interface LegoRun {
  profile: string;
  domains: string[];
  challenge: string[];
  keyType: string;
  legoPath: string;
}

function legoArgs(o: LegoRun): string[] {
  return [
    '--server', gw.directory(o.profile),
    '--accept-tos',
    '--email', 'test@example.org',
    '--path', o.legoPath,
    '--key-type', o.keyType,
    ...o.domains.flatMap((d) => ['--domains', d]),
    ...o.challenge,
    'run',
  ];
}

// --dns.resolvers: lego's own lookups go to challtestsrv; --dns.disable-cp: no queries to the
// "authoritative" servers through the system resolver.
const dns01 = () => ['--dns', 'exec', '--dns.resolvers', dns.dnsAddress, '--dns.disable-cp'];
const legoExecEnv = () => ({ ...legoEnv, EXEC_PATH: execScript, EXEC_PROPAGATION_TIMEOUT: '30', EXEC_POLLING_INTERVAL: '1', EXEC_SEQUENCE_INTERVAL: '1' });

/** lego stores `<domain>.crt` (leaf + issuer) and `<domain>.issuer.crt`. */
async function legoCertificate(legoPath: string, domain: string): Promise<OpensslFacts> {
  const base = path.join(legoPath, 'certificates', domain);
  const leafPath = `${base}.leaf.pem`;
  await writeFile(leafPath, firstPem(await readFile(`${base}.crt`, 'utf8')));
  await opensslVerify(gw.caBundlePath, `${base}.issuer.crt`, leafPath);
  return opensslFacts(leafPath);
}

async function directoryOf(profile: string): Promise<{ meta: Record<string, unknown> }> {
  const dispatcher = new Agent({ connect: { ca: gw.caPem } });
  try {
    const res = await fetch(gw.directory(profile), { dispatcher, signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    return (await res.json()) as { meta: Record<string, unknown> };
  } finally {
    await dispatcher.close();
  }
}

describe('two differently configured profiles on one gateway process', { timeout: TEST_TIMEOUT_MS }, () => {
  it('serves each profile\'s own directory', async () => {
    await ready();
    const web = await directoryOf('web');
    const short = await directoryOf('short');
    expect(web.meta).toMatchObject({ description: 'Web servers' });
    expect(web.meta).not.toHaveProperty('profiles');
    expect(short.meta).toMatchObject({ description: 'Short-lived certificates', profiles: { daily: 'One-day certificates' } });
  });

  it('web: certbot gets a 90-day RSA 2048 certificate through http-01', async () => {
    await ready();
    await certbot.run(certonly('web-rsa', ['rsa.web.example.test'], ['--key-type', 'rsa', '--rsa-key-size', '2048']));
    const facts = await certbotLineage(certbot, 'web-rsa');
    expect(facts).toMatchObject({ keyType: 'rsa-2048', lifetimeMs: 90 * DAY_MS, dnsNames: ['rsa.web.example.test'] });
  });

  it('web: certbot gets a 90-day EC P-256 certificate through http-01', async () => {
    await ready();
    await certbot.run(certonly('web-ec', ['ec.web.example.test'], ['--key-type', 'ecdsa', '--elliptic-curve', 'secp256r1']));
    const facts = await certbotLineage(certbot, 'web-ec');
    expect(facts).toMatchObject({ keyType: 'ec-prime256v1', lifetimeMs: 90 * DAY_MS, dnsNames: ['ec.web.example.test'] });
  });

  it('short: lego gets a 2-day EC P-256 certificate for a wildcard through dns-01', async () => {
    await ready();
    const legoPath = path.join(work, 'lego-short');
    const run = { profile: 'short', domains: ['*.short.example.test'], challenge: dns01(), keyType: 'ec256', legoPath };
    await runOk(LEGO, legoArgs(run), { env: legoExecEnv(), timeoutMs: CLIENT_TIMEOUT_MS, logs: () => gw.logTail(30) });
    const facts = await legoCertificate(legoPath, '_.short.example.test');
    expect(facts).toMatchObject({ keyType: 'ec-prime256v1', lifetimeMs: 2 * DAY_MS, dnsNames: ['*.short.example.test'] });
  });

  it('short: the certificate profile "daily" gives a 1-day certificate (acme-client: lego 4.9.1 has no --profile)', async () => {
    await ready();
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: gw.caPem });
    acme.axios.defaults.proxy = false;
    const client = new acme.Client({ directoryUrl: gw.directory('short'), accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffAttempts: 60, backoffMin: 100, backoffMax: 500 });
    await client.createAccount({ termsOfServiceAgreed: true });
    const name = 'daily.short.example.test';
    // draft-ietf-acme-profiles-01 §4: newOrder names the profile; the order shows it.
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: name }], profile: 'daily' } as Parameters<acme.Client['createOrder']>[0]);
    expect((order as acme.Order & { profile?: string }).profile).toBe('daily');
    for (const authz of await client.getAuthorizations(order)) {
      const challenge = authz.challenges.find((c) => c.type === 'dns-01');
      expect(authz.challenges.map((c) => c.type)).toEqual(['dns-01']);
      if (!challenge) throw new Error('no dns-01 challenge');
      await dns.addTxt(`_acme-challenge.${authz.identifier.value}`, await client.getChallengeKeyAuthorization(challenge));
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    }
    const [key, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    expect(key.length).toBeGreaterThan(0);
    const finalized = await client.finalizeOrder(await client.getOrder(order), csr);
    const pem = await client.getCertificate(await client.waitForValidStatus(finalized));
    const leafPath = path.join(work, 'daily.pem');
    const chainPath = path.join(work, 'daily-chain.pem');
    await writeFile(leafPath, firstPem(pem));
    await writeFile(chainPath, restPems(pem));
    await opensslVerify(gw.caBundlePath, chainPath, leafPath);
    expect(await opensslFacts(leafPath)).toMatchObject({ keyType: 'ec-prime256v1', lifetimeMs: DAY_MS, dnsNames: [name] });
  });

  it('short refuses certbot asking for http-01: certbot fails cleanly, saying no challenge it can do is offered', async () => {
    await ready();
    const runner = certbotRunner({ dir: path.join(work, 'certbot-short'), server: gw.directory('short'), caBundlePath: gw.caBundlePath, timeoutMs: CLIENT_TIMEOUT_MS });
    const run = await runner.attempt(certonly('short-http', ['http.short.example.test']));
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(1);
    const shown = `${run.stdout}\n${run.stderr}`;
    expect(shown).toContain('does not support any combination of challenges');
    expect(shown).not.toMatch(/Traceback/);
    // The gateway offered dns-01 alone.
    const log = await runner.log();
    expect(log).toMatch(/"identifier":\{"type":"dns","value":"http\.short\.example\.test"\},"status":"pending","expires":"[^"]+","challenges":\[\{"type":"dns-01"[^\]]*\]/);
    expect(log).not.toContain('"type":"http-01"');
  });

  it('short refuses lego with an RSA key at finalize with badCSR naming the accepted key types', async () => {
    await ready();
    const run = { profile: 'short', domains: ['rsa.short.example.test'], challenge: dns01(), keyType: 'rsa2048', legoPath: path.join(work, 'lego-short-rsa') };
    const r = await runTool(LEGO, legoArgs(run), { env: legoExecEnv(), timeoutMs: CLIENT_TIMEOUT_MS });
    expect(r.code, `${r.stdout}\n${r.stderr}`).not.toBe(0);
    const shown = `${r.stdout}\n${r.stderr}`;
    expect(shown).toContain('urn:ietf:params:acme:error:badCSR');
    expect(shown).toContain('key type rsa-2048 is not allowed by this profile (allowed: ec-p256)');
  });

  it('web refuses lego asking for dns-01: lego fails cleanly, finding no solver for what is offered', async () => {
    await ready();
    const run = { profile: 'web', domains: ['dns.web.example.test'], challenge: dns01(), keyType: 'ec256', legoPath: path.join(work, 'lego-web-dns') };
    const r = await runTool(LEGO, legoArgs(run), { env: legoExecEnv(), timeoutMs: CLIENT_TIMEOUT_MS });
    expect(r.code, `${r.stdout}\n${r.stderr}`).not.toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).toContain('could not determine solvers');
  });

  it('logged nothing at level error while refusing', async () => {
    await ready();
    const errors = gw.stderr().split('\n').filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
  });
});
