/**
 * Issue #4, "Done when": certbot (Debian's 2.x) against the gateway, and the gateway against the
 * EJBCA web-service double over mutual TLS. The RA officer's actions (approve, reject, disable,
 * restrict names) are the double's control; what is asserted is what certbot gets, what the
 * gateway answers, and what the double holds afterwards.
 *
 * One gateway (in this process, so the test can reach its store and EAB keys; certbot talks to its
 * HTTPS listener) and one double for the whole file. Validation goes to certbot's standalone
 * server through pebble-challtestsrv, which answers 127.0.0.1 for every name.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import type { AccountId, OrderId } from '../../src/storage/store.js';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { startEjbcaDouble, STATUS, type EjbcaDouble } from '../fakes/ejbca-ws/server.js';
import type { Approval } from '../fakes/ejbca-ws/state.js';
import { certbotRunner, requireCertbot, type CertbotRunner } from '../helpers/certbot.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/gateway-process.js';
import { AcmeHttpClient } from '../helpers/jws-client.js';
import { certFacts, opensslVerify, requireOpenssl, sharedFixture, type CertFacts, type ToolRun } from './support.js';

/** certbot's own bound, and each test's. */
const CERTBOT_TIMEOUT_MS = 85_000;
const TEST_TIMEOUT_MS = 120_000;
/** The ACME profiles: accounts open (newAccount creates the registration) and pre-registered (EAB). */
const OPEN = 'ejbca';
const PRE = 'ejbca-pre';
/** The double's end entity profiles: issuing end entities, and registrations. */
const ISSUING_EEP = 'ACME_SERVER';
const REGISTRATION_EEP = 'ACME_REGISTRATION';
const CUSTOM = 'customdata_';

let dns: Challtestsrv;
let ejbca: EjbcaDouble;
let gw: TestGateway;
let work: string;
let http01Port: number;
/** The double's root CA, the only trust anchor openssl gets for issued certificates. */
let doubleRootPath: string;
let certbot: CertbotRunner;
const gatewayLog: string[] = [];
const issued = new Map<string, CertFacts>();

const ready = sharedFixture(async () => {
  await requireCertbot();
  await requireOpenssl();
  dns = await startChalltestsrv({ http01: false });
  ejbca = await startEjbcaDouble();
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-ejbca-certbot-'));
  const file = async (name: string, text: string) => {
    const p = path.join(work, name);
    await writeFile(p, text, { mode: 0o600 });
    return p;
  };
  const tls = {
    clientCert: await file('ra-admin.pem', ejbca.ca.admin.pem),
    clientKey: await file('ra-admin.key', ejbca.ca.admin.keyPem),
    caCert: await file('management-ca.pem', ejbca.ca.management.pem),
  };
  doubleRootPath = await file('double-root.pem', ejbca.ca.root.pem);
  http01Port = await freePort();
  const profile = { connector: 'ejbca', template: 'SERVER', registrationCacheTtl: '0s', finalizeWait: '2s', challenges: ['http-01'] };
  gw = await startTestGateway(
    {
      // Retry-After 1 s on a challenge being validated: certbot polls no sooner than it says.
      validation: { dnsResolver: dns.dnsAddress, http01Port, retryAfterSeconds: 1 },
      connectors: {
        ejbca: {
          type: 'ejbca-ws',
          url: ejbca.url,
          ...tls,
          caName: ejbca.state.caName,
          endEntityProfile: ISSUING_EEP,
          registration: { endEntityProfile: REGISTRATION_EEP },
          // The reconciler looks again after 1 s, 2 s, 4 s...: an approval is seen within seconds.
          approvalRetryAfterSeconds: 1,
          timeoutMs: 10_000,
        },
      },
      profiles: { [OPEN]: profile, [PRE]: { ...profile, accounts: 'pre-registered', eab: { required: true } } },
      defaultProfile: OPEN,
    },
    { log: createLogger('info', { write: (line: string) => void gatewayLog.push(line) }) },
  );
  certbot = certbotRunner({ dir: path.join(work, 'certbot'), server: gw.directory(OPEN), caBundlePath: gw.caBundlePath, timeoutMs: CERTBOT_TIMEOUT_MS, logs: logTail });
});

afterAll(async () => {
  await gw?.stop();
  await ejbca?.stop();
  await dns?.stop();
  if (work && !process.env.KEEP_E2E) await rm(work, { recursive: true, force: true });
});

function logTail(lines = 30): string {
  return gatewayLog.slice(-lines).join('');
}

/** certonly through http-01, certbot's standalone server on the port the gateway validates against. */
function certonly(name: string, domains: string[]): string[] {
  return [
    'certonly', '--standalone',
    '--http-01-port', String(http01Port), '--http-01-address', '127.0.0.1',
    '--issuance-timeout', '60',
    '--cert-name', name,
    ...domains.flatMap((d) => ['-d', d]),
  ];
}

/** Verifies a lineage against the double's root with the chain certbot stored, and returns the leaf's facts. */
async function checkLineage(runner: CertbotRunner, name: string, domains: string[]): Promise<CertFacts> {
  await opensslVerify(doubleRootPath, runner.live(name, 'chain.pem'), runner.live(name, 'cert.pem'));
  const facts = certFacts(await readFile(runner.live(name, 'cert.pem'), 'utf8'));
  expect(facts.dnsNames).toEqual([...domains].sort());
  expect(facts.issuer).toContain('CN=Double Issuing CA');
  return facts;
}

/**
 * What certbot showed of a failed run: its output and the server's answers in its debug log (certbot
 * 2.1 on Python 3.11 prints an AttributeError for problems at newOrder: see helpers/certbot.ts).
 */
async function failure(runner: CertbotRunner, run: ToolRun): Promise<string> {
  expect(run.code, `certbot should have failed:\n${run.stdout}\n${run.stderr}`).not.toBe(0);
  return `${run.stdout}\n${run.stderr}\n${await runner.log()}`;
}

/** The registration end entity of certbot's account (`acme-{accountId}`), registering the account first if needed. */
async function registrationOf(runner: CertbotRunner): Promise<string> {
  const known = await runner.account().catch(() => undefined);
  if (known) return `acme-${known.id}`;
  await runner.run(['register']);
  return `acme-${(await runner.account()).id}`;
}

/** Polls `probe` every 100 ms until it returns something, failing early when certbot exits first. */
async function waitFor<T>(what: string, probe: () => T | undefined, running: Promise<ToolRun>, timeoutMs = 30_000): Promise<T> {
  let exited: ToolRun | undefined;
  void running.then((r) => (exited = r));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (exited) throw new Error(`certbot exited (${exited.code}) before ${what}:\n${exited.stdout}\n${exited.stderr}\n--- gateway log\n${logTail()}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms\n--- gateway log\n${logTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const customData = (u: { extendedInformation: { name: string; value: string }[] }, key: string) => u.extendedInformation.find((e) => e.name === CUSTOM + key)?.value;

/** The order an approval is about: the officer sees its URL in the issuing end entity's custom data. */
function orderOf(approval: Approval): { url: string; id: OrderId } {
  const url = customData(approval.action, 'ACME_ORDER_URL');
  expect(url?.startsWith(`${gw.baseUrl}/acme/${OPEN}/order/`), `approval ${approval.id} carries the ACME order URL (${url})`).toBe(true);
  return { url: url ?? '', id: (url ?? '').split('/').at(-1) as OrderId };
}

/** POST-as-GET of an order, signed with certbot's own account key. */
async function fetchOrder(runner: CertbotRunner, orderUrl: string) {
  const account = await runner.account();
  const client = new AcmeHttpClient(gw.directory(OPEN), account.key, { ca: gw.caPem });
  try {
    const res = await client.post(orderUrl, '', { kid: account.url });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: res.body as { status?: string; error?: { type?: string; detail?: string } } };
  } finally {
    await client.close();
  }
}

describe('certbot against the gateway, the gateway against the EJBCA double over mutual TLS', { timeout: TEST_TIMEOUT_MS }, () => {
  it('gets a certificate at once that chains to the double\'s CA, with a registration and an issuing end entity in EJBCA', async () => {
    await ready();
    await certbot.run(certonly('now', ['now.example.test']));
    const facts = await checkLineage(certbot, 'now', ['now.example.test']);
    issued.set('now', facts);

    const account = await certbot.account();
    const cert = await gw.gateway.store.findCertificateBySerial(facts.serial);
    expect(cert?.accountId).toBe(account.id);
    // The account is a registration end entity, made at newAccount, naming the ACME account.
    const registration = ejbca.state.endEntities.get(`acme-${account.id}`);
    expect(registration?.endEntityProfileName).toBe(REGISTRATION_EEP);
    expect(customData(registration!, 'ACME_ACCOUNT_URL')).toBe(account.url);
    // The order has its own issuing end entity, which the certificate belongs to.
    const username = `acme-${account.id}-${cert?.orderId}`;
    const issuing = ejbca.state.endEntities.get(username);
    expect(issuing?.status).toBe(STATUS.GENERATED);
    expect(issuing?.endEntityProfileName).toBe(ISSUING_EEP);
    expect(customData(issuing!, 'ACME_ORDER_URL')).toBe(`${gw.baseUrl}/acme/${OPEN}/order/${cert?.orderId}`);
    expect(ejbca.state.certificate(facts.serial).username).toBe(username);
    expect(ejbca.protocolErrors).toEqual([]);
  });

  it('gets a certificate an RA officer approves while certbot waits through "processing"', async () => {
    await ready();
    ejbca.control.requireApprovals(ISSUING_EEP, 1);
    try {
      const running = certbot.attempt(certonly('approved', ['approved.example.test']));
      const approval = await waitFor('approval request in EJBCA', () => ejbca.control.pendingApprovals()[0], running);
      const order = orderOf(approval);
      expect(approval.username).toBe(`acme-${(await certbot.account()).id}-${order.id}`);

      // What a client sees meanwhile: processing, and when to look again.
      const seen = await fetchOrder(certbot, order.url);
      expect(seen.status).toBe(200);
      expect(seen.body.status).toBe('processing');
      expect(seen.retryAfter).toMatch(/^[1-9]\d*$/);

      ejbca.control.approve(approval.id); // the officer, in the EJBCA admin GUI
      const run = await running;
      expect(run.code, `certbot:\n${run.stdout}\n${run.stderr}\n--- gateway log\n${logTail()}`).toBe(0);
      expect(await certbot.log(), 'certbot polled the order while it was processing').toContain('"status":"processing"');
      const facts = await checkLineage(certbot, 'approved', ['approved.example.test']);
      const stored = await gw.gateway.store.getOrder(order.id);
      expect(stored?.status).toBe('valid');
      expect(stored?.ticket).toBe(String(approval.id));
      expect((await gw.gateway.store.findCertificateBySerial(facts.serial))?.orderId).toBe(order.id);
    } finally {
      ejbca.control.requireApprovals(ISSUING_EEP, 0);
    }
  });

  it('fails when the officer rejects the request, leaving the order invalid with the EJBCA request id in its error', async () => {
    await ready();
    ejbca.control.requireApprovals(ISSUING_EEP, 1);
    try {
      const running = certbot.attempt(certonly('rejected', ['rejected.example.test']));
      const approval = await waitFor('approval request in EJBCA', () => ejbca.control.pendingApprovals()[0], running);
      const order = orderOf(approval);
      ejbca.control.reject(approval.id);
      const shown = await failure(certbot, await running);
      expect(shown).toContain(`request ${approval.id}`);

      const seen = await fetchOrder(certbot, order.url);
      expect(seen.body.status).toBe('invalid');
      expect(seen.body.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
      expect(seen.body.error?.detail).toContain(String(approval.id));
      expect((await gw.gateway.store.getOrder(order.id))?.status).toBe('invalid');
    } finally {
      ejbca.control.requireApprovals(ISSUING_EEP, 0);
    }
  });

  it('is refused with "unauthorized" while the officer has disabled the registration, and served again once enabled', async () => {
    await ready();
    const registration = await registrationOf(certbot);
    ejbca.control.disable(registration);
    try {
      const shown = await failure(certbot, await certbot.attempt(certonly('disabled', ['disabled.example.test'])));
      expect(shown).toContain('urn:ietf:params:acme:error:unauthorized');
      expect(shown).toContain(registration);
      // Refused at newOrder: nothing reached EJBCA for that name.
      expect([...ejbca.state.endEntities.values()].filter((u) => u.subjectDN.includes('disabled.example.test'))).toEqual([]);
    } finally {
      ejbca.control.enable(registration);
    }
    await certbot.run(certonly('disabled', ['disabled.example.test']));
    await checkLineage(certbot, 'disabled', ['disabled.example.test']);
  });

  it('is refused a name outside the registration\'s allowed names with "rejectedIdentifier", and served one inside', async () => {
    await ready();
    const registration = await registrationOf(certbot);
    ejbca.control.setAllowedNames(registration, ['*.allowed.test']);
    try {
      // One subproblem per identifier outside the list (RFC 8555 §6.7.1), none for the one inside.
      const shown = await failure(certbot, await certbot.attempt(certonly('denied', ['b.allowed.test', 'x.denied.test'])));
      expect(shown).toContain('urn:ietf:params:acme:error:rejectedIdentifier');
      expect(shown).toContain('"identifier":{"type":"dns","value":"x.denied.test"}');
      expect(shown).not.toContain('"identifier":{"type":"dns","value":"b.allowed.test"}');
      await certbot.run(certonly('allowed', ['a.allowed.test']));
      await checkLineage(certbot, 'allowed', ['a.allowed.test']);
    } finally {
      ejbca.control.setAllowedNames(registration, []);
    }
  });

  it('revokes with reason keyCompromise through ACME, and EJBCA has the certificate revoked with reason 1', async () => {
    await ready();
    const facts = issued.get('now');
    expect(facts, 'the first test issued "now"').toBeDefined();
    const issuerDn = ejbca.state.certificate(facts!.serial).issuerDn;
    expect(ejbca.state.revocationStatus(issuerDn, facts!.serial)?.reason).toBe(-1);

    await certbot.run(['revoke', '--cert-path', certbot.live('now', 'cert.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    // checkRevokationStatus, as EJBCA's publishers and OCSP see it.
    expect(ejbca.state.revocationStatus(issuerDn, facts!.serial)).toMatchObject({ reason: 1 });
    const stored = await gw.gateway.store.findCertificateBySerial(facts!.serial);
    expect(stored?.revocationReason).toBe(1);
    expect(stored?.revokedAt).toBeInstanceOf(Date);
  });

  it('registers with an EAB key naming an existing registration, gets a certificate, and a second account with that kid is refused', async () => {
    await ready();
    // An officer made the registration beforehand, allowed to order names below ops.example.test.
    const registration = 'ops-team-7';
    ejbca.state.editUser({
      username: registration,
      clearPwd: false,
      caName: ejbca.state.caName,
      certificateProfileName: 'ENDUSER',
      endEntityProfileName: REGISTRATION_EEP,
      subjectDN: `CN=${registration},O=Example Ops`,
      subjectAltName: 'dNSName=*.ops.example.test',
      status: STATUS.NEW,
      tokenType: 'USERGENERATED',
      keyRecoverable: false,
      sendNotification: false,
      extendedInformation: [],
    });
    const eab = await gw.gateway.ra.eab.create(PRE, { kid: registration, registrationId: registration });
    expect(eab.record.maxBindings).toBe(1);
    const eabArgs = ['--eab-kid', eab.kid, '--eab-hmac-key', eab.hmacKey];

    const first = certbotRunner({ dir: path.join(work, 'certbot-eab-1'), server: gw.directory(PRE), caBundlePath: gw.caBundlePath, timeoutMs: CERTBOT_TIMEOUT_MS, logs: logTail });
    await first.run([...certonly('ops', ['www.ops.example.test']), ...eabArgs]);
    const facts = await checkLineage(first, 'ops', ['www.ops.example.test']);
    const account = await gw.gateway.store.getAccount((await first.account()).id as AccountId);
    expect(account).toMatchObject({ profile: PRE, eabKid: registration, registrationId: registration });
    const cert = await gw.gateway.store.findCertificateBySerial(facts.serial);
    expect(ejbca.state.certificate(facts.serial).username).toBe(`acme-${account?.id}-${cert?.orderId}`);

    const second = certbotRunner({ dir: path.join(work, 'certbot-eab-2'), server: gw.directory(PRE), caBundlePath: gw.caBundlePath, timeoutMs: CERTBOT_TIMEOUT_MS });
    const shown = await failure(second, await second.attempt(['register', ...eabArgs]));
    expect(shown).toContain('urn:ietf:params:acme:error:unauthorized');
    expect(shown).toContain(`"${registration}" is already bound`);
    expect(await gw.gateway.store.countAccountsForEab(registration)).toBe(1);
  });

  it('spoke the EJBCA wire format throughout and logged nothing at level error', async () => {
    await ready();
    expect(ejbca.protocolErrors).toEqual([]);
    const errors = gatewayLog.filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
  });
});
