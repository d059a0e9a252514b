/**
 * The front door (issue #7): the gateway serves ACME, the built-in CA's OCSP (at the URL its
 * certificates name in AIA), its CRL, proxied legacy pages, /health and /metrics on one origin,
 * and it mounts under a prefix inside a host Koa app.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import acme from 'acme-client';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectorSchemas } from '../../connectors/index.js';
import { createGateway } from '../../src/app/gateway.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const run = promisify(execFile);

function fetchText(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function issue(directoryUrl: string, ca: string | undefined, names: string[]): Promise<{ client: acme.Client; cert: string }> {
  acme.axios.defaults.httpsAgent = new https.Agent(ca ? { ca } : {});
  const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateKey() });
  await client.createAccount({ termsOfServiceAgreed: true });
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
  const order = await client.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })) });
  const done = await client.finalizeOrder(order, csr);
  return { client, cert: await client.getCertificate(done) };
}

describe('one front door', () => {
  let gw: TestGateway;
  let upstream: http.Server;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'front-door-'));
    upstream = http.createServer((req, res) => res.end(`legacy page ${req.method} ${req.url} for ${req.headers['x-forwarded-for']}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    gw = await startTestGateway({
      profiles: { default: { validation: 'none' } },
      proxy: { routes: [{ prefix: '/ra', target: `http://127.0.0.1:${port}/ejbca/publicweb`, methods: ['GET'] }] },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('proxies a configured legacy route and refuses a method it does not allow', async () => {
    const page = await fetchText(`${gw.baseUrl}/ra/status?x=1`, gw.caPem);
    expect(page).toEqual({ status: 200, body: 'legacy page GET /ejbca/publicweb/status?x=1 for 127.0.0.1' });
    const post = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${gw.baseUrl}/ra/status`, { method: 'POST', ca: gw.caPem }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('x');
    });
    expect(post).toBe(405);
  });

  it('answers OCSP at the URL the certificate names, good then revoked, verified by openssl', async () => {
    const { client, cert } = await issue(gw.directoryUrl, gw.caPem, ['door.example.test']);
    const [leafPem, issuingPem] = cert.split(/(?<=-----END CERTIFICATE-----\n?)/).filter((p) => p.includes('BEGIN'));
    const aia = new X509Certificate(leafPem ?? '').infoAccess ?? '';
    const ocspUrl = /OCSP - URI:(\S+)/.exec(aia)?.[1];
    expect(ocspUrl).toBe(`${gw.baseUrl}/ocsp/embedded`);
    await writeFile(path.join(dir, 'leaf.pem'), leafPem ?? '');
    await writeFile(path.join(dir, 'issuing.pem'), issuingPem ?? '');
    // openssl speaks plain HTTP for OCSP; the same route answers on the gateway's TLS port, so the
    // check goes through a loopback TLS-unwrapping hop: openssl -> http -> gateway https.
    const hop = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const out = https.request(`${gw.baseUrl}${req.url}`, { method: req.method, ca: gw.caPem, headers: { 'content-type': req.headers['content-type'] ?? '' } }, (r) => {
          res.writeHead(r.statusCode ?? 502, { 'content-type': r.headers['content-type'] ?? '' });
          r.pipe(res);
        });
        out.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => hop.listen(0, '127.0.0.1', r));
    const hopUrl = `http://127.0.0.1:${(hop.address() as AddressInfo).port}/ocsp/embedded`;
    const ask = async () => (await run('openssl', ['ocsp', '-issuer', path.join(dir, 'issuing.pem'), '-cert', path.join(dir, 'leaf.pem'), '-url', hopUrl, '-CAfile', gw.caBundlePath])).stdout + '';
    try {
      expect(await ask()).toMatch(/leaf\.pem: good/);
      await client.revokeCertificate(cert, { reason: 1 });
      const after = await ask();
      expect(after).toMatch(/leaf\.pem: revoked/);
      expect(after).toMatch(/Reason: keyCompromise/);
    } finally {
      hop.close();
    }
  });

  it('reports connectors and proxy routes at /health, and Prometheus metrics at /metrics', async () => {
    const health = await fetchText(`${gw.baseUrl}/health`, gw.caPem);
    expect(health.status).toBe(200);
    const body = JSON.parse(health.body) as { ok: boolean; connectors: { name: string; ok: boolean }[]; proxy: { prefix: string; ok: boolean }[] };
    expect(body.ok).toBe(true);
    expect(body.connectors).toEqual([expect.objectContaining({ name: 'embedded', ok: true })]);
    expect(body.proxy).toEqual([expect.objectContaining({ prefix: '/ra', ok: true })]);
    const metrics = await fetchText(`${gw.baseUrl}/metrics`, gw.caPem);
    expect(metrics.body).toMatch(/acme_gateway_http_requests_total\{group="acme",status="2xx"\} \d+/);
    expect(metrics.body).toMatch(/acme_gateway_proxy_requests_total\{route="\/ra",outcome="ok"\} \d+/);
  });
});

describe('mounted inside an existing Koa app under a prefix', () => {
  it('serves the whole ACME flow with links, Location and nonces under the prefix', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mounted-'));
    const host = new Koa();
    // The host app is listening before the gateway exists (its baseUrl needs the port).
    const slot: { mounted?: Koa.Middleware } = {};
    host.use(async (ctx, next) => {
      if (ctx.path === '/') {
        ctx.body = 'the host app';
        return;
      }
      await (slot.mounted ? slot.mounted(ctx, next) : next());
    });
    const server = host.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const result = validateConfig(
      { dataDir, server: { baseUrl: `http://127.0.0.1:${port}/pki`, tls: { mode: 'off' } }, profiles: { default: { validation: 'none' } } },
      connectorSchemas(),
    );
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const gateway = await createGateway(result.config, { log: silentLogger });
    gateway.start();
    slot.mounted = gateway.middleware('/pki');
    try {
      expect((await fetchText(`http://127.0.0.1:${port}/`, '')).body).toBe('the host app');
      const directoryUrl = `http://127.0.0.1:${port}/pki/acme/default/directory`;
      const directory = JSON.parse((await fetchText(directoryUrl, '')).body) as { newOrder: string };
      expect(directory.newOrder).toBe(`http://127.0.0.1:${port}/pki/acme/default/new-order`);
      const { client, cert } = await issue(directoryUrl, undefined, ['mounted.example.test']);
      expect(client.getAccountUrl()).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/pki/acme/default/acct/`));
      expect(cert).toContain('BEGIN CERTIFICATE');
    } finally {
      await gateway.stop();
      server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
