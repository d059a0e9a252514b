import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, send, sendRaw, startGateway, startUpstream, type Gateway, type Upstream } from './helpers.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('proxy middleware', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const upstream = async (...args: Parameters<typeof startUpstream>) => {
    const u = await startUpstream(...args);
    cleanups.push(u.close);
    return u;
  };
  const gateway = async (...args: Parameters<typeof startGateway>) => {
    const g = await startGateway(...args);
    cleanups.push(g.close);
    return g;
  };
  const echo: http.RequestListener = (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${req.method} ${req.url}`);
  };

  describe('routing', () => {
    let up: Upstream;
    let gw: Gateway;
    beforeEach(async () => {
      up = await upstream(echo);
      gw = await gateway([
        { prefix: '/ocsp', target: `${up.url}/status/ocsp`, methods: ['GET', 'POST'] },
        { prefix: '/pki', target: `${up.url}/public/`, methods: ['GET'] },
        { prefix: '/pki/crl', target: `${up.url}/crls`, methods: ['GET'] },
      ]);
    });

    it('forwards the path below the prefix, and the query, under the target path', async () => {
      const r = await send(gw.port, { path: '/ocsp/MEow/abc?x=1&y=2' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('GET /status/ocsp/MEow/abc?x=1&y=2');
      expect(r.headers['content-type']).toBe('text/plain');
    });

    it('maps the prefix alone onto the target path', async () => {
      const r = await send(gw.port, { method: 'POST', path: '/ocsp', body: 'x' });
      expect(r.body.toString()).toBe('POST /status/ocsp');
      expect((await send(gw.port, { path: '/pki' })).body.toString()).toBe('GET /public/');
      expect((await send(gw.port, { path: '/pki/a.crt' })).body.toString()).toBe('GET /public/a.crt');
    });

    it('picks the longest matching prefix', async () => {
      expect((await send(gw.port, { path: '/pki/crl/ca.crl' })).body.toString()).toBe('GET /crls/ca.crl');
    });

    it('keeps empty segments and encoded slashes as sent (base64 in OCSP GET requests)', async () => {
      const path = '/ocsp/MEIwQDA%2BMDwwOjAJBgUrDgMCGgUABBQ//abc%2F%2Fdef%3D';
      expect((await send(gw.port, { path })).body.toString()).toBe(`GET /status/ocsp/MEIwQDA%2BMDwwOjAJBgUrDgMCGgUABBQ//abc%2F%2Fdef%3D`);
    });

    it('passes requests outside every prefix to the next middleware', async () => {
      for (const path of ['/ocspx', '/other', '/', '/oc']) {
        const r = await send(gw.port, { path });
        expect(r.status, path).toBe(404);
        expect(r.body.toString(), path).toBe('gateway');
      }
      expect(up.seen).toHaveLength(0);
    });

    it('sends the target authority as Host, whatever Host the client sent', async () => {
      await send(gw.port, { path: '/ocsp/x', headers: { host: 'evil.example:666' } });
      expect(up.seen[0]?.headers.host).toBe(`127.0.0.1:${up.port}`);
      expect(up.seen[0]?.headers['x-forwarded-host']).toBe('evil.example:666');
    });

    it('ignores the authority of an absolute-form request line', async () => {
      const r = await send(gw.port, { path: 'http://evil.example:81/ocsp/abs?q=1', headers: { host: 'evil.example:81' } });
      expect(r.body.toString()).toBe('GET /status/ocsp/abs?q=1');
      expect(up.seen).toHaveLength(1);
      expect(up.seen[0]?.headers.host).toBe(`127.0.0.1:${up.port}`);
    });

    it('answers 405 with Allow to a method the route does not allow, without asking the upstream', async () => {
      for (const method of ['PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']) {
        const r = await send(gw.port, { method, path: '/ocsp/x' });
        expect(r.status, method).toBe(405);
        expect(r.headers.allow, method).toBe('GET, POST');
      }
      expect((await send(gw.port, { method: 'POST', path: '/pki/x' })).headers.allow).toBe('GET');
      expect(up.seen).toHaveLength(0);
      expect(await gw.count('/ocsp', 'method_not_allowed')).toBe(5);
    });

    it('allows GET and HEAD when a route names no methods', async () => {
      const g = await gateway([{ prefix: '/ca', target: up.url }]);
      expect((await send(g.port, { method: 'HEAD', path: '/ca/x' })).status).toBe(200);
      expect((await send(g.port, { path: '/ca/x' })).body.toString()).toBe('GET /x');
      expect((await send(g.port, { method: 'POST', path: '/ca/x' })).status).toBe(405);
    });
  });

  describe('path traversal', () => {
    let up: Upstream;
    let gw: Gateway;
    beforeEach(async () => {
      up = await upstream(echo);
      gw = await gateway([{ prefix: '/ocsp', target: `${up.url}/status/ocsp`, methods: ['GET', 'POST'] }]);
    });

    const refused = [
      '/ocsp/../admin',
      '/ocsp/..',
      '/ocsp/./x',
      '/ocsp/a/../../admin',
      '/ocsp/%2e%2e/admin',
      '/ocsp/%2E%2e/admin',
      '/ocsp/.%2e/admin',
      '/ocsp/..%2fadmin',
      '/ocsp/a%2f..%2f..%2fadmin',
      '/ocsp/%252e%252e/admin', // decoded twice by a careless upstream
      '/ocsp/%25252e%25252e/admin',
      '/ocsp/..\\admin',
      '/ocsp/..%5cadmin',
      '/ocsp/x%5c..%5c..%5cadmin',
      '/ocsp/..;/admin', // servlet containers drop ";..." before resolving
      '/ocsp/..;jsessionid=1/admin',
      '/ocsp/.../admin',
      '/ocsp/%00',
      '/ocsp/a%zz',
      '/ocsp/a#b',
      '/ocsp/a"b',
      '/ocsp/a<b>',
      '/ocsp/a|b',
      '/ocsp/a^b',
      '/ocsp/a%20b/%2e%2e%20', // ".. " after decoding, which Windows servers take for ".."
    ];

    it.each(refused)('answers 400 to %s without asking the upstream', async (path) => {
      const r = await sendRaw(gw.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(r.status).toBe(400);
      expect(r.body.toString()).toBe('bad request: path not allowed\n');
      expect(up.seen).toHaveLength(0);
      expect(await gw.count('/ocsp', 'bad_path')).toBe(1);
      expect(gw.log.lines.at(-1)).toMatchObject({ level: 'info', obj: { route: '/ocsp', status: 400, outcome: 'bad_path' } });
    });

    it('refuses an absolute-form request line with a traversal in its path', async () => {
      expect((await send(gw.port, { path: 'http://127.0.0.1/ocsp/%2e%2e/admin' })).status).toBe(400);
      expect(up.seen).toHaveLength(0);
    });

    it('forwards names that only contain dots', async () => {
      for (const path of ['/ocsp/.well-known/x', '/ocsp/a..b', '/ocsp/ca.crl', '/ocsp/x.']) {
        expect((await send(gw.port, { path })).status, path).toBe(200);
      }
    });
  });

  describe('headers', () => {
    let up: Upstream;
    beforeEach(async () => {
      up = await upstream((req, res) => {
        res.setHeader('set-cookie', 'legacy=1; Path=/');
        res.setHeader('x-upstream', 'yes');
        res.setHeader('keep-alive', 'timeout=5');
        res.setHeader('proxy-authenticate', 'Basic');
        res.end('ok');
      });
    });

    it('strips credentials, cookies, hop-by-hop and client-sent forwarding headers from requests', async () => {
      const gw = await gateway([{ prefix: '/ca', target: up.url }]);
      await send(gw.port, {
        path: '/ca/x',
        headers: {
          authorization: 'Bearer secret',
          'proxy-authorization': 'Basic c2VjcmV0',
          'proxy-foo': 'bar',
          cookie: 'session=gateway',
          connection: 'close, x-secret-hop, content-length',
          'x-secret-hop': 'hop',
          te: 'trailers',
          forwarded: 'for=6.6.6.6',
          'x-forwarded-for': '6.6.6.6',
          'x-forwarded-proto': 'https',
          'x-real-ip': '6.6.6.6',
          'x-keep': 'kept',
          accept: 'application/pkix-crl',
        },
      });
      const h = up.seen[0]!.headers;
      for (const name of ['authorization', 'proxy-authorization', 'proxy-foo', 'cookie', 'x-secret-hop', 'te', 'forwarded', 'x-real-ip']) {
        expect(h[name], name).toBeUndefined();
      }
      expect(h.connection ?? 'keep-alive').toBe('keep-alive'); // the gateway's own connection to the upstream, not the client's
      expect(h['x-keep']).toBe('kept');
      expect(h.accept).toBe('application/pkix-crl');
      expect(h['x-forwarded-for']).toBe('127.0.0.1');
      expect(h['x-forwarded-proto']).toBe('http');
      expect(h['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    });

    it('appends to X-Forwarded-For and keeps the front proxy\'s proto and host when the gateway trusts it', async () => {
      const gw = await gateway([{ prefix: '/ca', target: up.url }], { trustProxy: true });
      await send(gw.port, { path: '/ca/x', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'pki.example.com' } });
      const h = up.seen[0]!.headers;
      expect(h['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(h['x-forwarded-proto']).toBe('https');
      expect(h['x-forwarded-host']).toBe('pki.example.com');
    });

    it('strips Set-Cookie and hop-by-hop headers from responses', async () => {
      const gw = await gateway([{ prefix: '/ca', target: up.url }]);
      const r = await send(gw.port, { path: '/ca/x' });
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(r.headers['proxy-authenticate']).toBeUndefined();
      expect(r.headers['keep-alive']).toBeUndefined();
      expect(r.headers['x-upstream']).toBe('yes');
    });
  });

  describe('streaming', () => {
    it('carries an 8 MiB body up and another down intact', async () => {
      const down = randomBytes(8 * MiB);
      let upHash = '';
      const up = await upstream((req, res) => {
        const h = createHash('sha256');
        req.on('data', (c: Buffer) => h.update(c));
        req.on('end', () => {
          upHash = h.digest('hex');
          res.setHeader('content-type', 'application/octet-stream');
          res.end(down);
        });
      });
      const gw = await gateway([{ prefix: '/ca', target: up.url, methods: ['POST'] }]);
      const body = randomBytes(8 * MiB);
      const r = await send(gw.port, { method: 'POST', path: '/ca/blob', body, headers: { 'content-type': 'application/octet-stream' } });
      expect(r.status).toBe(200);
      expect(upHash).toBe(sha256(body));
      expect(sha256(r.body)).toBe(sha256(down));
      expect(await gw.count('/ca', 'ok')).toBe(1);
    });

    it('hands each chunk of a slow chunked upstream to the client before the next one exists', async () => {
      const next: (() => void)[] = [];
      const up = await upstream((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }); // no length: chunked
        let i = 0;
        const write = () => {
          if (i === 3) return res.end('end');
          res.write(`chunk${i++};`);
          next.push(write); // the next chunk is written only when the test says so
        };
        write();
      });
      const gw = await gateway([{ prefix: '/ca', target: up.url, timeoutMs: 5_000 }]);
      const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ host: '127.0.0.1', port: gw.port, path: '/ca/slow', agent: false }, resolve));
      expect(res.headers['transfer-encoding']).toBe('chunked');
      let received = '';
      let tail: Promise<string> | undefined;
      for (let i = 0; i < 3; i++) {
        const [chunk] = (await once(res, 'data')) as [Buffer];
        received += chunk.toString();
        expect(received).toBe(Array.from({ length: i + 1 }, (_, k) => `chunk${k};`).join(''));
        if (i === 2) {
          tail = new Promise((resolve) => {
            let rest = '';
            res.on('data', (c: Buffer) => (rest += c.toString()));
            res.on('end', () => resolve(rest));
          });
        }
        next.shift()!();
      }
      expect(await tail).toBe('end');
    });

    it('hands the start of an upload to the upstream before the client has sent the rest', async () => {
      let gotFirst: (text: string) => void = () => undefined;
      const firstChunk = new Promise<string>((resolve) => {
        gotFirst = resolve;
      });
      const up = await upstream((req, res) => {
        req.once('data', (c: Buffer) => gotFirst(c.toString()));
        req.on('end', () => res.end('done'));
      });
      const gw = await gateway([{ prefix: '/ca', target: up.url, methods: ['POST'], timeoutMs: 5_000 }]);
      const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'POST', path: '/ca/upload', agent: false });
      const response = new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      req.write('first part;'); // chunked, and the request stays open
      expect(await firstChunk).toBe('first part;');
      req.end('second part');
      const res = await response;
      expect(res.statusCode).toBe(200);
      res.resume();
    });
  });

  describe('when the upstream fails', () => {
    it('answers 502 with a short text body when the upstream is down', async () => {
      const probe = net.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const gw = await gateway([{ prefix: '/crl', target: `http://127.0.0.1:${port}/crl` }]);

      const r = await send(gw.port, { path: '/crl/ca.crl' });
      expect(r.status).toBe(502);
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(r.body.toString()).toBe('upstream unavailable\n');
      expect(await gw.count('/crl', 'upstream_error')).toBe(1);
      const warn = gw.log.lines.filter((l) => l.level === 'warn');
      expect(warn).toHaveLength(1);
      expect(warn[0]).toMatchObject({ msg: 'proxy failed', obj: { route: '/crl', outcome: 'upstream_error', code: 'ECONNREFUSED' } });
    });

    it('answers 504 when the upstream accepts but stays silent past the route timeout', async () => {
      const up = await upstream(() => undefined); // never answers
      const gw = await gateway([{ prefix: '/ocsp', target: up.url, timeoutMs: 200 }]);
      const r = await send(gw.port, { path: '/ocsp/x' });
      expect(r.status).toBe(504);
      expect(r.body.toString()).toBe('upstream timed out\n');
      expect(await gw.count('/ocsp', 'upstream_timeout')).toBe(1);
      expect(gw.log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    });

    it('answers 504 when the connection to the upstream cannot be made in time', async () => {
      const gw = await gateway([{ prefix: '/ocsp', target: 'http://192.0.2.1:81', timeoutMs: 200 }]); // TEST-NET-1, unroutable
      const r = await send(gw.port, { path: '/ocsp/x' });
      expect([502, 504]).toContain(r.status); // 504 where packets vanish; 502 where the network says unreachable at once
      expect((await gw.count('/ocsp', 'upstream_timeout')) + (await gw.count('/ocsp', 'upstream_error'))).toBe(1);
    });

    it('cuts the client connection when the upstream stalls mid-body, instead of hanging', async () => {
      const up = await upstream((_req, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part of it'); // and nothing more
      });
      const gw = await gateway([{ prefix: '/ca', target: up.url, timeoutMs: 200 }]);
      const outcome = await new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port: gw.port, path: '/ca/x', agent: false }, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve('ended'));
          res.on('error', () => resolve('cut'));
          res.on('aborted', () => resolve('cut'));
        }).on('error', () => resolve('cut'));
      });
      expect(outcome).toBe('cut');
      expect(await gw.count('/ca', 'upstream_timeout')).toBe(1);
    });

    it('cuts the client connection when the upstream closes mid-body', async () => {
      const up = await upstream((_req, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part of it', () => res.destroy());
      });
      const gw = await gateway([{ prefix: '/ca', target: up.url }]);
      const outcome = await new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port: gw.port, path: '/ca/x', agent: false }, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve('ended'));
          res.on('error', () => resolve('cut'));
        }).on('error', () => resolve('cut'));
      });
      expect(outcome).toBe('cut');
      expect(await gw.count('/ca', 'upstream_aborted')).toBe(1);
    });

    it('passes an upstream error status through as it is', async () => {
      const up = await upstream((_req, res) => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('legacy down for maintenance');
      });
      const gw = await gateway([{ prefix: '/ca', target: up.url }]);
      const r = await send(gw.port, { path: '/ca/x' });
      expect(r.status).toBe(503);
      expect(r.body.toString()).toBe('legacy down for maintenance');
      expect(await gw.count('/ca', 'ok')).toBe(1);
    });
  });

  describe('upstream TLS', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'proxy-tls-'));
      return () => rm(dir, { recursive: true, force: true });
    });

    it('trusts the upstream through the route\'s own CA file', async () => {
      const ca = await makeCa('Upstream Test CA');
      const up = await upstream(echo, await issue(ca, 'server'));
      await writeFile(join(dir, 'ca.pem'), ca.certPem);
      const gw = await gateway([{ prefix: '/ocsp', target: `${up.url}/status`, methods: ['GET'], tls: { caFile: join(dir, 'ca.pem') } }]);
      const r = await send(gw.port, { path: '/ocsp/x' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('GET /status/x');
    });

    it('answers 502 when the upstream certificate is not from the configured CA', async () => {
      const ca = await makeCa('Upstream Test CA');
      const other = await makeCa('Some Other CA');
      const up = await upstream(echo, await issue(ca, 'server'));
      const gw = await gateway([{ prefix: '/ocsp', target: up.url, tls: { ca: other.certPem } }]);
      const r = await send(gw.port, { path: '/ocsp/x' });
      expect(r.status).toBe(502);
      expect(up.seen).toHaveLength(0);
      expect(gw.log.lines.find((l) => l.level === 'warn')?.obj).toMatchObject({ outcome: 'upstream_error' });
    });

    it('answers 502 against the system trust store when the route names no CA', async () => {
      const ca = await makeCa('Upstream Test CA');
      const up = await upstream(echo, await issue(ca, 'server'));
      const gw = await gateway([{ prefix: '/ocsp', target: up.url }]);
      expect((await send(gw.port, { path: '/ocsp/x' })).status).toBe(502);
    });

    it('checks the name against tls.servername when given', async () => {
      const ca = await makeCa('Upstream Test CA');
      const up = await upstream(echo, await issue(ca, 'server'));
      const good = await gateway([{ prefix: '/a', target: up.url, tls: { ca: ca.certPem, servername: 'upstream.test' } }]);
      expect((await send(good.port, { path: '/a/x' })).status).toBe(200);
      const bad = await gateway([{ prefix: '/a', target: up.url, tls: { ca: ca.certPem, servername: 'other.test' } }]);
      expect((await send(bad.port, { path: '/a/x' })).status).toBe(502);
    });

    it('presents the client certificate to an upstream that asks for one', async () => {
      const ca = await makeCa('Upstream Test CA');
      const server = await issue(ca, 'server');
      const client = await issue(ca, 'client');
      const up = await upstream((req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.end(peer.subject?.CN ?? 'none');
      }, { ...server, ca: ca.certPem, requestCert: true });
      const gw = await gateway([{ prefix: '/a', target: up.url, tls: { ca: ca.certPem, clientCert: client.cert, clientKey: client.key } }]);
      const r = await send(gw.port, { path: '/a/x' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('client.test');
      const without = await gateway([{ prefix: '/a', target: up.url, tls: { ca: ca.certPem } }]);
      expect((await send(without.port, { path: '/a/x' })).status).toBe(502);
    });
  });
});
