/**
 * The composition root: config → store → connectors → services → Koa app → listener.
 * No decisions live here; it only builds, starts and stops things, in that order and in reverse.
 */
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Middleware } from 'koa';
import { connectorFactories } from '../../connectors/index.js';
import { createLinks } from '../acme/links.js';
import { createMemoryNonceStore, type NonceStore } from '../acme/nonces.js';
import { createSharedNonceStore } from '../acme/nonces-shared.js';
import type { AcmeServices, AcmeState } from '../acme/context.js';
import type { Config } from '../config/schema.js';
import { parseHostPort } from '../config/schema.js';
import { IssuanceService } from '../issuance/service.js';
import { Reconciler } from '../issuance/reconciler.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { randomId, systemRandom, type Random } from '../lib/random.js';
import { createRa, type Ra } from '../ra/index.js';
import type { Registrations } from '../ra/registrations.js';
import { ValidationRunner } from '../ra/validation.js';
import { hasTrustAnchors, type Connector, type ConnectorFactory } from '../sdk/connector.js';
import { Counter, Gauge } from 'prom-client';
import type { AccountId, Store } from '../storage/store.js';
import { checkCaa } from '../va/caa.js';
import { createValidators } from '../va/index.js';
import { createNetClient } from '../va/net-node.js';
import { buildEndpoints, issuanceProfileFor } from './profiles.js';
import { checkTemplateLimits, TemplateLimitWatch } from '../ra/template-limits.js';
import { RevocationPoller } from '../ra/revocation-poller.js';
import { ConfigError } from '../config/load.js';
import { buildHttpApp, createMetricsRegistry, mountUnder } from './http.js';
import { proxyRoutesOf } from './proxy-routes.js';
import { probeRoutes, type RouteHealth } from '../proxy/probe.js';
import { openStore } from './storage.js';
import { ensureListenerTls, listenerCa, writeCaBundle } from './tls.js';

export interface GatewayOptions {
  clock?: Clock;
  random?: Random;
  log?: Logger;
  /**
   * Factories used instead of the built-in ones of the same `type` (tests wrap a connector this
   * way). The configuration is still checked with the built-in schemas.
   */
  connectorFactories?: readonly ConnectorFactory<unknown>[];
}

export interface Gateway {
  readonly config: Config;
  readonly store: Store;
  readonly ra: Ra;
  readonly log: Logger;
  /** The Koa app serving ACME and publication routes; mount it or let listen() serve it. */
  readonly app: Koa<AcmeState>;
  /** Absolute path of the PEM bundle clients should trust. */
  readonly caBundlePath: string;
  /** Public base URL (known after listen() unless configured). */
  baseUrl(): string;
  directoryUrl(profile?: string): string;
  /** A Koa middleware serving the gateway below `prefix` in a host app (set server.baseUrl to the public URL of that prefix). */
  middleware(prefix?: string): Middleware;
  /** Starts background work (the issuance reconciler, timed checks) without a listener of its own, for a host app. */
  start(): void;
  /** Binds the configured listener (TLS unless `server.tls.mode: off`); resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Stops accepting, drains requests in flight, stops background work, closes the store. */
  stop(): Promise<void>;
}

const CONNECTOR_CALL_TIMEOUT_MS = 30_000;
const TEMPLATE_CHECK_TIMEOUT_MS = 30_000;
const REVOCATION_POLL_BATCH = 100;

function defaultBaseUrl(config: Config, address: AddressInfo | undefined): string {
  if (config.server.baseUrl) return config.server.baseUrl.replace(/\/+$/, '');
  const listen = parseHostPort(config.server.listen);
  const host = listen?.host ?? 'localhost';
  const shown = ['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost'].includes(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const port = address?.port ?? listen?.port ?? 443;
  const scheme = config.server.tls.mode === 'off' ? 'http' : 'https';
  return `${scheme}://${shown}:${port}`;
}

export async function createGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const log = opts.log ?? createLogger(config.logging.level);
  await mkdir(config.dataDir, { recursive: true });

  let bound: AddressInfo | undefined;
  const baseUrl = () => defaultBaseUrl(config, bound);

  const store = await openStore(config);

  const factories = new Map([...connectorFactories, ...(opts.connectorFactories ?? [])].map((f) => [f.type, f] as [string, ConnectorFactory<unknown>]));
  const connectors = new Map<string, Connector>();
  const unreadTemplates: string[] = [];
  try {
    for (const [name, section] of Object.entries(config.connectors)) {
      const factory = factories.get(section.type);
      if (!factory) throw new Error(`connectors.${name}.type: unknown connector type "${section.type}"`);
      const connector = await factory.create(section, { log: log.child({ connector: name }), clock, random, dataDir: config.dataDir, name, baseUrl });
      connectors.set(name, connector);
    }
    // Issue #5: template limits read from the backends; a contradiction refuses to start. A backend
    // that does not answer does not: the gateway starts, says so, and the timed check tries again.
    const contradictions = await checkTemplateLimits(buildEndpoints(config, connectors).values(), AbortSignal.timeout(TEMPLATE_CHECK_TIMEOUT_MS), (connector, err) => {
      unreadTemplates.push(`connector "${connector}": ${err instanceof Error ? err.message : String(err)}`);
      log.warn({ connector, err }, 'template limits not checked at startup: the backend did not list its templates');
    });
    if (contradictions.length > 0) throw new ConfigError(contradictions);
  } catch (e) {
    // Whatever was opened before a failed start is closed again.
    await Promise.allSettled([...connectors.values()].map((c) => c.close()));
    await store.close();
    throw e;
  }

  const profiles = buildEndpoints(config, connectors);
  const startedAt = clock.now();

  const instanceId = `gw-${randomId(random, 64)}`;
  // Every URL the gateway hands out comes from createLinks (src/acme/links.ts).
  const linksOf = (profile: string) => createLinks(baseUrl(), profile);
  // Bound once the RA exists (it needs the issuance service); the issuance service reports refusals to it.
  const late: { registrations?: Registrations } = {};
  const issuance = new IssuanceService({
    store,
    clock,
    random,
    log: log.child({ component: 'issuance' }),
    instanceId,
    profileFor: (order) => issuanceProfileFor(profiles, order),
    orderUrl: (profile, id) => linksOf(profile).order(id),
    accountUrl: (profile, id) => linksOf(profile).account(id),
    callTimeoutMs: CONNECTOR_CALL_TIMEOUT_MS,
    registrationOf: async (accountId) => (await store.getAccount(accountId as AccountId))?.registrationId ?? null,
    onUnauthorized: async (order) => {
      const registrationId = (await store.getAccount(order.accountId))?.registrationId;
      const ep = profiles.get(order.profile);
      if (registrationId && ep) late.registrations?.forget(ep.connectorName, registrationId);
    },
  });
  const reconciler = new Reconciler(store, issuance, clock, log.child({ component: 'reconciler' }), { intervalMs: 2_000, batchSize: 50 });

  const dns = config.validation.dnsResolver ? parseHostPort(config.validation.dnsResolver) : undefined;
  const net = createNetClient({
    ...(dns ? { dnsResolver: dns } : {}),
    http01Port: config.validation.http01Port,
    tlsAlpn01Port: config.validation.tlsAlpn01Port,
    timeoutMs: config.validation.timeout,
  });
  const validators = createValidators(net, { maxBodyBytes: config.validation.maxBodyBytes, maxRedirects: config.validation.maxRedirects });
  const runner = new ValidationRunner(store, validators, clock, log.child({ component: 'va' }), {
    concurrency: config.validation.concurrency,
    timeoutMs: config.validation.timeout,
    validAuthzMs: (profile) => profiles.get(profile)?.config.authzReuse ?? 30 * 86_400_000,
    caaIdentities: (profile) => profiles.get(profile)?.config.caaIdentities ?? [],
    checkCaa: (input, signal) => checkCaa(net, input, signal),
    // A validation takes at most `timeout` once started; twice that without an outcome means the
    // process running it stopped, and the challenge is validated again (resumeStale).
    resumeAfterMs: 2 * config.validation.timeout,
    resumeIntervalMs: config.validation.timeout,
    accountUri: (profile, id) => linksOf(profile).account(id),
  });
  const ra = createRa({ store, clock, random, log, validators, issuance, checkCaa: (input, signal) => checkCaa(net, input, signal) }, runner);
  late.registrations = ra.registrations;
  const sharedNonces = config.nonces.store === 'database' || (config.nonces.store === 'auto' && config.storage.driver === 'postgres');
  const nonces: NonceStore = sharedNonces
    ? createSharedNonceStore({
        clock,
        random,
        lifetimeMs: config.nonces.lifetime,
        secret: await store.sharedSecret('nonce-hmac', () => random.bytes(32)),
        ledger: store,
        onPruneError: (err) => log.warn({ err }, 'pruning used nonces failed'),
      })
    : createMemoryNonceStore({ clock, random, lifetimeMs: config.nonces.lifetime, maxStored: config.nonces.maxStored });

  const services: AcmeServices = {
    ra,
    nonces,
    clock,
    log,
    profiles,
    baseUrl,
    bodyLimitBytes: config.server.bodyLimitBytes,
    retryAfterSeconds: config.validation.retryAfterSeconds,
  };

  const registry = createMetricsRegistry();
  // Issue #5: the template limits again on a timer; contradictions are logged and shown in /health.
  const templateContradictions = new Gauge({ name: 'acme_gateway_template_limit_contradictions', help: 'Contradictions between profiles and their backend templates found by the latest template check that succeeded', registers: [registry] });
  const templateWatch = new TemplateLimitWatch([...profiles.values()], clock, log.child({ component: 'template-limits' }), {
    intervalMs: config.background.templateCheck.interval,
    timeoutMs: TEMPLATE_CHECK_TIMEOUT_MS,
    onResult: (r) => templateContradictions.set(r.contradictions.length),
  }, { checkedAt: startedAt, contradictions: [], ...(unreadTemplates.length > 0 ? { error: `templates not read at startup: ${unreadTemplates.join('; ')}` } : {}) });
  // Issue #5 (RFC 9773): revocations made in the backend, learned by polling under a job lease.
  const polledCertificates = new Counter({ name: 'acme_gateway_revocation_poll_certificates_total', help: 'Certificates asked about by the revocation status poller, by outcome', labelNames: ['outcome'], registers: [registry] });
  const pollRounds = new Counter({ name: 'acme_gateway_revocation_poll_rounds_total', help: 'Rounds of the revocation status poller, by outcome', labelNames: ['outcome'], registers: [registry] });
  const revocationPoller = new RevocationPoller(
    { store, clock, log: log.child({ component: 'revocation-poll' }), renewalInfo: ra.renewalInfo, endpoints: profiles },
    {
      intervalMs: config.background.revocationPoll.interval,
      concurrency: config.background.revocationPoll.concurrency,
      timeoutMs: config.background.revocationPoll.timeout,
      batchSize: REVOCATION_POLL_BATCH,
      instanceId,
      metrics: { certificate: (outcome) => polledCertificates.inc({ outcome }), round: (outcome) => pollRounds.inc({ outcome }) },
    },
  );
  const proxyRoutes = proxyRoutesOf(config, connectors);
  let proxyHealth: RouteHealth[] = [];
  const { app, proxy } = buildHttpApp({
    services,
    connectors,
    proxyRoutes,
    log,
    registry,
    trustProxy: Boolean(config.server.baseUrl),
    proxyHealth: () => proxyHealth,
    templateLimits: () => templateWatch.last(),
    revocationPoll: () => ({ enabled: revocationPoller.enabled, lastRound: revocationPoller.lastRound() }),
    operatorEndpoints: config.operatorEndpoints,
  });
  // Issue #7: each proxied route is probed at startup; the result is reported, never fatal.
  const probing = probeRoutes(proxyRoutes, { signal: AbortSignal.timeout(10_000) }).then((h) => {
    proxyHealth = h;
    for (const r of h) (r.ok ? log.info.bind(log) : log.warn.bind(log))({ prefix: r.prefix, target: r.target, ok: r.ok, detail: r.detail }, 'proxy route probed');
  });

  // The CA bundle: the listener's CA and every connector's trust anchors.
  const trust: string[] = [];
  let tlsMaterial: { cert: string; key: string } | undefined;
  if (config.server.tls.mode === 'self-signed') {
    const ca = await listenerCa(config.dataDir, clock, random);
    trust.push(ca.root.pem);
    const extra = config.server.baseUrl ? [new URL(config.server.baseUrl).hostname.replace(/^\[|\]$/g, '')] : [];
    tlsMaterial = await ensureListenerTls(config.dataDir, ca, [...config.server.tls.names, ...extra], clock.now());
  } else if (config.server.tls.mode === 'files') {
    const { readFile } = await import('node:fs/promises');
    tlsMaterial = { cert: await readFile(config.server.tls.certFile ?? '', 'utf8'), key: await readFile(config.server.tls.keyFile ?? '', 'utf8') };
  }
  for (const c of connectors.values()) if (hasTrustAnchors(c)) trust.push(...c.caCertificatesPem());
  const caBundlePath = await writeCaBundle(config.dataDir, trust);

  let server: http.Server | https.Server | undefined;
  let stopping: Promise<void> | undefined;
  let background = false;
  const startBackground = () => {
    if (background || stopping) return;
    background = true;
    reconciler.start();
    runner.start();
    templateWatch.start();
    revocationPoller.start();
  };

  return {
    config,
    store,
    ra,
    log,
    app,
    caBundlePath,
    baseUrl,
    directoryUrl: (profile = config.defaultProfile) => linksOf(profile).directory(),
    middleware: (prefix = '') => mountUnder(prefix, app),
    start: startBackground,
    async listen() {
      const listen = parseHostPort(config.server.listen);
      if (!listen) throw new Error(`server.listen: "${config.server.listen}" is not HOST:PORT`);
      const handler = app.callback();
      server = tlsMaterial ? https.createServer({ cert: tlsMaterial.cert, key: tlsMaterial.key }, handler) : http.createServer(handler);
      server.keepAliveTimeout = 5_000;
      const s = server;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(listen.port, listen.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      bound = s.address() as AddressInfo;
      startBackground();
      return bound;
    },
    stop() {
      stopping ??= (async () => {
        const s = server;
        if (s) {
          const closed = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeIdleConnections();
          const grace = setTimeout(() => s.closeAllConnections(), config.server.shutdownGrace);
          await closed;
          clearTimeout(grace);
        }
        proxy.close();
        await probing;
        await Promise.all([reconciler.stop(), templateWatch.stop(), revocationPoller.stop()]);
        await runner.stop();
        await issuance.stop();
        await Promise.allSettled([...connectors.values()].map((c) => c.close()));
        await nonces.close();
        await store.close();
      })();
      return stopping;
    },
  };
}
