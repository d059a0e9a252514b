/**
 * All validation I/O. The default implementation (net-node.ts) is built from config: a DNS server
 * host:port (never the system resolver when one is set), the http-01 and tls-alpn-01 ports.
 */
import { isIP } from 'node:net';

export interface CaaRecord {
  /** The flags octet (RFC 8659 §4.1); 128 is the Issuer Critical Flag. */
  critical: number;
  tag: string;
  value: string;
}

export interface HttpResult {
  status: number;
  body: Uint8Array;
  /** The URL finally answered, after redirects. */
  url: string;
  /** Every URL fetched, the first one first. */
  urls: string[];
  addressUsed: string;
}

export interface NetClient {
  /** TXT records, each record's strings joined. Throws NetError on failure (NXDOMAIN gives []). */
  resolveTxt(name: string, signal: AbortSignal): Promise<string[]>;
  /**
   * CAA records at `name` (RFC 8659 §4.1), flags as the whole octet in `critical`. A resolver that
   * chases aliases answers with the records at the end of the chain. Throws NetError on failure
   * (NXDOMAIN and no data give []).
   */
  resolveCaa(name: string, signal: AbortSignal): Promise<CaaRecord[]>;
  /**
   * The CNAME target(s) of `name`, without the trailing dot; [] when `name` is not an alias
   * (NXDOMAIN and no data). Throws NetError on failure. Used to chase aliases for CAA when the
   * resolver answers with the CNAME alone (RFC 8659 §3, RFC 1034 §4.3.2).
   */
  resolveCname(name: string, signal: AbortSignal): Promise<string[]>;
  /** A and AAAA records. */
  resolveAddresses(name: string, signal: AbortSignal): Promise<string[]>;
  /** GET over plain HTTP to the configured http-01 port, following redirects within limits. */
  /** `addresses`: the first hop's host already resolved by the caller (not looked up again); redirects are resolved here. */
  httpGet(url: URL, opts: { maxBytes: number; maxRedirects: number; signal: AbortSignal; addresses?: readonly string[] }): Promise<HttpResult>;
  /** TLS handshake with ALPN acme-tls/1 to host on the tls-alpn-01 port; the peer's leaf certificate (DER). */
  tlsAlpnCertificate(address: string, servername: string | undefined, signal: AbortSignal): Promise<Uint8Array>;
  /** Human-readable description of where lookups go, for validation records. */
  readonly resolverName: string;
  /** The ports connections really go to (80 and 443 in production), for validation records and details. */
  readonly ports: { readonly http01: number; readonly tlsAlpn01: number };
}

export type NetErrorKind = 'dns' | 'connection' | 'tls' | 'timeout' | 'too-large' | 'redirect';

export class NetError extends Error {
  override readonly name = 'NetError';
  constructor(readonly kind: NetErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `host:port`, with brackets around an IPv6 address (`[::1]:53`). */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
