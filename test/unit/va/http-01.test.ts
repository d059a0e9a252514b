import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttp01Validator } from '../../../src/va/http-01.js';
import { createNetClient } from '../../../src/va/net-node.js';
import type { ValidationInput } from '../../../src/va/validator.js';
import { startChalltestsrv, type Challtestsrv } from '../../fakes/challtestsrv.js';
import {
  closedPort,
  keyAuthorizationFor,
  selfSignedCert,
  startHttpServer,
  startHttpsServer,
  startSilentServer,
  type TestServer,
} from './fixtures.js';

const TOKEN = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const KEY_AUTHORIZATION = keyAuthorizationFor(TOKEN);
const PATH = `/.well-known/acme-challenge/${TOKEN}`;
const input = (value = 'a.example.test', type: 'dns' | 'ip' = 'dns'): ValidationInput => ({
  identifier: { type, value },
  wildcard: false,
  token: TOKEN,
  keyAuthorization: KEY_AUTHORIZATION,
});
const signal = (): AbortSignal => AbortSignal.timeout(5_000);

let dns: Challtestsrv;
const servers: TestServer[] = [];
beforeAll(async () => {
  dns = await startChalltestsrv({ http01: false });
});
afterAll(async () => {
  await dns.stop();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Parameters<typeof startHttpServer>[0]): Promise<TestServer> {
  const server = await startHttpServer(handler);
  servers.push(server);
  return server;
}

function validatorFor(port: number, opts: { tlsPort?: number; timeoutMs?: number; maxBodyBytes?: number; maxRedirects?: number } = {}) {
  const net = createNetClient({ dnsResolver: dns.dns, http01Port: port, tlsAlpn01Port: opts.tlsPort ?? 1, timeoutMs: opts.timeoutMs ?? 5_000 });
  return createHttp01Validator(net, { maxBodyBytes: opts.maxBodyBytes ?? 1024, maxRedirects: opts.maxRedirects ?? 10 });
}

describe('http-01', () => {
  it('is valid when the body is the key authorization, ignoring trailing whitespace', async () => {
    const server = await serve((req, res) => {
      if (req.url === PATH) res.end(`${KEY_AUTHORIZATION}\r\n \t\n`);
      else res.writeHead(404).end();
    });
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result).toEqual({
      status: 'valid',
      records: [
        {
          url: `http://a.example.test:${server.port}${PATH}`,
          hostname: 'a.example.test',
          port: String(server.port),
          addressesResolved: ['127.0.0.1'],
          addressUsed: '127.0.0.1',
          resolver: dns.dnsAddress,
        },
      ],
    });
    expect(server.seen).toEqual([{ host: 'a.example.test', path: PATH }]);
  });

  it('sends the address as Host for an IP identifier and skips DNS (RFC 8738 §4-5)', async () => {
    const server = await serve((_req, res) => res.end(KEY_AUTHORIZATION));
    const result = await validatorFor(server.port).validate(input('127.0.0.1', 'ip'), signal());
    expect(result.status).toBe('valid');
    expect(result.records[0]).toEqual({
      url: `http://127.0.0.1:${server.port}${PATH}`,
      hostname: '127.0.0.1',
      port: String(server.port),
      addressesResolved: ['127.0.0.1'],
      addressUsed: '127.0.0.1',
    });
    expect(server.seen[0]?.host).toBe('127.0.0.1');
  });

  it('refuses a body holding another key authorization with incorrectResponse', async () => {
    const server = await serve((_req, res) => res.end(keyAuthorizationFor(TOKEN, 'another-thumbprint')));
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('incorrectResponse');
    expect(result.problem.detail).toBe(
      `http-01: GET http://a.example.test:${server.port}${PATH} returned the key authorization "${TOKEN}.another-thumbprint"; expected "${KEY_AUTHORIZATION}"`,
    );
    expect(result.records[0]?.addressUsed).toBe('127.0.0.1');
  });

  it('refuses a body that is not a key authorization without echoing it', async () => {
    const server = await serve((_req, res) => res.end('<html>secret internal page</html>'));
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status === 'invalid' && result.problem.type).toBe('incorrectResponse');
    expect(result.status === 'invalid' && result.problem.detail).not.toContain('secret');
  });

  it('refuses a 404 with unauthorized, naming the URL and the status', async () => {
    const server = await serve((_req, res) => res.writeHead(404).end('not here'));
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('unauthorized');
    expect(result.problem.status).toBe(403);
    expect(result.problem.detail).toBe(`http-01: GET http://a.example.test:${server.port}${PATH} returned 404`);
  });

  it('follows a redirect to another path and another name, on the configured port', async () => {
    const server = await serve((req, res) => {
      if (req.url === PATH) res.writeHead(302, { Location: '/moved' }).end();
      else if (req.url === '/moved') res.writeHead(301, { Location: 'http://b.example.test/final' }).end();
      else if (req.url === '/final') res.end(KEY_AUTHORIZATION);
      else res.writeHead(404).end();
    });
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status).toBe('valid');
    expect(result.records.map((r) => r.url)).toEqual([
      `http://a.example.test:${server.port}${PATH}`,
      `http://a.example.test:${server.port}/moved`,
      `http://b.example.test:${server.port}/final`,
    ]);
    expect(result.records[2]).toMatchObject({ hostname: 'b.example.test', addressUsed: '127.0.0.1', resolver: dns.dnsAddress });
    expect(server.seen.map((s) => s.host)).toEqual(['a.example.test', 'a.example.test', 'b.example.test']);
  });

  it('follows a redirect to https without verifying the certificate', async () => {
    const cert = await selfSignedCert({ san: [{ type: 'dns', value: 'unrelated.example.test' }] });
    const secure = await startHttpsServer(cert, (_req, res) => res.end(KEY_AUTHORIZATION));
    servers.push(secure);
    const server = await serve((_req, res) => res.writeHead(307, { Location: 'https://a.example.test/secure' }).end());
    const result = await validatorFor(server.port, { tlsPort: secure.port }).validate(input(), signal());
    expect(result.status).toBe('valid');
    expect(result.records.map((r) => r.url)).toEqual([`http://a.example.test:${server.port}${PATH}`, `https://a.example.test:${secure.port}/secure`]);
    expect(secure.seen).toEqual([{ host: 'a.example.test', path: '/secure' }]);
  });

  it('refuses a redirect loop with connection', async () => {
    const server = await serve((req, res) => res.writeHead(302, { Location: req.url === PATH ? '/other' : PATH }).end());
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('connection');
    expect(result.problem.detail).toBe(
      `http-01: GET http://a.example.test:${server.port}${PATH} failed: redirect loop: http://a.example.test:${server.port}${PATH} was already fetched`,
    );
  });

  it('refuses more redirects than the limit', async () => {
    let n = 0;
    const server = await serve((_req, res) => res.writeHead(302, { Location: `/hop/${++n}` }).end());
    const result = await validatorFor(server.port, { maxRedirects: 3 }).validate(input(), signal());
    expect(result.status === 'invalid' && result.problem.type).toBe('connection');
    expect(result.status === 'invalid' && result.problem.detail).toContain('more than 3 redirects');
    expect(server.seen).toHaveLength(4);
  });

  it('refuses a redirect to a port other than 80 and 443', async () => {
    const server = await serve((_req, res) => res.writeHead(302, { Location: 'http://a.example.test:8080/x' }).end());
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status === 'invalid' && result.problem.type).toBe('connection');
    expect(result.status === 'invalid' && result.problem.detail).toContain(
      'redirect http://a.example.test:8080/x uses port 8080; only ports 80 and 443 are followed',
    );
  });

  it('refuses a redirect to a scheme other than http and https', async () => {
    const server = await serve((_req, res) => res.writeHead(302, { Location: 'ftp://a.example.test/x' }).end());
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result.status === 'invalid' && result.problem.detail).toContain('redirect ftp://a.example.test/x is not http or https');
  });

  it('aborts a body larger than the limit, with or without Content-Length', async () => {
    const big = 'x'.repeat(64 * 1024);
    const declared = await serve((_req, res) => res.end(big));
    const chunked = await serve((_req, res) => {
      res.write(big.slice(0, 600));
      res.write(big.slice(600, 1200));
      res.end(big.slice(1200));
    });
    for (const server of [declared, chunked]) {
      const result = await validatorFor(server.port, { maxBodyBytes: 1024 }).validate(input(), signal());
      expect(result.status === 'invalid' && result.problem.type).toBe('connection');
      expect(result.status === 'invalid' && result.problem.detail).toContain('is larger than 1024 bytes');
    }
  });

  it('gives up on a server that never answers when the signal fires', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const result = await validatorFor(silent.port).validate(input(), AbortSignal.timeout(200));
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('connection');
    expect(result.problem.detail).toBe(
      `http-01: GET http://a.example.test:${silent.port}${PATH} failed: no answer from 127.0.0.1:${silent.port} before the deadline`,
    );
  });

  it('gives up on a server that never answers after the net client timeout', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const result = await validatorFor(silent.port, { timeoutMs: 200 }).validate(input(), signal());
    expect(result.status === 'invalid' && result.problem.detail).toContain('before the deadline');
  });

  it('reports a refused connection with connection', async () => {
    const port = await closedPort();
    const result = await validatorFor(port).validate(input(), signal());
    expect(result.status === 'invalid' && result.problem.type).toBe('connection');
    expect(result.status === 'invalid' && result.problem.detail).toContain(`connection to 127.0.0.1:${port} refused`);
  });

  it('reports a failing DNS lookup with dns', async () => {
    await dns.setServfail('broken.example.test');
    const server = await serve((_req, res) => res.end(KEY_AUTHORIZATION));
    const result = await validatorFor(server.port).validate(input('broken.example.test'), signal());
    expect(result.status).toBe('invalid');
    if (result.status !== 'invalid') return;
    expect(result.problem.type).toBe('dns');
    expect(result.problem.detail).toContain('broken.example.test failed: the server answered SERVFAIL');
    expect(server.seen).toHaveLength(0);
  });

  it('reports a name without A or AAAA records with dns', async () => {
    const empty = await startChalltestsrv({ http01: false, defaultIPv4: '' });
    try {
      const net = createNetClient({ dnsResolver: empty.dns, http01Port: 1, tlsAlpn01Port: 1, timeoutMs: 5_000 });
      const result = await createHttp01Validator(net).validate(input('nowhere.example.test'), signal());
      expect(result.status).toBe('invalid');
      if (result.status !== 'invalid') return;
      expect(result.problem.type).toBe('dns');
      expect(result.problem.detail).toBe(`http-01: no A or AAAA records for nowhere.example.test (resolver ${empty.dnsAddress})`);
      expect(result.records).toEqual([
        {
          url: `http://nowhere.example.test:1${PATH}`,
          hostname: 'nowhere.example.test',
          port: '1',
          addressesResolved: [],
          resolver: empty.dnsAddress,
        },
      ]);
    } finally {
      await empty.stop();
    }
  });

  it('accepts DNS and IP identifiers but not wildcards', () => {
    const v = validatorFor(1);
    expect(v.accepts({ type: 'dns', value: 'a.example.test' }, false)).toBe(true);
    expect(v.accepts({ type: 'ip', value: '192.0.2.1' }, false)).toBe(true);
    expect(v.accepts({ type: 'dns', value: 'example.test' }, true)).toBe(false);
  });
});
