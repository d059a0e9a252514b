/**
 * cfssl behaviour the generic contract does not pin down, against the real `cfssl serve`
 * (test/fakes/cfssl.ts): OCSP answers that follow a revocation at once (checked with `openssl
 * ocsp`), the routes the connector declares, both signing endpoints and their misconfigurations,
 * what lands in cfssl's certdb, and a connector that starts while cfssl is down.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError, hasOcspResponder, hasProxyUpstreams, hasRevocationStatus, type ConnectorDeps, type Issued, type OcspResponder } from '../../../../src/sdk/index.js';
import { TestClock } from '../../../../src/lib/clock.js';
import { SeededRandom } from '../../../../src/lib/random.js';
import { cfsslConnector, type CfsslConfig, type CfsslConnector } from '../../../../connectors/cfssl/index.js';
import { CFSSL_PROFILES, freePort, startCfsslBackend, type CfsslBackend } from '../../../fakes/cfssl.js';
import { issueRequest, quietLogger } from '../../../contract/connector-subjects.js';

const run = promisify(execFile);
const signal = (): AbortSignal => AbortSignal.timeout(10_000);
const BASE = 'https://gw.example.test';
const TEMPLATE = { name: CFSSL_PROFILES.authenticated, attributes: {} };

async function failure(p: Promise<unknown>): Promise<ConnectorError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConnectorError);
  return e as ConnectorError;
}

describe('cfssl connector against cfssl serve', () => {
  let backend: CfsslBackend;
  let dir: string;
  const clock = new TestClock('2030-01-01T00:00:00Z');
  const started: CfsslConnector[] = [];

  const deps = (name = 'cfssl'): ConnectorDeps => ({ log: quietLogger(), clock, random: new SeededRandom('cfssl'), dataDir: dir, name, baseUrl: () => BASE });
  async function connect(overrides: Record<string, unknown> = {}, name = 'cfssl'): Promise<CfsslConnector> {
    const config: CfsslConfig = cfsslConnector.configSchema.parse({
      type: 'cfssl',
      url: backend.url,
      authKeyFile: backend.files.authKey,
      certdb: backend.files.certdb,
      timeoutMs: 5_000,
      ...overrides,
    });
    const c = await cfsslConnector.create(config, deps(name));
    started.push(c);
    return c;
  }
  const certdbRows = (): { serial_number: string; ca_label: string; status: string; reason: number }[] => {
    const db = new Database(backend.files.certdb, { readonly: true });
    try {
      return db.prepare('SELECT serial_number, ca_label, status, reason FROM certificates').all() as { serial_number: string; ca_label: string; status: string; reason: number }[];
    } finally {
      db.close();
    }
  };
  const rowOf = (issued: Issued) => certdbRows().find((r) => r.serial_number === BigInt(`0x${issued.serial}`).toString(10));

  beforeAll(async () => {
    backend = await startCfsslBackend({ ocspUrl: `${BASE}/ocsp/cfssl` });
    dir = await mkdtemp(join(tmpdir(), 'cfssl-connector-'));
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.close()));
    backend.setProxyMode('pass');
    await backend.startCfssl();
    expect(backend.protocolErrors()).toEqual([]);
  });
  afterAll(async () => {
    await backend?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // ------------------------------------------------------------ OCSP

  /** openssl ocsp: builds the request, and checks the response's signature and the status it gives. */
  async function askOcsp(responder: OcspResponder | ((request: Uint8Array) => Promise<Uint8Array>), issued: Issued, digest: 'sha1' | 'sha256' = 'sha1'): Promise<{ der: Uint8Array; text: string }> {
    const work = await mkdtemp(join(tmpdir(), 'cfssl-ocsp-'));
    try {
      const leaf = join(work, 'leaf.pem');
      await writeFile(leaf, issued.leafPem);
      await run('openssl', ['ocsp', `-${digest}`, '-issuer', backend.files.caCert, '-cert', leaf, '-no_nonce', '-reqout', join(work, 'req.der')]);
      const request = new Uint8Array(await readFile(join(work, 'req.der')));
      const der = typeof responder === 'function' ? await responder(request) : await responder.ocsp(request, signal());
      await writeFile(join(work, 'resp.der'), der);
      const out = await run('openssl', ['ocsp', '-respin', join(work, 'resp.der'), '-issuer', backend.files.caCert, '-cert', leaf, '-CAfile', backend.files.caCert, '-no_nonce']).catch((e: { stdout?: string; stderr?: string }) => ({
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      }));
      return { der, text: `${out.stdout}\n${out.stderr}` };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  it('answers OCSP itself, good at first and revoked right after a revocation, signed by cfssl\'s responder', async () => {
    const c = await connect();
    expect(hasOcspResponder(c)).toBe(true);
    if (!hasOcspResponder(c)) return;
    const issued = await c.issue(await issueRequest('ocsp-fresh', ['ocsp.example.test'], TEMPLATE), signal());
    const before = await askOcsp(c, issued);
    expect(before.text).toContain('Response verify OK');
    expect(before.text).toMatch(/leaf\.pem: good/);

    await c.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal());
    const after = await askOcsp(c, issued); // no refresh, dump or restart in between
    expect(after.text).toContain('Response verify OK');
    expect(after.text).toMatch(/leaf\.pem: revoked/);
    expect(after.text).toContain('Reason: keyCompromise');
  });

  it('answers OCSP revoked for a revocation made in cfssl behind the gateway\'s back', async () => {
    const c = await connect();
    if (!hasOcspResponder(c)) throw new Error('no OcspResponder');
    const issued = await c.issue(await issueRequest('ocsp-oob', ['ocsp-oob.example.test'], TEMPLATE), signal());
    await backend.revokeDirect(issued.serial, 4);
    const answer = await askOcsp(c, issued);
    expect(answer.text).toMatch(/leaf\.pem: revoked/);
    expect(answer.text).toContain('Reason: superseded');
  });

  it('refuses what cfssl cannot sign: a SHA-256 CertID, a serial its certdb lacks, garbage', async () => {
    const c = await connect();
    if (!hasOcspResponder(c)) throw new Error('no OcspResponder');
    const issued = await c.issue(await issueRequest('ocsp-refuse', ['ocsp-refuse.example.test'], TEMPLATE), signal());
    const unauthorized = [0x30, 0x03, 0x0a, 0x01, 0x06];
    expect([...(await askOcsp(c, issued, 'sha256')).der]).toEqual(unauthorized);

    // A certificate of this CA that cfssl's certdb does not hold (made by the CLI, not the server).
    const stray = join(dir, 'stray');
    await writeFile(`${stray}.json`, JSON.stringify({ CN: 'stray.example.test', hosts: ['stray.example.test'], key: { algo: 'ecdsa', size: 256 } }));
    const { stdout } = await run('cfssl', ['gencert', '-ca', backend.files.caCert, '-ca-key', backend.files.caKey, '-config', backend.files.config, '-profile', CFSSL_PROFILES.open, `${stray}.json`]);
    const strayPem = (JSON.parse(stdout) as { cert: string }).cert;
    expect([...(await askOcsp(c, { ...issued, leafPem: strayPem })).der]).toEqual(unauthorized);

    expect([...(await c.ocsp(new Uint8Array([1, 2, 3]), signal()))]).toEqual([0x30, 0x03, 0x0a, 0x01, 0x01]); // malformedRequest
  });

  it('throws unavailable from ocsp() while cfssl is down, so the HTTP side answers tryLater', async () => {
    const c = await connect();
    if (!hasOcspResponder(c)) throw new Error('no OcspResponder');
    const issued = await c.issue(await issueRequest('ocsp-down', ['ocsp-down.example.test'], TEMPLATE), signal());
    await backend.stopCfssl();
    const err = await failure(askOcsp(c, issued));
    expect(err.code).toBe('unavailable');
  });

  // ------------------------------------------------------------ routes

  it('declares no proxy route by default: the OCSP route is its own', async () => {
    const c = await connect();
    expect(hasProxyUpstreams(c)).toBe(true);
    expect(c.upstreams()).toEqual([]);
  });

  it('declares /ocsp/<name> for POST to an ocspserve, and /crl/<name> when a CRL URL is set', async () => {
    const c = await connect({ ocsp: { mode: 'ocspserve', url: 'http://127.0.0.1:8889' }, crlUrl: 'http://127.0.0.1:8890/ca.crl' }, 'lab');
    expect(hasOcspResponder(c)).toBe(false);
    expect(c.upstreams()).toEqual([
      { prefix: '/ocsp/lab', target: 'http://127.0.0.1:8889', methods: ['POST'] },
      { prefix: '/crl/lab', target: 'http://127.0.0.1:8890/ca.crl', methods: ['GET', 'HEAD'] },
    ]);
    const none = await connect({ ocsp: { mode: 'none' } }, 'quiet');
    expect(hasOcspResponder(none)).toBe(false);
    expect(none.upstreams()).toEqual([]);
  });

  it('in ocspserve mode, routes to an ocspserve that answers POST, and shows a revocation only after refresh, dump and restart', async () => {
    const url = await backend.refreshOcspServe();
    const c = await connect({ ocsp: { mode: 'ocspserve', url } });
    const [route] = c.upstreams();
    expect(route).toEqual({ prefix: '/ocsp/cfssl', target: url, methods: ['POST'] });
    let last: Uint8Array = new Uint8Array(0);
    const post = async (request: Uint8Array): Promise<Uint8Array> => {
      last = request;
      const res = await fetch(route?.target ?? '', { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: request, signal: signal() });
      expect(res.status).toBe(200);
      return new Uint8Array(await res.arrayBuffer());
    };
    const issued = await c.issue(await issueRequest('ocspserve', ['ocspserve.example.test'], TEMPLATE), signal());
    await backend.refreshOcspServe();
    expect((await askOcsp(post, issued)).text).toMatch(/leaf\.pem: good/);

    await c.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal());
    expect((await askOcsp(post, issued)).text).toMatch(/leaf\.pem: good/); // NOTES.md quirk 3: a static file
    await backend.refreshOcspServe();
    expect((await askOcsp(post, issued)).text).toMatch(/leaf\.pem: revoked/);

    // NOTES.md quirk 4: GET (RFC 6960 Appendix A.1) of the same request is broken in this ocspserve, hence POST only.
    const get = await fetch(`${url}/${encodeURIComponent(Buffer.from(last).toString('base64'))}`, { signal: signal() });
    expect(get.status).toBe(400);
  });

  // ------------------------------------------------------------ signing

  it('signs through plain sign on a profile without auth_key, with the label as certdb ca_label', async () => {
    const c = await connect({ endpoint: 'sign', authKeyFile: undefined, label: 'acme-gateway' });
    const issued = await c.issue(await issueRequest('plain-sign', ['plain.example.test', '192.0.2.7'], { name: CFSSL_PROFILES.open, attributes: {} }), signal());
    expect(rowOf(issued)).toMatchObject({ ca_label: 'acme-gateway', status: 'good' });
  });

  it('takes a label from the template attributes over the configured one', async () => {
    const c = await connect({ label: 'configured' });
    const issued = await c.issue(await issueRequest('label-attr', ['label.example.test'], { name: CFSSL_PROFILES.authenticated, attributes: { label: 'from-template' } }), signal());
    expect(rowOf(issued)?.ca_label).toBe('from-template');
  });

  it('answers misconfigured with a hint for a wrong auth key and for sign on an auth_key profile', async () => {
    const wrongKey = await connect({ authKeyFile: undefined, authKey: 'ff'.repeat(16) });
    const bad = await failure(wrongKey.issue(await issueRequest('wrong-key', ['k.example.test'], TEMPLATE), signal()));
    expect(bad.code).toBe('misconfigured');
    expect(bad.message).toContain('invalid token');

    const unauthenticated = await connect({ endpoint: 'sign', authKeyFile: undefined });
    const refused = await failure(unauthenticated.issue(await issueRequest('sign-on-auth', ['k.example.test'], TEMPLATE), signal()));
    expect(refused.code).toBe('misconfigured');
    expect(refused.message).toContain('use endpoint: authsign');
    // cfssl logs both as code 400, what the protocol check looks for; these two are on purpose.
    expect(backend.protocolErrors()).toEqual(['POST /api/v1/cfssl/authsign answered 400', 'POST /api/v1/cfssl/sign answered 400']);
    backend.forgetProtocolErrors();
  });

  it('signs once for two racing calls with one request id, and finds it again after a restart', async () => {
    const c = await connect();
    const req = await issueRequest('racing', ['race.example.test'], TEMPLATE);
    const [a, b] = await Promise.all([c.issue(req, signal()), c.issue(req, signal())]);
    expect(a.serial).toBe(b.serial);
    expect(certdbRows().filter((r) => r.serial_number === BigInt(`0x${a.serial}`).toString(10))).toHaveLength(1);
    const before = certdbRows().length;

    await c.close();
    const again = await connect(); // same data directory: the request-id store survives
    expect((await again.status({ requestId: 'racing' }, signal())).serial).toBe(a.serial);
    expect((await again.issue(req, signal())).leafPem).toBe(a.leafPem);
    expect(certdbRows()).toHaveLength(before);
  });

  // ------------------------------------------------------------ revocation

  it('revokes with the empty AKI this build stores, and records the reason in cfssl\'s certdb', async () => {
    const c = await connect();
    const issued = await c.issue(await issueRequest('revoke-aki', ['aki.example.test'], TEMPLATE), signal());
    await c.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 5 }, signal());
    expect(rowOf(issued)).toMatchObject({ status: 'revoked', reason: 5 });
    expect(backend.log()).toMatch(/"POST \/api\/v1\/cfssl\/revoke" 11200[\s\S]*"POST \/api\/v1\/cfssl\/revoke" 200/);
    if (!hasRevocationStatus(c)) throw new Error('no RevocationStatusSource');
    const status = await c.certificateStatus(issued.serial, issued.issuer, signal());
    expect(status).toMatchObject({ revoked: true, reason: 5 });
    expect(status.revokedAt).toBeInstanceOf(Date);
  });

  it('refuses removeFromCRL, and a serial of another issuer as not-found', async () => {
    const c = await connect();
    const issued = await c.issue(await issueRequest('revoke-refuse', ['refuse.example.test'], TEMPLATE), signal());
    expect((await failure(c.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 8 }, signal()))).code).toBe('bad-request');
    expect((await failure(c.revoke({ serial: issued.serial, issuer: 'CN=Someone Else', reason: 1 }, signal()))).code).toBe('not-found');
    expect(rowOf(issued)?.status).toBe('good');
  });

  it('answers misconfigured when the certdb cannot be read, and says so in health', async () => {
    const c = await connect({ certdb: join(dir, 'no-such.db') });
    const issued = await c.issue(await issueRequest('no-certdb', ['nocertdb.example.test'], TEMPLATE), signal());
    const err = await failure(c.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal()));
    expect(err.code).toBe('misconfigured');
    expect(err.message).toContain('no-such.db');
    expect(await c.health(signal())).toMatchObject({ ok: false });
  });

  // ------------------------------------------------------------ start, trust, health

  it('starts while cfssl is down, reports unhealthy, and works once it is up', async () => {
    await backend.stopCfssl();
    const c = await connect();
    expect(c.caCertificatesPem()).toEqual([]);
    expect(await c.health(signal())).toMatchObject({ ok: false });
    await backend.startCfssl();
    expect(await c.health(signal())).toMatchObject({ ok: true });
    expect(c.caCertificatesPem().map((p) => p.trim())).toEqual([backend.caPem.trim()]);
  });

  it('answers unavailable for a cfssl URL where nothing listens', async () => {
    const c = await connect({ url: `http://127.0.0.1:${await freePort()}` });
    const err = await failure(c.issue(await issueRequest('nobody', ['nobody.example.test'], TEMPLATE), signal()));
    expect(err.code).toBe('unavailable');
  });
});
