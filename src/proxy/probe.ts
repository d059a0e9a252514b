/**
 * The startup check of the front door: does each route's upstream answer? For the health output
 * only; a route whose upstream is down still serves 502 until it comes back, and never stops the
 * gateway from starting.
 */
import http from 'node:http';
import https from 'node:https';
import type { ProxyRoute } from './config.js';
import { requestOptions, upstreamOf } from './upstream.js';

export interface RouteHealth {
  prefix: string;
  target: string;
  /** True when the upstream answered with a status below 500 (a 404 or 405 still shows it is there). */
  ok: boolean;
  /** "HTTP 200 in 12 ms", "connection refused", "timed out after 10000 ms", the TLS error. */
  detail: string;
  status?: number;
  ms: number;
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name does not resolve';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return code === undefined ? message : `${code}: ${message}`;
  }
}

/** One request to the route's target URL with the route's TLS settings and timeout: HEAD when allowed, else GET. */
async function probe(route: ProxyRoute, signal: AbortSignal | undefined): Promise<RouteHealth> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const base = { prefix: route.prefix, target: route.target };
  let upstream;
  try {
    upstream = upstreamOf(route, { keepAlive: false });
  } catch (e) {
    return { ...base, ok: false, detail: e instanceof Error ? e.message : String(e), ms: ms() };
  }
  const method = route.methods.includes('HEAD') ? 'HEAD' : 'GET';
  const deadline = AbortSignal.timeout(route.timeoutMs);
  const both = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
  const request = upstream.url.protocol === 'https:' ? https.request : http.request;
  try {
    return await new Promise<RouteHealth>((resolve) => {
      const req = request({ ...requestOptions(upstream, method, upstream.basePath, { host: upstream.authority }), signal: both }, (res) => {
        res.resume(); // the body does not matter, only that an answer came
        const status = res.statusCode ?? 0;
        resolve({ ...base, ok: status > 0 && status < 500, status, detail: `HTTP ${status} in ${ms()} ms`, ms: ms() });
      });
      req.once('error', (e) => {
        const detail = deadline.aborted ? `timed out after ${route.timeoutMs} ms` : describe(e);
        resolve({ ...base, ok: false, detail, ms: ms() });
      });
      req.end();
    });
  } finally {
    upstream.agent.destroy();
  }
}

/** Probes every route at once; resolves (never rejects) with one entry per route, in config order. */
export function probeRoutes(routes: readonly ProxyRoute[], opts: { signal?: AbortSignal } = {}): Promise<RouteHealth[]> {
  return Promise.all(routes.map((r) => probe(r, opts.signal)));
}
