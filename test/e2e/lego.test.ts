/**
 * lego (Debian's 4.x) against the built gateway on loopback: http-01, dns-01 with a wildcard
 * through the exec provider writing pebble-challtestsrv records, tls-alpn-01, renewal, revocation,
 * and an account bound with EAB keys from `acme-gateway eab create`. lego trusts only the printed
 * CA bundle and asks only challtestsrv for DNS.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { requireBinary, runGatewayCli, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { CURL, certFacts, fetchCrl, firstPem, opensslVerify, requireOpenssl, runOk, runTool, writeScript, sharedFixture } from './support.js';

const LEGO = '/usr/bin/lego';
const CLIENT_TIMEOUT_MS = 90_000;

let dns: Challtestsrv;
let gw: GatewayProcess;
let work: string;
let env: NodeJS.ProcessEnv;
const serials = new Map<string, string>();

const ready = sharedFixture(async () => {
  await requireBinary(LEGO, 'lego');
  await requireBinary(CURL, 'curl');
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  gw = await startGatewayProcess({
    dnsResolver: dns.dnsAddress,
    // Retry-After 1 s on a challenge being validated: lego's polling starts from it.
    config: { validation: { retryAfterSeconds: 1 }, profiles: { default: {}, partners: { eab: { required: true } } } },
  });
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-lego-'));
  env = { ...process.env, LEGO_CA_CERTIFICATES: gw.caBundlePath, NO_PROXY: '*', no_proxy: '*' };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'LEGO_PATH']) delete env[k];
});

afterAll(async () => {
  await gw?.stop();
  await dns?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface LegoRun {
  domains: string[];
  /** Challenge flags (`--http ...`); global options go before the command. */
  challenge: string[];
  command: string[];
  directoryUrl?: string;
  legoPath?: string;
  extraGlobal?: string[];
  extraEnv?: NodeJS.ProcessEnv;
}

function legoArgs(o: LegoRun): string[] {
  return [
    '--server', o.directoryUrl ?? gw.directoryUrl,
    '--accept-tos',
    '--email', 'test@example.org',
    '--path', o.legoPath ?? path.join(work, 'lego'),
    ...o.domains.flatMap((d) => ['--domains', d]),
    ...o.challenge,
    ...(o.extraGlobal ?? []),
    ...o.command,
  ];
}

function lego(o: LegoRun): Promise<unknown> {
  return runOk(LEGO, legoArgs(o), { env: { ...env, ...o.extraEnv }, timeoutMs: CLIENT_TIMEOUT_MS - 5_000, logs: () => gw.logTail(30) });
}

const http01 = () => ['--http', '--http.port', `127.0.0.1:${gw.http01Port}`];

/** lego stores `<domain>.crt` (leaf + issuer) and `<domain>.issuer.crt`; a wildcard's `*` becomes `_`. */
async function checkCertificate(firstDomain: string, expectedNames: string[], legoPath = path.join(work, 'lego')) {
  const base = path.join(legoPath, 'certificates', firstDomain.replace('*', '_'));
  const bundle = await readFile(`${base}.crt`, 'utf8');
  const leafPath = `${base}.leaf.pem`;
  await writeFile(leafPath, firstPem(bundle));
  await opensslVerify(gw.caBundlePath, `${base}.issuer.crt`, leafPath);
  const facts = certFacts(bundle);
  expect(facts.dnsNames).toEqual([...expectedNames].sort());
  return facts;
}

describe('lego against the built gateway', { timeout: CLIENT_TIMEOUT_MS }, () => {
  it('gets a certificate for two names through http-01 with its own server', async () => {
    await ready();
    const names = ['l1.example.test', 'l2.example.test'];
    await lego({ domains: names, challenge: http01(), command: ['run'] });
    serials.set('http', (await checkCertificate('l1.example.test', names)).serial);
  });

  it('gets a wildcard certificate through dns-01 with the exec provider, asking only challtestsrv', async () => {
    await ready();
    // lego's exec provider runs `EXEC_PATH present|cleanup <fqdn> <value>`; fqdn ends in a dot.
    const curl = `${CURL} -sS --fail --noproxy '*'`;
    const script = await writeScript(
      path.join(work, 'lego-exec.sh'),
      [
        'case "$1" in',
        `  present) ${curl} -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" ${dns.managementUrl}/set-txt ;;`,
        `  cleanup) ${curl} -d "{\\"host\\":\\"$2\\"}" ${dns.managementUrl}/clear-txt ;;`,
        '  *) echo "unknown action $1" >&2; exit 2 ;;',
        'esac',
      ].join('\n'),
    );
    const names = ['*.lw.example.test', 'lw.example.test'];
    await lego({
      domains: names,
      // --dns.resolvers: lego's own lookups go to challtestsrv; --dns.disable-cp: no queries to
      // the "authoritative" servers, which would go through the system resolver.
      challenge: ['--dns', 'exec', '--dns.resolvers', dns.dnsAddress, '--dns.disable-cp'],
      command: ['run'],
      // Both authorizations use the same TXT name, so lego solves them in sequence; its default
      // pause between them is 60 s.
      extraEnv: { EXEC_PATH: script, EXEC_PROPAGATION_TIMEOUT: '30', EXEC_POLLING_INTERVAL: '1', EXEC_SEQUENCE_INTERVAL: '1' },
    });
    serials.set('dns', (await checkCertificate('*.lw.example.test', names)).serial);
  });

  it('gets a certificate through tls-alpn-01 with its own TLS server', async () => {
    await ready();
    await lego({ domains: ['t.example.test'], challenge: ['--tls', '--tls.port', `127.0.0.1:${gw.tlsAlpn01Port}`], command: ['run'] });
    await checkCertificate('t.example.test', ['t.example.test']);
  });

  it('renews with --days 999 and gets a new certificate', async () => {
    await ready();
    const before = serials.get('http');
    expect(before, 'the http-01 test issued l1.example.test').toBeDefined();
    const names = ['l1.example.test', 'l2.example.test'];
    await lego({ domains: names, challenge: http01(), command: ['renew', '--days', '999', '--no-random-sleep'] });
    const facts = await checkCertificate('l1.example.test', names);
    expect(facts.serial).not.toBe(before);
    serials.set('http', facts.serial);
  });

  it('revokes a certificate and the CRL lists its serial', async () => {
    await ready();
    const serial = serials.get('http');
    expect(serial).toBeDefined();
    await lego({ domains: ['l1.example.test'], challenge: [], command: ['revoke', '--keep'] });
    const entry = (await fetchCrl(gw.baseUrl, gw.caPem)).find((e) => e.serial === serial);
    expect(entry, `serial ${serial} on the CRL`).toBeDefined();
  });

  it('revokes with reason keyCompromise and the CRL carries the reason', async () => {
    await ready();
    const serial = serials.get('dns');
    expect(serial).toBeDefined();
    await lego({ domains: ['*.lw.example.test'], challenge: [], command: ['revoke', '--keep', '--reason', '1'] });
    const entry = (await fetchCrl(gw.baseUrl, gw.caPem)).find((e) => e.serial === serial);
    expect(entry?.reason, `serial ${serial} on the CRL`).toBe('Key Compromise');
  });

  it('registers with EAB keys from `acme-gateway eab create` on a profile that requires them', async () => {
    await ready();
    const legoPath = path.join(work, 'lego-eab');
    const directoryUrl = gw.directory('partners');
    const names = ['e.example.test'];

    // RFC 8555 §7.1.1: the directory says so in meta.externalAccountRequired, and lego, reading
    // it, refuses to register without a binding.
    const dispatcher = new Agent({ connect: { ca: gw.caPem } });
    const directory = (await (await fetch(directoryUrl, { dispatcher })).json()) as { meta?: Record<string, unknown> };
    await dispatcher.close();
    expect(directory.meta?.externalAccountRequired).toBe(true);
    const refused = await runTool(LEGO, legoArgs({ domains: names, challenge: http01(), command: ['run'], directoryUrl, legoPath }), { env, timeoutMs: 60_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('requires External Account Binding');

    const created = await runGatewayCli(['eab', 'create', '--profile', 'partners', '--data-dir', gw.dataDir, '--config', gw.configPath ?? '']);
    expect(created.code, created.stderr).toBe(0);
    const kid = /^kid: (\S+)$/m.exec(created.stdout)?.[1];
    const hmac = /^hmac: (\S+)$/m.exec(created.stdout)?.[1];
    expect(kid && hmac, created.stdout).toBeTruthy();

    await lego({ domains: names, challenge: http01(), command: ['run'], directoryUrl, legoPath, extraGlobal: ['--eab', '--kid', kid ?? '', '--hmac', hmac ?? ''] });
    await checkCertificate('e.example.test', names, legoPath);
  });

  it('logged nothing at level error while serving the client', async () => {
    await ready();
    // style.md: "error: someone must act". A real client's ordinary run must not need anyone.
    const errors = gw.stderr().split('\n').filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
  });
});
