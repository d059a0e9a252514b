/**
 * The front door's reverse proxy: configured path prefixes go to the legacy CA's OCSP responder,
 * CRL distribution and pages, through http-proxy. Bodies stream both ways (nothing is buffered),
 * the target only ever comes from config, and every request ends in one log line and one count of
 * `acme_gateway_proxy_requests_total{route,outcome}`.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import type { Middleware, ParameterizedContext, Next } from 'koa';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/logger.js';
import type { ProxyRoute } from './config.js';
import { stripResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { proxyRequestsCounter, type ProxyOutcome } from './metrics.js';
import { below, rawTarget, refusedPath, upstreamPath } from './path.js';
import { upstreamOf, type Upstream } from './upstream.js';

export type ProxyLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface ProxyDeps {
  log: ProxyLogger;
  /** The app's registry; the request counter is registered on it. */
  metrics?: Registry;
}

export type ProxyMiddleware = Middleware & {
  /** Closes the routes' idle keep-alive sockets; called once at shutdown. */
  close(): void;
};

/** What one proxied request carries between http-proxy's events. */
interface InFlight {
  upstream: Upstream;
  path: string;
  started: number;
  proxyReq?: ClientRequest;
  timer?: NodeJS.Timeout;
  timedOut: boolean;
  upstreamStatus?: number;
  done: boolean;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } as const;

class ProxyTimeoutError extends Error {
  override readonly name = 'ProxyTimeoutError';
}

interface Runtime {
  upstream: Upstream;
  server: httpProxy;
}

/**
 * A Koa middleware serving `routes` (longest prefix first) and passing everything else on. Mount
 * it before anything that reads request bodies. It answers 400 to a path that could leave its
 * prefix, 405 with Allow to a method the route does not allow, 502 when the upstream cannot be
 * reached or its TLS is not trusted, 504 when it stays silent for the route's timeoutMs.
 */
export function createProxyMiddleware(routes: readonly ProxyRoute[], deps: ProxyDeps): ProxyMiddleware {
  const counter = proxyRequestsCounter(deps.metrics);
  const inFlight = new WeakMap<IncomingMessage, InFlight>();
  const runtimes: Runtime[] = [...routes]
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .map((route) => {
      const upstream = upstreamOf(route);
      if (upstream.tls?.rejectUnauthorized === false) {
        deps.log.warn({ route: route.prefix, target: route.target }, 'proxy route accepts any upstream certificate (tls.rejectUnauthorized: false)');
      }
      const server = httpProxy.createProxyServer({});
      server.on('proxyReq', (proxyReq, req) => {
        const st = inFlight.get(req);
        if (st === undefined) return;
        st.proxyReq = proxyReq;
        // http-proxy joins paths with its urlJoin, which folds "//" (base64 in OCSP GET requests
        // has them); the exact upstream path is set here, before the request head is written.
        if (!proxyReq.headersSent) {
          proxyReq.path = st.path;
          proxyReq.removeHeader('connection'); // left on req only for http-proxy's response pass; the agent sets its own
        }
        const socket = proxyReq.socket;
        // The idle timeout runs once connected; until then the start timer below covers it.
        const armIdle = () => {
          clearTimeout(st.timer);
          proxyReq.setTimeout(route.timeoutMs, () => {
            st.timedOut = true;
            proxyReq.destroy(new ProxyTimeoutError(`no data from ${route.target} for ${route.timeoutMs} ms`));
          });
        };
        if (socket?.connecting === true) socket.once('connect', armIdle);
        else armIdle();
      });
      server.on('proxyRes', (proxyRes, req, res) => {
        const st = inFlight.get(req);
        if (st !== undefined) st.upstreamStatus = proxyRes.statusCode;
        stripResponseHeaders(proxyRes.headers);
        // An upstream that breaks off mid-body must not leave the client waiting for the rest.
        proxyRes.once('close', () => {
          if (!proxyRes.complete) fail(req, res, new Error('upstream closed the response before its end'));
        });
      });
      return { upstream, server };
    });

  const finish = (req: IncomingMessage, res: ServerResponse, outcome: ProxyOutcome, err?: Error) => {
    const st = inFlight.get(req);
    if (st === undefined || st.done) return;
    st.done = true;
    clearTimeout(st.timer);
    const route = st.upstream.route.prefix;
    counter.inc({ route, outcome });
    const entry = {
      route,
      method: req.method,
      path: st.path.length > 200 ? `${st.path.slice(0, 200)}...` : st.path,
      outcome,
      status: outcome === 'ok' ? res.statusCode : st.upstreamStatus ?? res.statusCode,
      ms: Math.round(performance.now() - st.started),
      ...(err === undefined ? {} : { err: err.message, code: (err as NodeJS.ErrnoException).code }),
    };
    if (outcome === 'ok' || outcome === 'client_aborted') deps.log.info(entry, 'proxied');
    else deps.log.warn(entry, 'proxy failed');
  };

  /** 502 or 504 while nothing was sent yet; afterwards only cutting the connection tells the client. */
  const fail = (req: IncomingMessage, res: ServerResponse, err: Error) => {
    const st = inFlight.get(req);
    if (st === undefined || st.done) return;
    st.proxyReq?.destroy();
    if (res.destroyed || req.socket.destroyed) return finish(req, res, 'client_aborted', err);
    const timedOut = st.timedOut || err instanceof ProxyTimeoutError;
    if (res.headersSent) {
      res.destroy();
      return finish(req, res, timedOut ? 'upstream_timeout' : 'upstream_aborted', err);
    }
    const status = timedOut ? 504 : 502;
    const body = timedOut ? 'upstream timed out\n' : 'upstream unavailable\n';
    res.writeHead(status, { ...TEXT, 'content-length': Buffer.byteLength(body) });
    res.end(body);
    finish(req, res, timedOut ? 'upstream_timeout' : 'upstream_error', err);
  };

  const middleware = async (ctx: ParameterizedContext, next: Next): Promise<void> => {
    const target = rawTarget(ctx.req.url ?? '/');
    if (target === undefined) return next();
    let runtime: Runtime | undefined;
    let rest: string | undefined;
    for (const r of runtimes) {
      rest = below(target.path, r.upstream.route.prefix);
      if (rest !== undefined) {
        runtime = r;
        break;
      }
    }
    if (runtime === undefined || rest === undefined) return next();
    const { upstream, server } = runtime;
    const route = upstream.route;
    const started = performance.now();
    const refuse = (status: 400 | 405, outcome: ProxyOutcome, body: string, detail: object) => {
      ctx.status = status;
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = body;
      counter.inc({ route: route.prefix, outcome });
      deps.log.info({ route: route.prefix, method: ctx.method, status, outcome, ms: Math.round(performance.now() - started), ...detail }, 'proxy refused');
    };

    const why = refusedPath(target.path);
    if (why !== undefined) return refuse(400, 'bad_path', 'bad request: path not allowed\n', { reason: why });
    if (!(route.methods as readonly string[]).includes(ctx.method)) {
      ctx.set('Allow', route.methods.join(', ')); // RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field"
      return refuse(405, 'method_not_allowed', 'method not allowed\n', { allow: route.methods });
    }

    const req = ctx.req;
    const res = ctx.res;
    const st: InFlight = { upstream, path: upstreamPath(upstream.basePath, rest, target.query), started, timedOut: false, done: false };
    inFlight.set(req, st);
    const clientConnection = req.headers.connection;
    req.headers = upstreamRequestHeaders(req.headers, upstream.authority, {
      remoteAddress: req.socket.remoteAddress,
      proto: ctx.protocol,
      host: ctx.host,
      trustForwarded: ctx.app.proxy,
    });
    // http-proxy answers the client with the client's own Connection value; it never goes upstream (see proxyReq).
    if (clientConnection !== undefined) req.headers.connection = clientConnection;
    res.once('close', () => {
      if (st.done) return;
      if (res.writableFinished) return finish(req, res, 'ok');
      st.proxyReq?.destroy();
      finish(req, res, 'client_aborted');
    });
    // Covers DNS and connect, where a socket timeout does not run yet (proxyReq arms the idle one).
    st.timer = setTimeout(() => {
      st.timedOut = true;
      fail(req, res, new ProxyTimeoutError(`no connection to ${route.target} within ${route.timeoutMs} ms`));
    }, route.timeoutMs);

    ctx.respond = false; // http-proxy writes the response from here on
    server.web(
      req,
      res,
      {
        target: {
          protocol: upstream.url.protocol,
          host: upstream.hostname,
          hostname: upstream.hostname,
          port: upstream.port,
          path: st.path,
          ...(upstream.tls?.cert === undefined ? {} : { cert: upstream.tls.cert }),
          ...(upstream.tls?.key === undefined ? {} : { key: upstream.tls.key }),
        },
        ignorePath: true,
        agent: upstream.agent,
        secure: upstream.tls?.rejectUnauthorized ?? true,
        ...(upstream.tls?.ca === undefined ? {} : { ca: upstream.tls.ca }),
        xfwd: false,
        changeOrigin: false,
      },
      (err, errReq, errRes) => {
        if ('writeHead' in errRes) fail(errReq, errRes, err);
      },
    );
  };

  return Object.assign(middleware, {
    close: () => {
      for (const { upstream, server } of runtimes) {
        upstream.agent.destroy();
        server.close();
      }
    },
  });
}
