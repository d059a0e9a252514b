/**
 * Loopback servers and certificates for the validator tests. Every server listens on 127.0.0.1
 * port 0; close() destroys open connections so a test never waits on a keep-alive.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import * as x509 from '@peculiar/x509';

export const LOOPBACK = '127.0.0.1';

/** A key authorization shaped like RFC 8555 §8.1 (token '.' thumbprint). */
export function keyAuthorizationFor(token: string, thumbprint = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'): string {
  return `${token}.${thumbprint}`;
}

export function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(text, 'utf8').digest());
}

export interface SeenRequest {
  host: string | undefined;
  path: string | undefined;
}

export interface TestServer {
  port: number;
  /** Requests received, oldest first. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('server has no address');
  return address.port;
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

function track(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

/** An HTTP server whose handler the test gives; records Host and path of each request. */
export async function startHttpServer(handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ host: req.headers.host, path: req.url });
    handler(req, res);
  });
  const sockets = track(server);
  return { port: await listen(server), seen, close: closer(server, sockets) };
}

/** An HTTPS server with the given certificate, for https redirect targets. */
export async function startHttpsServer(cert: TestCert, handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    seen.push({ host: req.headers.host, path: req.url });
    handler(req, res);
  });
  const sockets = track(server);
  return { port: await listen(server), seen, close: closer(server, sockets) };
}

/** Accepts TCP connections and never says a word: for timeouts. */
export async function startSilentServer(): Promise<TestServer> {
  const server = net.createServer(() => undefined);
  const sockets = track(server);
  return { port: await listen(server), seen: [], close: closer(server, sockets) };
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TlsServer extends TestServer {
  /** SNI names received in ClientHellos, oldest first; a hello without SNI adds nothing. */
  servernames: string[];
}

/** A TLS server presenting `cert`, negotiating `alpn` (none when empty). */
export async function startTlsServer(cert: TestCert, alpn: string[] = ['acme-tls/1']): Promise<TlsServer> {
  const servernames: string[] = [];
  const options: tls.TlsOptions = {
    cert: cert.certPem,
    key: cert.keyPem,
    // Runs while the ClientHello is read, so before the client can see the handshake finish.
    SNICallback: (name, done) => {
      servernames.push(name);
      done(null, undefined);
    },
  };
  if (alpn.length > 0) options.ALPNProtocols = alpn;
  const server = tls.createServer(options, (socket) => {
    socket.on('error', () => undefined); // the client closes right after the handshake
    socket.end();
  });
  server.on('tlsClientError', () => undefined);
  const sockets = track(server);
  return { port: await listen(server), seen: [], servernames, close: closer(server, sockets) };
}

export interface TestCert {
  certPem: string;
  keyPem: string;
}

export interface CertOptions {
  /** subjectAltName entries; an empty list leaves the extension out. */
  san: { type: 'dns' | 'ip'; value: string }[];
  /** RFC 8737 acmeIdentifier: the extnValue bytes and criticality; undefined leaves it out. */
  acmeIdentifier?: { extnValue: Uint8Array; critical: boolean };
}

let providerSet = false;

/** A self-signed ECDSA P-256 certificate with fixed validity dates (no clock involved). */
export async function selfSignedCert(opts: CertOptions): Promise<TestCert> {
  if (!providerSet) {
    x509.cryptoProvider.set(globalThis.crypto);
    providerSet = true;
  }
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await globalThis.crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [];
  if (opts.san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(opts.san, false));
  if (opts.acmeIdentifier !== undefined) {
    extensions.push(new x509.Extension('1.3.6.1.5.5.7.1.31', opts.acmeIdentifier.critical, opts.acmeIdentifier.extnValue));
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=acme tls-alpn-01 test',
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2040-01-01T00:00:00Z'),
    signingAlgorithm: algorithm,
    keys,
    extensions,
  });
  const pkcs8 = await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/** RFC 8737 §3: extnValue is the DER OCTET STRING (tag 4, length 32) of the digest. */
export function acmeIdentifierValue(digest: Uint8Array): Uint8Array {
  return new Uint8Array([0x04, digest.length, ...digest]);
}
