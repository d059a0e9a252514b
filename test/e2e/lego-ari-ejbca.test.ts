/**
 * Issue #5: "an ARI renewal after a revocation in the EJBCA double moves the window and lego renews".
 *
 * Debian's lego is 4.9.1, which has no ARI support of its own (no `--ari-enable`, no `replaces` in
 * newOrder): `lego renew --days N` renews only when the certificate has at most N days left
 * (default 30), revoked or not. So this test is the ARI-aware renewal scheduler that operators wrap
 * around such a client: it reads RFC 9773 renewalInfo for lego's certificate and, once the
 * suggested window has opened, runs `lego renew` with `--days` above the days left so that lego
 * renews now. lego itself never sees renewalInfo, and its new order carries no `replaces`.
 *
 * What it shows, with one in-process gateway (profile on the `ejbca-ws` connector, revocation poller
 * every second) and one EJBCA web-service double, all on 127.0.0.1 with ports picked here (DNS from
 * pebble-challtestsrv, which answers 127.0.0.1 for every name; lego trusts only the gateway's CA
 * bundle):
 *   1. lego `run` gets a certificate through http-01; it chains to the double's root; its
 *      renewalInfo window lies in the future and the answer carries Retry-After.
 *   2. An RA officer revokes it in the double (its control, not ACME). With no ACME request from
 *      anyone meanwhile, the gateway records the revocation: only its status poller can have asked
 *      the double (the double answered checkRevokationStatus "revoked" for that serial before the
 *      scheduler's next renewalInfo, and the poller's metric counted it). renewalInfo then answers a
 *      window in the past, from the record: the double is not asked about the serial again.
 *   3. lego alone (`renew`, default --days 30) does not renew the revoked certificate. The
 *      scheduler, seeing the window open, renews at once: `lego renew --days <days left + 1>` gets
 *      a new certificate (another serial, same name) that chains to the double's root, and its
 *      window is in the future again.
 *   4. The double saw no wire-format errors and the gateway logged nothing at level error.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { startEjbcaDouble, type EjbcaDouble } from '../fakes/ejbca-ws/server.js';
import { certIdOf } from '../helpers/cert-id.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort, requireBinary } from '../helpers/gateway-process.js';
import { certFacts, firstPem, opensslVerify, requireOpenssl, runOk, sharedFixture, type CertFacts, type ToolRun } from './support.js';
import { ejbcaConnectorSection } from '../helpers/ejbca-connector.js';

const LEGO = '/usr/bin/lego';
const LEGO_TIMEOUT_MS = 40_000;
const TEST_TIMEOUT_MS = 60_000;
/** How long the poller (every second) gets to learn the officer's revocation. */
const LEARN_WITHIN_MS = 15_000;
const PROFILE = 'ejbca';
const NAME = 'ari.lego.example.test';
const DAY_MS = 86_400_000;
/** The officer's reason: keyCompromise. */
const OFFICER_REASON = 1;

interface RenewalInfo {
  status: number;
  retryAfter: string | null;
  start: number;
  end: number;
  body: unknown;
}

interface StatusCall {
  at: number;
  serial: string;
  reason: number | undefined;
}

let dns: Challtestsrv;
let ejbca: EjbcaDouble;
let gw: TestGateway;
let dispatcher: Agent;
let work: string;
let http01Port: number;
let env: NodeJS.ProcessEnv;
/** The double's root CA: the only trust anchor openssl gets for issued certificates. */
let doubleRootPath: string;
const gatewayLog: string[] = [];
/** Every checkRevokationStatus the double answered, as the double's state saw it. */
const statusCalls: StatusCall[] = [];
let first: { facts: CertFacts; certId: string } | undefined;

const normalize = (serial: string) => serial.toLowerCase().replace(/^0+(?=.)/, '');

const ready = sharedFixture(async () => {
  await requireBinary(LEGO, 'lego');
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  ejbca = await startEjbcaDouble();
  const answer = ejbca.state.revocationStatus.bind(ejbca.state);
  vi.spyOn(ejbca.state, 'revocationStatus').mockImplementation((issuerDn, serialHex) => {
    const status = answer(issuerDn, serialHex);
    statusCalls.push({ at: Date.now(), serial: normalize(serialHex), reason: status?.reason });
    return status;
  });
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-lego-ari-ejbca-'));
  const file = async (name: string, text: string) => {
    const p = path.join(work, name);
    await writeFile(p, text, { mode: 0o600 });
    return p;
  };
  doubleRootPath = await file('double-root.pem', ejbca.ca.root.pem);
  http01Port = await freePort();
  gw = await startTestGateway(
    {
      // Retry-After 1 s on a challenge being validated: lego's polling starts from it.
      validation: { dnsResolver: dns.dnsAddress, http01Port, retryAfterSeconds: 1 },
      connectors: {
        ejbca: await ejbcaConnectorSection(ejbca, work),
      },
      profiles: { [PROFILE]: { connector: 'ejbca', template: 'SERVER', finalizeWait: '2s', challenges: ['http-01'] } },
      defaultProfile: PROFILE,
      background: { revocationPoll: { interval: '1s', concurrency: 2, timeout: '5s' } },
    },
    { log: createLogger('info', { write: (line: string) => void gatewayLog.push(line) }) },
  );
  dispatcher = new Agent({ connect: { ca: gw.caPem } });
  env = { ...process.env, LEGO_CA_CERTIFICATES: gw.caBundlePath, NO_PROXY: '*', no_proxy: '*' };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'LEGO_PATH']) delete env[k];
});

afterAll(async () => {
  vi.restoreAllMocks();
  await dispatcher?.close();
  await gw?.stop();
  await ejbca?.stop();
  await dns?.stop();
  if (work && !process.env.KEEP_E2E) await rm(work, { recursive: true, force: true });
});

const logTail = (lines = 30) => gatewayLog.slice(-lines).join('');

function lego(command: string[]): Promise<ToolRun> {
  const args = [
    '--server', gw.directory(PROFILE),
    '--accept-tos',
    '--email', 'test@example.org',
    '--path', path.join(work, 'lego'),
    '--domains', NAME,
    '--http', '--http.port', `127.0.0.1:${http01Port}`,
    ...command,
  ];
  return runOk(LEGO, args, { env, timeoutMs: LEGO_TIMEOUT_MS, logs: logTail });
}

/** lego's certificate (`<name>.crt` is leaf + issuer), verified against the double's root with the issuer lego stored. */
async function legoCertificate(): Promise<{ facts: CertFacts; certId: string }> {
  const base = path.join(work, 'lego', 'certificates', NAME);
  const leaf = firstPem(await readFile(`${base}.crt`, 'utf8'));
  const leafPath = `${base}.leaf.pem`;
  await writeFile(leafPath, leaf);
  await opensslVerify(doubleRootPath, `${base}.issuer.crt`, leafPath);
  const facts = certFacts(leaf);
  expect(facts.dnsNames).toEqual([NAME]);
  expect(facts.issuer).toContain('CN=Double Issuing CA');
  return { facts, certId: certIdOf(leaf) };
}

/** GET <directory.renewalInfo>/<certID>, as the scheduler asks it (a plain GET, §4.2). */
async function renewalInfo(certId: string): Promise<RenewalInfo> {
  const directory = (await (await fetch(gw.directory(PROFILE), { dispatcher, signal: AbortSignal.timeout(10_000) })).json()) as { renewalInfo?: string };
  expect(directory.renewalInfo, 'the directory lists renewalInfo').toMatch(/^https:\/\//);
  const res = await fetch(`${directory.renewalInfo}/${certId}`, { dispatcher, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { suggestedWindow?: { start?: string; end?: string } };
  expect(res.status, `renewalInfo ${certId}: ${JSON.stringify(body)}`).toBe(200);
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    start: Date.parse(body.suggestedWindow?.start ?? ''),
    end: Date.parse(body.suggestedWindow?.end ?? ''),
    body,
  };
}

/** The scheduler's rule: renew once the suggested window has opened. */
const windowOpen = (info: RenewalInfo, now = Date.now()) => info.start <= now;

async function pollMetric(name: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${gw.baseUrl}/metrics`, { dispatcher, signal: AbortSignal.timeout(10_000) })).text();
  return Number(new RegExp(`^${name}\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

describe('an ARI-aware scheduler around lego 4.9.1, the gateway on the EJBCA double', { timeout: TEST_TIMEOUT_MS }, () => {
  it('lego gets a certificate that chains to the double\'s CA, and its renewal window lies in the future', async () => {
    await ready();
    await lego(['run']);
    const issued = await legoCertificate();
    expect(ejbca.state.certificate(issued.facts.serial).serial, 'the double issued it').toBeDefined();

    const info = await renewalInfo(issued.certId);
    const now = Date.now();
    expect(info.start, JSON.stringify(info.body)).toBeGreaterThan(now);
    expect(info.end).toBeGreaterThan(info.start);
    expect(info.end).toBeLessThan(issued.facts.notAfter.getTime());
    expect(info.retryAfter).toMatch(/^[1-9]\d*$/);
    expect(windowOpen(info, now), 'the scheduler leaves it alone').toBe(false);
    first = issued;
  });

  it('the officer revokes it in the double; the poller learns it and renewalInfo moves the window into the past', async () => {
    await ready();
    expect(first, 'the first test issued the certificate').toBeDefined();
    const { facts, certId } = first!;
    const stored = () => gw.gateway.store.findCertificateBySerial(facts.serial);
    expect((await stored())?.revokedAt).toBeNull();
    const revokedBefore = await pollMetric('acme_gateway_revocation_poll_certificates_total', 'revoked');

    // The officer, in the EJBCA admin GUI. From here until the record shows up nobody sends the
    // gateway an ACME request (lego is not running, the scheduler waits): whatever records the
    // revocation asked the double on its own.
    const revokedAt = Date.now();
    ejbca.control.revoke(facts.serial, OFFICER_REASON);
    const deadline = revokedAt + LEARN_WITHIN_MS;
    let record = await stored();
    while (!(record?.revokedAt instanceof Date)) {
      if (Date.now() > deadline) throw new Error(`the gateway did not learn the revocation within ${LEARN_WITHIN_MS} ms\n--- gateway log\n${logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      record = await stored();
    }
    const learnedBy = Date.now();
    expect(record.revocationReason).toBe(OFFICER_REASON);
    // The double answered "revoked" for this serial in between: checkRevokationStatus, asked by the poller.
    const answered = statusCalls.filter((c) => c.serial === facts.serial && c.at >= revokedAt && c.reason === OFFICER_REASON);
    expect(answered.length, JSON.stringify(statusCalls.slice(-10))).toBeGreaterThanOrEqual(1);
    expect(answered[0]!.at).toBeLessThanOrEqual(learnedBy);
    expect(await pollMetric('acme_gateway_revocation_poll_certificates_total', 'revoked')).toBe(revokedBefore + 1);

    // The scheduler's next look: the window is in the past, answered from the record.
    const callsBefore = statusCalls.filter((c) => c.serial === facts.serial).length;
    const info = await renewalInfo(certId);
    const now = Date.now();
    expect(info.start, JSON.stringify(info.body)).toBeLessThan(now);
    expect(info.end).toBeLessThanOrEqual(now);
    expect(info.retryAfter).toMatch(/^[1-9]\d*$/);
    expect(statusCalls.filter((c) => c.serial === facts.serial).length, 'renewalInfo did not ask the double about a revoked certificate').toBe(callsBefore);
    expect(windowOpen(info, now), 'the scheduler renews now').toBe(true);
  });

  it('the scheduler runs lego renew with --days above the days left; lego gets a new certificate whose window is in the future', async () => {
    await ready();
    expect(first, 'the first test issued the certificate').toBeDefined();
    const old = first!.facts;
    // The scheduler's decision, made from renewalInfo alone: the window has opened, so renew now.
    expect(windowOpen(await renewalInfo(first!.certId)), 'the window of the revoked certificate is open').toBe(true);
    // lego on its own (default --days 30) knows nothing of the revocation or the window: no renewal.
    const alone = await lego(['renew', '--no-random-sleep']);
    expect(alone.stdout + alone.stderr).toContain('no renewal');
    expect((await legoCertificate()).facts.serial).toBe(old.serial);
    // lego 4.9.1 renews when the days left (rounded down) are at most --days.
    const daysLeft = Math.ceil((old.notAfter.getTime() - Date.now()) / DAY_MS);
    await lego(['renew', '--days', String(daysLeft + 1), '--no-random-sleep']);

    const renewed = await legoCertificate();
    expect(renewed.facts.serial).not.toBe(old.serial);
    expect(renewed.certId).not.toBe(first!.certId);
    expect(ejbca.state.certificate(renewed.facts.serial).serial, 'the double issued it').toBeDefined();
    const stored = await gw.gateway.store.findCertificateBySerial(renewed.facts.serial);
    expect(stored?.revokedAt).toBeNull();
    // An ordinary new order: lego 4.9.1 sends no `replaces`, so the old certificate is not marked replaced.
    expect((await gw.gateway.store.getOrder(stored!.orderId))?.policy?.replaces).toBeUndefined();
    expect((await gw.gateway.store.findCertificateBySerial(old.serial))?.replacedBy).toBeNull();

    const info = await renewalInfo(renewed.certId);
    const now = Date.now();
    expect(info.start, JSON.stringify(info.body)).toBeGreaterThan(now);
    expect(info.retryAfter).toMatch(/^[1-9]\d*$/);
    expect(windowOpen(info, now), 'the scheduler leaves the new certificate alone').toBe(false);
  });

  it('spoke the EJBCA wire format throughout and logged nothing at level error', async () => {
    await ready();
    expect(ejbca.protocolErrors).toEqual([]);
    const errors = gatewayLog.filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
  });
});
