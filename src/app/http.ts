/**
 * The front door: one Koa app serving ACME under /acme/, what the built-in CA publishes (CRL, CA
 * certificate, OCSP), the legacy system's OCSP/CRL/pages through the reverse proxy, and /health and
 * /metrics for operators. Also mounts under a path prefix inside a host Koa app.
 */
import Koa, { type Middleware, type Next, type ParameterizedContext } from 'koa';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { ocspPath } from '../../connectors/embedded/index.js';
import type { AcmeServices, AcmeState } from '../acme/context.js';
import { errors } from '../acme/middleware/errors.js';
import { requestLog } from '../acme/middleware/request-log.js';
import { acmeRouter } from '../acme/routes.js';
import type { Logger } from '../lib/logger.js';
import type { ProxyRoute } from '../proxy/config.js';
import { createProxyMiddleware, type ProxyMiddleware } from '../proxy/middleware.js';
import { createOcspEndpoint } from '../proxy/ocsp-http.js';
import type { RouteHealth } from '../proxy/probe.js';
import type { TemplateLimitsResult } from '../ra/template-limits.js';
import type { PollRound } from '../ra/revocation-poller.js';
import { hasHealthProbe, hasOcspResponder, type Connector } from '../sdk/connector.js';
import { publicationRouter } from './publication.js';

export interface HttpAppDeps {
  services: AcmeServices;
  connectors: ReadonlyMap<string, Connector>;
  proxyRoutes: readonly ProxyRoute[];
  log: Logger;
  registry: Registry;
  /** Trust X-Forwarded-* (behind a TLS-terminating proxy). */
  trustProxy: boolean;
  /** Last result of probing the proxy routes, for /health. */
  proxyHealth(): readonly RouteHealth[];
  /** Latest check of the profiles against their backend templates, for /health. */
  templateLimits(): TemplateLimitsResult;
  /** Whether revocations are polled, and the latest round, for /health. */
  revocationPoll(): { enabled: boolean; lastRound: PollRound | undefined };
  /** Serve GET /health and GET /metrics. */
  operatorEndpoints: boolean;
}

export interface HttpApp {
  app: Koa<AcmeState>;
  proxy: ProxyMiddleware;
}

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'acme_gateway_' });
  return registry;
}

export function buildHttpApp(deps: HttpAppDeps): HttpApp {
  const app = new Koa<AcmeState>({ proxy: deps.trustProxy });
  app.silent = true;

  const requests = new Counter({ name: 'acme_gateway_http_requests_total', help: 'HTTP requests by route group and status class', labelNames: ['group', 'status'], registers: [deps.registry] });
  const duration = new Histogram({ name: 'acme_gateway_http_request_seconds', help: 'HTTP request duration', labelNames: ['group'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [deps.registry] });
  app.use(async (ctx, next) => {
    const group = ctx.path.startsWith('/acme/') ? 'acme' : 'other';
    const end = duration.startTimer({ group });
    try {
      await next();
    } finally {
      end();
      requests.inc({ group, status: `${Math.floor(ctx.status / 100)}xx` });
    }
  });

  // Published by the gateway itself: OCSP of connectors that answer it (before the proxy, so a
  // configured /ocsp route cannot shadow /ocsp/<connector>), then the reverse proxy, which streams
  // and logs its own line per request.
  for (const [name, c] of deps.connectors) {
    if (hasOcspResponder(c)) app.use(createOcspEndpoint(ocspPath(name), c, { log: deps.log.child({ component: 'ocsp', connector: name }) }) as Middleware<AcmeState>);
  }
  const proxy = createProxyMiddleware(deps.proxyRoutes, { log: deps.log.child({ component: 'proxy' }), metrics: deps.registry });
  app.use(proxy as Middleware<AcmeState>);

  if (deps.operatorEndpoints) app.use(operatorRoutes(deps));
  app.use(requestLog(deps.services));
  app.use(errors);
  for (const router of [acmeRouter('/acme/raProfile/:binding'), acmeRouter('/acme/:profile')]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(publicationRouter(deps.connectors).routes());
  return { app, proxy };
}

/** GET /health (connectors, proxy routes, background checks) and GET /metrics (Prometheus text). */
function operatorRoutes(deps: HttpAppDeps): Middleware<AcmeState> {
  return async (ctx: ParameterizedContext<AcmeState>, next: Next) => {
    if (ctx.method !== 'GET' || (ctx.path !== '/health' && ctx.path !== '/metrics')) return next();
    if (ctx.path === '/metrics') {
      ctx.type = deps.registry.contentType;
      ctx.body = await deps.registry.metrics();
      return;
    }
    const connectors = await Promise.all(
      [...deps.connectors].map(async ([name, c]) => {
        if (!hasHealthProbe(c)) return { name, type: c.type, ok: true, detail: 'no health probe' };
        try {
          const h = await c.health(AbortSignal.timeout(5_000));
          return { name, type: c.type, ok: h.ok, ...(h.detail ? { detail: h.detail } : {}) };
        } catch (err) {
          return { name, type: c.type, ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    const proxy = deps.proxyHealth();
    const t = deps.templateLimits();
    const templateLimits = { checkedAt: t.checkedAt.toISOString(), ok: t.contradictions.length === 0 && t.error === undefined, contradictions: t.contradictions, ...(t.error !== undefined ? { error: t.error } : {}) };
    const poll = deps.revocationPoll();
    const revocationPoll = { enabled: poll.enabled, lastRound: poll.lastRound ? { ...poll.lastRound, startedAt: poll.lastRound.startedAt.toISOString(), finishedAt: poll.lastRound.finishedAt.toISOString() } : null };
    // Proxy routes and background checks are reported but never make the gateway unhealthy (issue
    // #7): every instance sees the same backend, and a balancer would take them all out at once.
    const ok = connectors.every((c) => c.ok);
    ctx.status = ok ? 200 : 503;
    ctx.body = { ok, connectors, proxy, templateLimits, revocationPoll };
  };
}

/**
 * Mounts the gateway's app under `prefix` in a host Koa app: requests below the prefix see paths
 * relative to it (so links built from a baseUrl that ends in the prefix line up), others pass on.
 */
export function mountUnder(prefix: string, app: Koa<AcmeState>): Middleware {
  const p = prefix.replace(/\/+$/, '');
  if (p !== '' && !p.startsWith('/')) throw new Error(`mount prefix "${prefix}" must start with "/"`);
  const handler = app.callback();
  return async (ctx, next) => {
    const path = ctx.path;
    if (p !== '' && path !== p && !path.startsWith(`${p}/`)) return next();
    ctx.respond = false;
    // The gateway answers on its own response object; hand it the request with the prefix removed.
    ctx.req.url = ctx.req.url?.slice(p.length) || '/';
    if (!ctx.req.url.startsWith('/')) ctx.req.url = `/${ctx.req.url}`;
    await handler(ctx.req, ctx.res);
  };
}
