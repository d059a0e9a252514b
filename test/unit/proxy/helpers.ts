import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { webcrypto } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { ProxyRoutesSchema, type ProxyRouteInput, type ProxyRoute } from '../../../src/proxy/config.js';
import { createProxyMiddleware, type ProxyMiddleware } from '../../../src/proxy/middleware.js';

x509.cryptoProvider.set(globalThis.crypto);

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}

export function memoryLog(lines: LogLine[] = []) {
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Upstream {
  port: number;
  url: string;
  /** Requests the upstream received: method, raw url, headers. */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

const listen = async (server: http.Server | https.Server): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

const closeServer = (server: http.Server | https.Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** An upstream on 127.0.0.1:0 (https when `tls` is given) that records what it receives. */
export async function startUpstream(
  handler: http.RequestListener,
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean },
): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const listener: http.RequestListener = (req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  };
  const server = tls === undefined
    ? http.createServer(listener)
    : https.createServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requestCert ?? false, rejectUnauthorized: tls.requestCert ?? false }, listener);
  const port = await listen(server);
  return { port, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen, close: () => closeServer(server) };
}

export interface Gateway {
  port: number;
  proxy: ProxyMiddleware;
  log: ReturnType<typeof memoryLog>;
  registry: Registry;
  routes: ProxyRoute[];
  close(): Promise<void>;
  /** acme_gateway_proxy_requests_total for one route and outcome. */
  count(route: string, outcome: string): Promise<number>;
}

/** A Koa app with the proxy in front and a fallback that answers 404 "gateway", on 127.0.0.1:0. */
export async function startGateway(routes: ProxyRouteInput[], opts: { trustProxy?: boolean } = {}): Promise<Gateway> {
  const parsed = ProxyRoutesSchema.parse(routes);
  const log = memoryLog();
  const registry = new Registry();
  const proxy = createProxyMiddleware(parsed, { log, metrics: registry });
  const app = new Koa({ proxy: opts.trustProxy ?? false });
  app.silent = true;
  app.use(proxy);
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = 'gateway';
  });
  const server = http.createServer(app.callback());
  const port = await listen(server);
  return {
    port,
    proxy,
    log,
    registry,
    routes: parsed,
    close: async () => {
      proxy.close();
      await closeServer(server);
    },
    count: async (route, outcome) => {
      const metric = await registry.getSingleMetric('acme_gateway_proxy_requests_total')?.get();
      return metric?.values.find((v) => v.labels.route === route && v.labels.outcome === outcome)?.value ?? 0;
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with the path exactly as given (no URL normalisation), on a fresh connection. */
export function send(port: number, opts: { method?: string; path: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Bytes written to a socket as they are (for request lines Node's client refuses to send), the reply parsed loosely. */
export async function sendRaw(port: number, request: string): Promise<{ status: number; body: string }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.end(Buffer.from(request, 'latin1'));
  const chunks: Buffer[] = [];
  for await (const c of socket) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('latin1');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body };
}

// ---------------------------------------------------------------- a test CA

export interface TestCa {
  certPem: string;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const pemOf = (der: ArrayBuffer, label: string) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END ${label}-----\n`;

export async function makeCa(name: string): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { certPem: cert.toString('pem'), cert, keys };
}

/** A certificate from `ca` for 127.0.0.1 (and "upstream.test"), for servers or, with clientAuth, clients. */
export async function issue(ca: TestCa, usage: 'server' | 'client'): Promise<{ cert: string; key: string }> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: usage === 'server' ? '02' : '03',
    subject: `CN=${usage}.test`,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'upstream.test' }]),
      new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { cert: cert.toString('pem'), key: pemOf(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') };
}
