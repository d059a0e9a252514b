import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import { ProxyRoutesSchema, type ProxyRouteInput } from '../../../src/proxy/config.js';
import { probeRoutes } from '../../../src/proxy/probe.js';
import { issue, makeCa, startUpstream, type Upstream } from './helpers.js';

describe('probeRoutes', () => {
  const ups: Upstream[] = [];
  afterEach(async () => {
    for (const u of ups.splice(0)) await u.close();
  });
  const upstream = async (...args: Parameters<typeof startUpstream>) => {
    const u = await startUpstream(...args);
    ups.push(u);
    return u;
  };
  const routes = (rs: ProxyRouteInput[]) => ProxyRoutesSchema.parse(rs);
  const freePort = async () => {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  };

  it('reports each route in config order: up with its status, down with the reason', async () => {
    const up = await upstream((_req, res) => {
      res.statusCode = 405; // an OCSP responder asked with GET on its base URL: still there
      res.end();
    });
    const down = await freePort();
    const health = await probeRoutes(routes([
      { prefix: '/ocsp', target: `${up.url}/ocsp`, methods: ['GET', 'POST'] },
      { prefix: '/crl', target: `http://127.0.0.1:${down}/crl` },
    ]));
    expect(health).toMatchObject([
      { prefix: '/ocsp', ok: true, status: 405, detail: expect.stringMatching(/^HTTP 405 in \d+ ms$/) },
      { prefix: '/crl', ok: false, detail: 'connection refused', target: `http://127.0.0.1:${down}/crl` },
    ]);
    expect(up.seen).toEqual([expect.objectContaining({ method: 'GET', url: '/ocsp' })]);
  });

  it('asks with HEAD when the route allows it, and counts a 5xx as not ok', async () => {
    const up = await upstream((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const [h] = await probeRoutes(routes([{ prefix: '/ca', target: up.url }]));
    expect(up.seen[0]?.method).toBe('HEAD');
    expect(h).toMatchObject({ ok: false, status: 503, detail: expect.stringMatching(/^HTTP 503/) });
  });

  it('gives up after the route timeout', async () => {
    const up = await upstream(() => undefined);
    const [h] = await probeRoutes(routes([{ prefix: '/ca', target: up.url, timeoutMs: 150 }]));
    expect(h).toMatchObject({ ok: false, detail: 'timed out after 150 ms' });
  });

  it('uses the route TLS settings and reports an untrusted certificate', async () => {
    const ca = await makeCa('Probe CA');
    const up = await upstream((_req, res) => res.end('ok'), await issue(ca, 'server'));
    const [trusted, untrusted] = await probeRoutes(routes([
      { prefix: '/a', target: up.url, tls: { ca: ca.certPem } },
      { prefix: '/b', target: up.url },
    ]));
    expect(trusted).toMatchObject({ ok: true, status: 200 });
    expect(untrusted).toMatchObject({ ok: false, detail: expect.stringMatching(/certificate/i) });
  });

  it('reports a CA file that cannot be read instead of throwing', async () => {
    const [h] = await probeRoutes(routes([{ prefix: '/a', target: 'https://127.0.0.1:1/', tls: { caFile: '/nonexistent/ca.pem' } }]));
    expect(h).toMatchObject({ ok: false, detail: expect.stringMatching(/tls\.caFile \/nonexistent\/ca\.pem cannot be read/) });
  });
});
