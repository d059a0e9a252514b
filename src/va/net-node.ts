/**
 * The NetClient used in production: DNS through one configured server, http-01 over node:http,
 * tls-alpn-01 over node:tls. Every call is bounded by the caller's signal and by `timeoutMs`.
 *
 * When a DNS server is configured, every lookup goes to it, including the A/AAAA lookups that find
 * where to connect for http-01 and tls-alpn-01: a c-ares `Resolver` with `setServers`, never
 * `dns.lookup`/getaddrinfo (which would read /etc/hosts and the system resolver). Connections are
 * always opened to an IP address, so node:net performs no lookup of its own either.
 */
import type { CaaRecord as NodeCaaRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { formatHostPort, NetError, type CaaRecord, type HttpResult, type NetClient } from './net.js';

export interface NetClientOptions {
  /** DNS server for every lookup. Unset: the servers listed in /etc/resolv.conf, still without getaddrinfo. */
  dnsResolver?: { host: string; port: number };
  /** Where http-01 requests go; stands in for port 80 (RFC 8555 §8.3). */
  http01Port: number;
  /** Where tls-alpn-01 handshakes and https redirects go; stands in for port 443 (RFC 8737 §3). */
  tlsAlpn01Port: number;
  /** Upper bound for each call, on top of the caller's signal. */
  timeoutMs: number;
}

const ACME_TLS_1 = 'acme-tls/1';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** NOERROR without an answer, and NXDOMAIN: "no records", not a failure. */
const NO_DATA_CODES = new Set(['ENODATA', 'ENOTFOUND']);
const DNS_CODE_TEXT: Record<string, string> = {
  ESERVFAIL: 'the server answered SERVFAIL',
  EREFUSED: 'the server answered REFUSED',
  EFORMERR: 'the server answered FORMERR',
  ENOTIMP: 'the server answered NOTIMP',
  ETIMEOUT: 'no answer from the server',
  ECONNREFUSED: 'connection to the server refused',
  EBADRESP: 'malformed answer',
  EBADNAME: 'the name is not valid',
};

export function createNetClient(opts: NetClientOptions): NetClient {
  const server = opts.dnsResolver;
  if (server !== undefined && isIP(server.host) === 0) {
    // Resolving the resolver's own name would need the system resolver, which this client never uses.
    throw new Error(`validation DNS resolver must be an IP address, got "${server.host}"`);
  }
  const resolverName = server === undefined ? 'system resolver (/etc/resolv.conf)' : formatHostPort(server.host, server.port);
  const ports = { http01: opts.http01Port, tlsAlpn01: opts.tlsAlpn01Port } as const;

  const bounded = (signal: AbortSignal): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(opts.timeoutMs)]);

  /**
   * One query per Resolver at a time, so an abort (`resolver.cancel()`) cancels that query and no
   * other. Resolvers are kept for reuse: building a c-ares channel per query cost ~5 % of the
   * gateway's CPU under the http-01 benchmark. A cancelled resolver is dropped, not reused.
   */
  const idle: Resolver[] = [];
  const IDLE_MAX = 64;
  const takeResolver = (): Resolver => {
    const reused = idle.pop();
    if (reused !== undefined) return reused;
    const resolver = new Resolver({ timeout: Math.max(100, Math.floor(opts.timeoutMs / 3)), tries: 3 });
    if (server !== undefined) resolver.setServers([formatHostPort(server.host, server.port)]);
    return resolver;
  };

  async function query<T>(rrtype: string, name: string, signal: AbortSignal, run: (r: Resolver) => Promise<T>): Promise<T | undefined> {
    if (signal.aborted) throw new NetError('dns', `${rrtype} lookup for ${name} not started: the deadline has passed`);
    const resolver = takeResolver();
    let cancelled = false;
    const cancel = (): void => {
      cancelled = true;
      resolver.cancel();
    };
    signal.addEventListener('abort', cancel, { once: true });
    try {
      return await run(resolver);
    } catch (e) {
      if (signal.aborted) {
        // Kind dns, not timeout: what hung is the lookup, and that is what the client should check.
        throw new NetError('dns', `${rrtype} lookup for ${name} got no answer from ${resolverName} before the deadline`, { cause: e });
      }
      const code = errorCode(e);
      if (code !== undefined && NO_DATA_CODES.has(code)) return undefined;
      const why = (code !== undefined ? DNS_CODE_TEXT[code] : undefined) ?? code ?? String(e);
      throw new NetError('dns', `${rrtype} lookup for ${name} failed: ${why} (resolver ${resolverName})`, { cause: e });
    } finally {
      signal.removeEventListener('abort', cancel);
      if (!cancelled && idle.length < IDLE_MAX) idle.push(resolver);
    }
  }

  async function resolveAddresses(name: string, signal: AbortSignal): Promise<string[]> {
    const [v6, v4] = await Promise.allSettled([
      query('AAAA', name, signal, (r) => r.resolve6(name)),
      query('A', name, signal, (r) => r.resolve4(name)),
    ]);
    const found = [...(v6.status === 'fulfilled' ? (v6.value ?? []) : []), ...(v4.status === 'fulfilled' ? (v4.value ?? []) : [])];
    // One family failing is fine when the other answered; both failing is the error of the A query.
    if (found.length === 0) {
      if (v4.status === 'rejected') throw v4.reason;
      if (v6.status === 'rejected') throw v6.reason;
    }
    return found; // IPv6 first, IPv4 as the fallback, as Let's Encrypt does
  }

  /** Where a URL is really fetched, or why it may not be (see the redirect policy in httpGet). */
  function hopTarget(url: URL, previous: URL | undefined): Hop {
    const where = previous === undefined ? 'URL' : 'redirect';
    const kind = previous === undefined ? 'connection' : 'redirect';
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new NetError(kind, `${where} ${url.href} is not http or https`);
    }
    const secure = url.protocol === 'https:';
    const standardPort = secure ? 443 : 80;
    const configuredPort = secure ? opts.tlsAlpn01Port : opts.http01Port;
    const port = url.port === '' ? standardPort : Number(url.port);
    const sameHost = previous === undefined || previous.hostname === url.hostname;
    if (port !== standardPort && !(port === configuredPort && sameHost)) {
      throw new NetError(kind, `${where} ${url.href} uses port ${port}; only ports 80 and 443 are followed`);
    }
    const effective = new URL(url.href);
    effective.username = '';
    effective.password = '';
    effective.hash = '';
    effective.port = String(configuredPort);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { url, hostname, secure, port: configuredPort, effective: effective.href };
  }

  /**
   * RFC 8555 §8.3 "The server SHOULD follow redirects". The policy, Let's Encrypt's in substance:
   * - only http and https, and only to ports 80 and 443 in the URL; the configured ports stand in
   *   for them (80 → http01Port, 443 → tlsAlpn01Port), so production with 80/443 is exactly that.
   *   A test setup's own port is also accepted in a redirect to the same host, as a server that
   *   builds absolute URLs from its listener would send it;
   * - at most maxRedirects hops, and never the same URL twice (a loop);
   * - https targets are connected with TLS but the certificate is not verified: the proof is the
   *   key authorization in the body, which is bound to the account key (§10.2), so a CA-signed
   *   certificate would add nothing, and a site moving to HTTPS with a self-signed or expired
   *   certificate must still validate. SNI is the URL's host name.
   * The Host header is the URL's host (the identifier, an IP per RFC 8738 §5), without the
   * configured port, so the client's server sees the request it would see on port 80.
   */
  async function httpGet(url: URL, o: { maxBytes: number; maxRedirects: number; signal: AbortSignal; addresses?: readonly string[] }): Promise<HttpResult> {
    const signal = bounded(o.signal);
    const urls: string[] = [];
    const seen = new Set<string>();
    let current = url;
    let previous: URL | undefined;
    for (;;) {
      const hop = hopTarget(current, previous);
      if (seen.has(hop.effective)) throw new NetError('redirect', `redirect loop: ${hop.effective} was already fetched`);
      seen.add(hop.effective);
      urls.push(hop.effective);

      const given = previous === undefined ? o.addresses : undefined;
      const addresses = isIP(hop.hostname) !== 0 ? [hop.hostname] : given !== undefined ? [...given] : await resolveAddresses(hop.hostname, signal);
      if (addresses.length === 0) throw new NetError('dns', `no A or AAAA records for ${hop.hostname} (resolver ${resolverName})`);
      const { response, address } = await requestFirstReachable(addresses, hop, signal);
      const status = response.statusCode ?? 0;
      const location = response.headers.location;

      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        response.destroy();
        if (urls.length > o.maxRedirects) {
          throw new NetError('redirect', `more than ${o.maxRedirects} redirects (the last from ${hop.effective} to ${location})`);
        }
        try {
          previous = current;
          current = new URL(location, current);
        } catch (e) {
          throw new NetError('redirect', `${hop.effective} redirects to a malformed URL`, { cause: e });
        }
        continue;
      }
      const body = await readBody(response, o.maxBytes, hop.effective, signal);
      return { status, body, url: hop.effective, urls, addressUsed: address };
    }
  }

  async function requestFirstReachable(addresses: string[], hop: Hop, signal: AbortSignal): Promise<{ response: IncomingMessage; address: string }> {
    let lastError: unknown;
    for (const address of addresses) {
      try {
        return { response: await request(hop, address, signal), address };
      } catch (e) {
        // Fall back to the next address only when this one could not be reached.
        if (!(e instanceof NetError && e.kind === 'connection')) throw e;
        lastError = e;
      }
    }
    throw lastError;
  }

  async function tlsAlpnCertificate(address: string, servername: string | undefined, outer: AbortSignal): Promise<Uint8Array> {
    const signal = bounded(outer);
    let ip = address;
    if (isIP(address) === 0) {
      const found = await resolveAddresses(address, signal);
      const first = found[0];
      if (first === undefined) throw new NetError('dns', `no A or AAAA records for ${address} (resolver ${resolverName})`);
      ip = first;
    }
    const where = formatHostPort(ip, opts.tlsAlpn01Port);
    if (signal.aborted) throw new NetError('timeout', `no TLS handshake with ${where} before the deadline`);
    return new Promise<Uint8Array>((resolve, reject) => {
      // RFC 8737 §3 step 3: ALPN with the single protocol "acme-tls/1", SNI with only the name.
      // §4: "MUST only negotiate TLS 1.2 [RFC5246] or higher"; the certificate is not verified.
      const socket = tls.connect({
        host: ip,
        port: opts.tlsAlpn01Port,
        servername: servername ?? '',
        ALPNProtocols: [ACME_TLS_1],
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      });
      const onAbort = (): void => {
        socket.destroy(new NetError('timeout', `no TLS handshake with ${where} before the deadline`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('secureConnect', () => {
        signal.removeEventListener('abort', onAbort);
        const protocol = socket.alpnProtocol;
        const raw: Buffer | undefined = socket.getPeerCertificate().raw;
        // §4: "Once the handshake is completed, the client ... MUST immediately close the connection."
        socket.destroy();
        if (protocol !== ACME_TLS_1) {
          const got = typeof protocol === 'string' ? `"${protocol}"` : 'no protocol';
          reject(new NetError('tls', `${where} did not negotiate ALPN protocol "${ACME_TLS_1}" (got ${got})`));
        } else if (raw === undefined || raw.length === 0) {
          reject(new NetError('tls', `${where} presented no certificate`));
        } else {
          resolve(new Uint8Array(raw));
        }
      });
      socket.on('error', (e) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(e instanceof NetError ? e : socketError(e, where, signal));
      });
    });
  }

  return {
    resolverName,
    ports,
    resolveTxt: async (name, signal) => {
      const records = await query('TXT', name, bounded(signal), (r) => r.resolveTxt(name));
      return (records ?? []).map((chunks) => chunks.join('')); // RFC 7208 §3.3 style: a record's strings concatenated
    },
    resolveCaa: async (name, signal) => {
      const records = await query('CAA', name, bounded(signal), (r) => r.resolveCaa(name));
      return (records ?? []).map(toCaaRecord);
    },
    resolveCname: async (name, signal) => {
      const targets = await query('CNAME', name, bounded(signal), (r) => r.resolveCname(name));
      return (targets ?? []).map((t) => (t.endsWith('.') ? t.slice(0, -1) : t));
    },
    resolveAddresses: (name, signal) => resolveAddresses(name, bounded(signal)),
    httpGet,
    tlsAlpnCertificate,
  };
}

interface Hop {
  /** The URL as the redirect chain gives it (the one the server sees in Host and path). */
  url: URL;
  hostname: string;
  secure: boolean;
  /** The port really connected to. */
  port: number;
  /** The URL with the port really connected to, for records and details. */
  effective: string;
}

function request(hop: Hop, address: string, signal: AbortSignal): Promise<IncomingMessage> {
  const where = formatHostPort(address, hop.port);
  if (signal.aborted) return Promise.reject(new NetError('timeout', `no answer from ${where} before the deadline`));
  return new Promise<IncomingMessage>((resolve, reject) => {
    const options: https.RequestOptions = {
      host: address,
      port: hop.port,
      method: 'GET',
      path: hop.url.pathname + hop.url.search,
      headers: { Host: hop.url.host, 'User-Agent': 'acme-gateway-va/1', Accept: '*/*', Connection: 'close' },
      agent: false,
      signal,
    };
    const req = hop.secure
      ? https.request({ ...options, servername: isIP(hop.hostname) === 0 ? hop.hostname : '', rejectUnauthorized: false, minVersion: 'TLSv1.2' })
      : http.request(options);
    req.once('response', resolve);
    // Stays attached after the response: an abort while the body is read is reported here too.
    req.on('error', (e) => reject(socketError(e, where, signal)));
    req.end();
  });
}

async function readBody(response: IncomingMessage, maxBytes: number, url: string, signal: AbortSignal): Promise<Uint8Array> {
  const tooLarge = (): NetError => new NetError('too-large', `the response from ${url} is larger than ${maxBytes} bytes`);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      total += buf.length;
      if (total > maxBytes) {
        response.destroy();
        throw tooLarge();
      }
      chunks.push(buf);
    }
  } catch (e) {
    if (e instanceof NetError) throw e;
    throw socketError(e, url, signal);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function socketError(e: unknown, where: string, signal: AbortSignal): NetError {
  if (signal.aborted) return new NetError('timeout', `no answer from ${where} before the deadline`, { cause: e });
  const code = errorCode(e) ?? '';
  const message = e instanceof Error ? e.message : String(e);
  switch (code) {
    case 'ECONNREFUSED':
      return new NetError('connection', `connection to ${where} refused`, { cause: e });
    case 'ECONNRESET':
      return new NetError('connection', `connection to ${where} reset`, { cause: e });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return new NetError('connection', `${where} is unreachable`, { cause: e });
    case 'ETIMEDOUT':
      return new NetError('timeout', `connection to ${where} timed out`, { cause: e });
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO') {
    return new NetError('tls', `TLS handshake with ${where} failed: ${message}`, { cause: e });
  }
  if (code.startsWith('HPE_')) return new NetError('connection', `malformed HTTP response from ${where}`, { cause: e });
  return new NetError('connection', `connection to ${where} failed: ${message}`, { cause: e });
}

function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

/** node:dns gives `{ critical: 0, issue: 'ca.example' }`; the one key besides `critical` is the tag. */
function toCaaRecord(r: NodeCaaRecord): CaaRecord {
  const [tag, value] = Object.entries(r).find(([k]) => k !== 'critical') ?? ['', ''];
  return { critical: r.critical, tag, value: typeof value === 'string' ? value : String(value) };
}
