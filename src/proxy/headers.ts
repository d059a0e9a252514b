/**
 * What crosses the proxy in headers. Requests lose hop-by-hop headers (RFC 9110 §7.6.1), every
 * credential (Authorization, Proxy-*, Cookie) and client-sent forwarding headers, and gain
 * X-Forwarded-For/-Proto/-Host. Responses lose hop-by-hop headers and Set-Cookie. The upstreams
 * behind the front door (OCSP, CRLs, CA pages) are public and stateless; the gateway's origin is
 * shared with ACME and with a host application when mounted, so nothing that authenticates a
 * client to the gateway, or could, is handed to a legacy system.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 and the RFC 2616 list proxies still meet; framing (Transfer-Encoding) is Node's to handle. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];

/** Request headers never forwarded, besides hop-by-hop ones and any Proxy-*. */
const REQUEST_DROPPED = [
  'authorization', // RFC 9110 §11.6.2: credentials for the gateway, not for the upstream
  'cookie', // cookies scoped to the gateway's origin, possibly a host application's session
  'expect', // Node already answered "100 Continue" to the client
  'forwarded', // RFC 7239; rebuilt below as X-Forwarded-* only
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
];

/** Response headers never passed back, besides hop-by-hop ones. */
const RESPONSE_DROPPED = ['set-cookie', 'proxy-authenticate'];

/** Framing and routing headers a Connection token may not remove: message boundaries stay Node's. */
const NEVER_HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'host', 'content-type']);

/** RFC 9110 §7.6.1: "Connection: a, b" makes a and b hop-by-hop too. */
function connectionTokens(headers: IncomingHttpHeaders): string[] {
  const value = headers.connection;
  if (value === undefined) return [];
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '' && !NEVER_HOP_BY_HOP.has(t));
}

export interface ForwardedFrom {
  /** The peer's address as the socket reports it. */
  remoteAddress: string | undefined;
  /** The client's scheme and host as the gateway sees them (Koa's ctx.protocol and ctx.host). */
  proto: string;
  host: string;
  /** True when the gateway trusts X-Forwarded-* from the proxy in front of it (Koa's app.proxy). */
  trustForwarded: boolean;
}

/**
 * The headers to send upstream, from the client's (which stay untouched): credentials and
 * hop-by-hop headers gone, Host set to the target's authority, X-Forwarded-* set. The chain in
 * X-Forwarded-For is kept only when the gateway trusts the proxy in front of it.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, targetHost: string, from: ForwardedFrom): IncomingHttpHeaders {
  const drop = new Set([...HOP_BY_HOP, ...REQUEST_DROPPED, ...connectionTokens(incoming)]);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || drop.has(name) || name.startsWith('proxy-')) continue;
    out[name] = value;
  }
  out.host = targetHost;
  const earlier = from.trustForwarded ? incoming['x-forwarded-for'] : undefined;
  const chain = [earlier, from.remoteAddress].filter((v): v is string => typeof v === 'string' && v !== '');
  if (chain.length > 0) out['x-forwarded-for'] = chain.join(', ');
  out['x-forwarded-proto'] = from.proto;
  if (from.host !== '') out['x-forwarded-host'] = from.host;
  return out;
}

/** Removes hop-by-hop headers, Proxy-Authenticate and Set-Cookie from an upstream response, in place. */
export function stripResponseHeaders(headers: IncomingHttpHeaders): void {
  const drop = new Set([...HOP_BY_HOP, ...RESPONSE_DROPPED, ...connectionTokens(headers)]);
  for (const name of Object.keys(headers)) {
    if (drop.has(name)) delete headers[name];
  }
}
