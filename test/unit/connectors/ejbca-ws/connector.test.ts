/**
 * ejbca-ws behaviour the generic contract does not pin down, against the EJBCA double: what lands
 * in EJBCA (end entities, custom data, validity), retries, authorisation, TLS and chain problems,
 * the template catalog read from certificate profiles, and the double's own refusal of requests off
 * the schema.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import https from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectorError, type ConnectorDeps } from '../../../../src/sdk/index.js';
import { TestClock } from '../../../../src/lib/clock.js';
import { SeededRandom } from '../../../../src/lib/random.js';
import { createEjbcaWsClient, ejbcaWsConnector, type EjbcaWsConfig, type EjbcaWsConnector } from '../../../../connectors/ejbca-ws/index.js';
import { EjbcaWsFault } from '../../../../connectors/ejbca-ws/client.js';
import { startEjbcaDouble, type EjbcaDouble } from '../../../fakes/ejbca-ws/server.js';
import { createDoubleCa } from '../../../fakes/ejbca-ws/ca.js';
import { account, issueRequest, quietLogger } from '../../../contract/connector-subjects.js';

const signal = (): AbortSignal => AbortSignal.timeout(10_000);
const TEMPLATE = { name: 'SERVER', attributes: {} };
const WSDL = fileURLToPath(new URL('../../../../connectors/ejbca-ws/wsdl/ejbcaws.wsdl', import.meta.url));

async function failure(p: Promise<unknown>): Promise<ConnectorError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConnectorError);
  return e as ConnectorError;
}

describe('ejbca-ws connector against the EJBCA double', () => {
  let double: EjbcaDouble;
  let dir: string;
  let files: { clientCert: string; clientKey: string; caCert: string };
  const clock = new TestClock('2030-01-01T00:00:00Z');
  const started: EjbcaWsConnector[] = [];

  /** What the connector logged at warn in this case. */
  let warnings: { msg: string; obj: Record<string, unknown> }[] = [];
  const log = { ...quietLogger(), warn: (obj: object, msg?: string) => void warnings.push({ msg: msg ?? '', obj: obj as Record<string, unknown> }) };
  const deps = (): ConnectorDeps => ({ log, clock, random: new SeededRandom('ejbca'), dataDir: dir, name: 'ejbca', baseUrl: () => 'https://gw.test' });
  async function connect(overrides: Partial<EjbcaWsConfig> = {}): Promise<EjbcaWsConnector> {
    const config = ejbcaWsConnector.configSchema.parse({
      type: 'ejbca-ws',
      url: double.url,
      ...files,
      caName: double.state.caName,
      endEntityProfile: 'ACME_SERVER',
      registration: { endEntityProfile: 'ACME_REGISTRATION' },
      retries: 1,
      retryBackoffMs: 5,
      ...overrides,
    });
    const c = await ejbcaWsConnector.create(config, deps());
    started.push(c);
    return c;
  }

  beforeEach(async () => {
    warnings = [];
    double = await startEjbcaDouble({ clock });
    dir = await mkdtemp(join(tmpdir(), 'ejbca-unit-'));
    files = { clientCert: join(dir, 'admin.pem'), clientKey: join(dir, 'admin.key'), caCert: join(dir, 'ca.pem') };
    await writeFile(files.clientCert, double.ca.admin.pem);
    await writeFile(files.clientKey, double.ca.admin.keyPem);
    await writeFile(files.caCert, double.ca.management.pem);
  });

  afterEach(async () => {
    for (const c of started.splice(0)) await c.close();
    expect(double.protocolErrors).toEqual([]);
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves one issuing end entity per order, GENERATED, with the ACME URLs, the CSR and the validity', async () => {
    const c = await connect();
    const notBefore = new Date('2030-01-02T00:00:00Z');
    const notAfter = new Date('2030-02-01T00:00:00Z');
    const req = { ...(await issueRequest('ord-1', ['a.example.test', '192.0.2.9'], TEMPLATE)), validity: { notBefore, notAfter } };
    const issued = await c.issue(req, signal());
    const ee = double.state.endEntity('acme-acct-1-ord-1');
    expect(ee).toMatchObject({ status: 40, subjectDN: 'CN=a.example.test', subjectAltName: 'dNSName=a.example.test, iPAddress=192.0.2.9', certificateProfileName: 'SERVER', endEntityProfileName: 'ACME_SERVER', tokenType: 'USERGENERATED', startTime: '2030-01-02 00:00:00+00:00', endTime: '2030-02-01 00:00:00+00:00' });
    expect(ee.extendedInformation).toContainEqual({ name: 'customdata_ACME_ORDER_URL', value: req.acme.orderUrl });
    expect(ee.extendedInformation).toContainEqual({ name: 'customdata_ACME_ACCOUNT_URL', value: req.acme.accountUrl });
    const leaf = new x509.X509Certificate(issued.leafPem);
    expect(leaf.notBefore).toEqual(notBefore);
    expect(leaf.notAfter).toEqual(notAfter);
    expect(issued.issuer).toBe('CN=Double Issuing CA,O=EJBCA Double,C=SE');
    expect(c.caCertificatesPem()).toEqual([double.ca.root.pem, double.ca.issuing.pem].map((p) => new x509.X509Certificate(p).toString('pem')));
  });

  it('creates a registration end entity that is never overwritten once an officer edited it', async () => {
    const c = await connect();
    const ref = await c.ensureRegistration(account('acct-9'), signal());
    expect(ref).toEqual({ id: 'acme-acct-9' });
    expect(double.state.endEntity('acme-acct-9')).toMatchObject({ endEntityProfileName: 'ACME_REGISTRATION', certificateProfileName: 'ENDUSER', subjectDN: 'CN=acme-acct-9', status: 10 });
    double.control.setAllowedNames('acme-acct-9', ['*.team.example.test']);
    double.control.disable('acme-acct-9', 60);
    await c.ensureRegistration(account('acct-9'), signal());
    expect(double.state.endEntity('acme-acct-9')).toMatchObject({ status: 60, subjectAltName: 'dNSName=*.team.example.test' });
    expect(await c.registration(ref, signal())).toEqual({ enabled: false, allowedNames: ['*.team.example.test'] });
  });

  it('refuses a name the end entity profile’s validator rejects, naming it', async () => {
    const c = await connect();
    const err = await failure(c.issue(await issueRequest('ord-2', ['ok.example.test', 'x.refused.example.test'], TEMPLATE), signal()));
    expect(err).toMatchObject({ code: 'rejected', info: { identifiers: [{ type: 'dns', value: 'x.refused.example.test' }] } });
  });

  it('stays pending, without a second approval request, when the order is submitted again while waiting', async () => {
    const c = await connect();
    double.control.requireApprovals('ACME_SERVER', 2);
    const req = await issueRequest('ord-3', ['b.example.test'], TEMPLATE);
    const first = await failure(c.issue(req, signal()));
    expect(first.code).toBe('pending-approval');
    expect((await failure(c.issue(req, signal()))).code).toBe('pending-approval');
    expect(double.control.pendingApprovals()).toHaveLength(1);
    const ticket = first.info.ticket ?? '';
    double.control.approve(ticket);
    expect(await failure(c.status({ requestId: 'ord-3', ticket }, signal()))).toMatchObject({ code: 'pending-approval', message: expect.stringContaining('1 more') });
    double.control.approve(ticket);
    expect((await c.status({ requestId: 'ord-3', ticket }, signal())).serial).toMatch(/^[0-9a-f]+$/);
  });

  it('finishes an approved request with the CSR the caller passes when EJBCA kept none', async () => {
    const c = await connect({ customDataPrefix: 'other_' });
    double.control.requireApprovals('ACME_SERVER', 1);
    const req = await issueRequest('ord-4', ['c.example.test'], TEMPLATE);
    const ticket = (await failure(c.issue(req, signal()))).info.ticket ?? '';
    double.control.approve(ticket);
    // EJBCA keeps only customdata_-prefixed keys as custom data; here the CSR went under another prefix.
    double.state.endEntity('acme-acct-1-ord-4').extendedInformation.length = 0;
    expect((await failure(c.status({ requestId: 'ord-4', ticket }, signal()))).code).toBe('not-found');
    expect((await c.status({ requestId: 'ord-4', ticket, csr: req.csr }, signal())).serial).toMatch(/^[0-9a-f]+$/);
  });

  it('answers not-found for a ticket EJBCA does not know', async () => {
    const c = await connect();
    expect((await failure(c.status({ requestId: 'ord-x', ticket: '999999' }, signal()))).code).toBe('not-found');
    expect((await failure(c.status({ requestId: 'ord-x', ticket: 'abc' }, signal()))).code).toBe('not-found');
  });

  it('retries a reset connection and then succeeds', async () => {
    const c = await connect({ retries: 2 });
    await double.control.fail({ kind: 'reset', times: 2 });
    expect((await c.issue(await issueRequest('ord-5', ['d.example.test'], TEMPLATE), signal())).serial).toMatch(/^[0-9a-f]+$/);
  });

  it('gives up after the configured retries with unavailable', async () => {
    const c = await connect({ retries: 1 });
    await double.control.fail({ kind: 'reset', times: 2 });
    expect((await failure(c.issue(await issueRequest('ord-6', ['e.example.test'], TEMPLATE), signal()))).code).toBe('unavailable');
  });

  it('answers timeout when a call outlasts timeoutMs', async () => {
    const c = await connect({ timeoutMs: 200 });
    await double.control.fail({ kind: 'slow' });
    expect((await failure(c.issue(await issueRequest('ord-7', ['f.example.test'], TEMPLATE), signal()))).code).toBe('timeout');
  });

  it('answers unauthorized when the administrator lost its RA rights, and health turns red', async () => {
    const c = await connect();
    double.control.denyAdmin('gateway-ra-admin');
    expect((await failure(c.issue(await issueRequest('ord-8', ['g.example.test'], TEMPLATE), signal()))).code).toBe('unauthorized');
    expect(await c.health(signal())).toMatchObject({ ok: false, detail: expect.stringContaining('unauthorized') });
  });

  it('answers misconfigured when caCert does not trust EJBCA’s TLS certificate, and still starts', async () => {
    const other = await createDoubleCa();
    await writeFile(files.caCert, other.management.pem);
    const c = await connect();
    expect((await failure(c.issue(await issueRequest('ord-9', ['h.example.test'], TEMPLATE), signal()))).code).toBe('misconfigured');
    expect(c.caCertificatesPem()).toEqual([]); // the chain could not be loaded at start
  });

  it('answers unavailable when EJBCA resets the handshake of a client certificate it does not trust', async () => {
    // Node's TLS server drops such a client without an alert, so this looks like any reset connection.
    const other = await createDoubleCa();
    await writeFile(files.clientCert, other.admin.pem);
    await writeFile(files.clientKey, other.admin.keyPem);
    const c = await connect();
    expect((await failure(c.issue(await issueRequest('ord-9', ['h.example.test'], TEMPLATE), signal()))).code).toBe('unavailable');
  });

  it('answers misconfigured for an unknown CA or end entity profile', async () => {
    const c = await connect();
    const byCa = await issueRequest('ord-10', ['i.example.test'], { name: 'SERVER', attributes: { caName: 'NoSuchCA' } });
    expect((await failure(c.issue(byCa, signal()))).code).toBe('misconfigured');
    const byProfile = await issueRequest('ord-11', ['i.example.test'], { name: 'SERVER', attributes: { endEntityProfile: 'NO_SUCH_EEP' } });
    expect((await failure(c.issue(byProfile, signal()))).code).toBe('misconfigured');
  });

  it('answers rejected when an officer revoked the order’s end entity', async () => {
    const c = await connect();
    double.control.requireApprovals('ACME_SERVER', 1);
    const ticket = (await failure(c.issue(await issueRequest('ord-12', ['j.example.test'], TEMPLATE), signal()))).info.ticket ?? '';
    double.control.approve(ticket);
    double.control.disable('acme-acct-1-ord-12');
    expect((await failure(c.status({ requestId: 'ord-12', ticket }, signal()))).code).toBe('rejected');
  });

  // ------------------------------------------------------------ templates (TemplateCatalog)

  const SERVER_LIMITS = { name: 'SERVER', keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'], maxValiditySeconds: 730 * 86_400 };
  const ENDUSER_LIMITS = { name: 'ENDUSER', keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519'], maxValiditySeconds: 730 * 86_400 };

  it('lists every certificate profile its end entity profiles offer, once, with the limits EJBCA states', async () => {
    const c = await connect();
    // ACME_REGISTRATION offers ENDUSER and SERVER, ACME_SERVER offers SERVER: SERVER is listed once.
    expect(await c.templates(signal())).toEqual([ENDUSER_LIMITS, SERVER_LIMITS]);
    double.control.setCertificateProfile('SHORT', { id: 1_234_567, keyAlgorithms: ['RSA'], bitLengths: [3072, 4096], ecCurves: [], encodedValidity: '90d' });
    double.control.offerCertificateProfile('ACME_SERVER', 'SHORT');
    expect(await c.templates(signal())).toEqual([ENDUSER_LIMITS, SERVER_LIMITS, { name: 'SHORT', keyTypes: ['rsa-3072', 'rsa-4096'], maxValiditySeconds: 90 * 86_400 }]);
    expect(warnings).toEqual([]);
  });

  it('leaves a limit it cannot read undefined and warns, never guessing one', async () => {
    const c = await connect();
    double.control.setCertificateProfile('ODD', { id: 77, keyAlgorithms: ['RSA'], bitLengths: [], ecCurves: ['ANY_EC_CURVE'], encodedValidity: '2 fortnights' });
    double.control.offerCertificateProfile('ACME_SERVER', 'ODD');
    expect((await c.templates(signal())).find((t) => t.name === 'ODD')).toEqual({ name: 'ODD' });
    expect(warnings.map((w) => [w.obj['certificateProfile'], w.obj['problem']])).toEqual([
      ['ODD', expect.stringContaining('give no key length range')],
      ['ODD', 'encodedvalidity "2 fortnights" is neither a positive relative time nor an end date'],
    ]);
  });

  it('also lists the profiles of end entity profiles other than its own, and warns when its own is not offered', async () => {
    const c = await connect({ endEntityProfile: 'NOT_MINE' });
    expect((await c.templates(signal())).map((t) => t.name)).toEqual(['ENDUSER', 'SERVER']);
    expect(warnings).toEqual([{ msg: 'configured EJBCA end entity profile is not among those the administrator may use', obj: expect.objectContaining({ endEntityProfile: 'NOT_MINE', authorized: ['ACME_REGISTRATION', 'ACME_SERVER'] }) }]);
  });

  it('maps failures while listing templates like every other call', async () => {
    const c = await connect({ timeoutMs: 500 });
    await double.control.fail({ kind: 'http-500', times: 1 });
    expect((await failure(c.templates(signal()))).code).toBe('unavailable');
    await double.control.fail({ kind: 'slow' });
    expect((await failure(c.templates(signal()))).code).toBe('timeout');
    await double.control.heal();
    double.control.denyAdmin('gateway-ra-admin');
    expect((await failure(c.templates(signal()))).code).toBe('unauthorized');
  });

  it('has the double answer getProfile as EJBCA does for an unknown id or type', async () => {
    const client = await createEjbcaWsClient({ url: double.url, wsdlPath: WSDL, clientCertPath: files.clientCert, clientKeyPath: files.clientKey, caCertPath: files.caCert, timeoutMs: 5000, retries: 0, retryBackoffMs: 0, log: quietLogger() });
    try {
      const fault = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
      expect(await fault(client.getProfile(424242, 'cp', signal()))).toMatchObject({ element: 'EjbcaException', errorCode: 'INTERNAL_ERROR' });
      expect(await fault(client.getProfile(9, 'xyz' as 'cp', signal()))).toMatchObject({ element: 'UnknownProfileTypeException' });
      expect(await fault(client.getProfile(9, 'xyz' as 'cp', signal()))).toBeInstanceOf(EjbcaWsFault);
      expect(await client.getAvailableCertificateProfiles(999, signal())).toEqual([]);
      expect(Buffer.from(await client.getProfile(9, 'CP' as 'cp', signal()), 'base64').toString()).toContain('<string>encodedvalidity</string>');
    } finally {
      await client.close();
    }
  });

  it('has the double apply the certificate profile at issuance: key algorithm, curve, and the longest validity', async () => {
    const c = await connect();
    double.control.setCertificateProfile('SERVER', { id: 9, keyAlgorithms: ['RSA'], bitLengths: [2048, 4096], ecCurves: [], encodedValidity: '30d' });
    const p256 = await issueRequest('ord-13', ['k.example.test'], TEMPLATE); // the helper's CSRs use P-256
    expect(await failure(c.issue(p256, signal()))).toMatchObject({ code: 'bad-request', message: expect.stringContaining('ILLEGAL_KEY') });
    double.control.setCertificateProfile('SERVER', { id: 9, keyAlgorithms: ['ECDSA'], bitLengths: [], ecCurves: ['prime256v1'], encodedValidity: '30d' });
    const notBefore = new Date('2030-01-02T00:00:00Z');
    const long = { ...(await issueRequest('ord-14', ['l.example.test'], TEMPLATE)), validity: { notBefore, notAfter: new Date('2030-03-03T00:00:00Z') } };
    const leaf = new x509.X509Certificate((await c.issue(long, signal())).leafPem);
    expect(leaf.notAfter).toEqual(new Date('2030-02-01T00:00:00Z')); // cut to the profile's 30 days
  });

  it('has the double refuse a request off the schema with a soap:Client fault', async () => {
    const body = '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="http://ws.protocol.core.ejbca.org/"><soap:Body><tns:editUser><arg0><username>u</username><status>10</status></arg0></tns:editUser></soap:Body></soap:Envelope>';
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(double.url, { method: 'POST', key: double.ca.admin.keyPem, cert: double.ca.admin.pem, ca: double.ca.management.pem, headers: { 'Content-Type': 'text/xml' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(reply.status).toBe(500);
    expect(reply.text).toContain('<faultcode>soap:Client</faultcode>');
    expect(reply.text).toContain('missing required element clearPwd');
    expect(double.protocolErrors).toHaveLength(1);
    double.protocolErrors.length = 0; // expected here; afterEach insists on none
  });
});
