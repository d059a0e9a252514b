/**
 * One configured route's upstream: its parsed URL, its TLS settings with the files read, and a
 * keep-alive agent that carries exactly those settings, so no socket is shared across routes with
 * different trust.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { ProxyRoute } from './config.js';

export interface UpstreamTls {
  /** Replaces the system trust store when set. */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface Upstream {
  route: ProxyRoute;
  url: URL;
  /** The target's host[:port], as the Host header the upstream expects. */
  authority: string;
  /** Host name or address to connect to, without IPv6 brackets. */
  hostname: string;
  port: number;
  /** The target URL's path, "/" at least. */
  basePath: string;
  tls?: UpstreamTls;
  agent: http.Agent;
}

function readPem(route: ProxyRoute, key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`proxy route ${route.prefix}: tls.${key} ${file} cannot be read: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function tlsOf(route: ProxyRoute): UpstreamTls {
  const t = route.tls;
  if (t === undefined) return { rejectUnauthorized: true };
  const ca = t.ca ?? (t.caFile === undefined ? undefined : readPem(route, 'caFile', t.caFile));
  const cert = t.clientCert ?? (t.clientCertFile === undefined ? undefined : readPem(route, 'clientCertFile', t.clientCertFile));
  const key = t.clientKey ?? (t.clientKeyFile === undefined ? undefined : readPem(route, 'clientKeyFile', t.clientKeyFile));
  return {
    rejectUnauthorized: t.rejectUnauthorized,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(t.servername === undefined ? {} : { servername: t.servername }),
  };
}

/** Reads the route's TLS files (synchronously: startup only) and makes its agent. Throws when a file cannot be read. */
export function upstreamOf(route: ProxyRoute, opts: { keepAlive: boolean } = { keepAlive: true }): Upstream {
  const url = new URL(route.target);
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const base = { route, url, authority: url.host, hostname: url.hostname.replace(/^\[|\]$/g, ''), port, basePath: url.pathname || '/' };
  if (!secure) return { ...base, agent: new http.Agent({ keepAlive: opts.keepAlive }) };
  const tls = tlsOf(route);
  return { ...base, tls, agent: new https.Agent({ keepAlive: opts.keepAlive, ...tls }) };
}

/** Options for http(s).request to this upstream, TLS included; the agent's settings agree with them. */
export function requestOptions(u: Upstream, method: string, path: string, headers: http.OutgoingHttpHeaders): https.RequestOptions {
  return {
    protocol: u.url.protocol,
    hostname: u.hostname,
    port: u.port,
    method,
    path,
    headers,
    agent: u.agent,
    ...(u.tls ?? {}),
  };
}
