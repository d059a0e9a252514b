/**
 * Template limits read from the backend (issue #5), while the gateway runs: the built-in CA wrapped
 * with a template catalog the test changes, a gateway re-checking it every 50 ms, and /health and
 * the log showing a contradiction appear, a failing backend call, and the contradiction clearing.
 * At startup the same contradiction refuses to start.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectorSchemas } from '../../connectors/index.js';
import { embeddedConnector } from '../../connectors/embedded/index.js';
import { createGateway } from '../../src/app/gateway.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { TestClock } from '../../src/lib/clock.js';
import type { Connector, ConnectorFactory, TemplateInfo } from '../../src/sdk/connector.js';
import { ConnectorError } from '../../src/sdk/errors.js';
import { memoryLogger } from '../helpers/memory-logger.js';
import { Harness, waitFor } from './support.js';

const DAY_S = 86_400;

/** What the backend lists; the test edits it between checks. */
const catalog: { templates: TemplateInfo[]; failure?: Error; asked: number } = { templates: [], asked: 0 };

/** The built-in CA, plus TemplateCatalog answering from `catalog`. */
const withCatalog: ConnectorFactory<unknown> = {
  type: 'embedded',
  configSchema: embeddedConnector.configSchema,
  async create(config, deps) {
    const inner = await embeddedConnector.create(config as Parameters<typeof embeddedConnector.create>[0], deps);
    const templates = () => {
      catalog.asked++;
      return catalog.failure ? Promise.reject(catalog.failure) : Promise.resolve(catalog.templates.map((t) => ({ ...t })));
    };
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === 'templates') return templates;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Connector;
  },
};

interface TemplateLimitsHealth {
  checkedAt: string;
  ok: boolean;
  contradictions: string[];
  error?: string;
}

const TOO_LONG = 'profiles.default.validity.max: 397d is longer than template "server" allows (90d)';

describe('template limits re-checked on a timer', () => {
  // Starts a minute back so the listener certificate made at startup is valid for TLS already.
  const clock = new TestClock(new Date(Date.now() - 60_000));
  const log = memoryLogger();
  let h: Harness;
  let stopped = false;

  const health = async () => {
    const res = await h.raw('GET', `${h.gw.baseUrl}/health`);
    expect(res.status).toBe(200);
    return (res.body as { templateLimits: TemplateLimitsHealth }).templateLimits;
  };
  /** The first /health whose template check ran at the clock's current time. */
  const checkedNow = () => waitFor('a template check at the current time', health, (t) => t.checkedAt === clock.now().toISOString());

  beforeAll(async () => {
    catalog.templates = [{ name: 'server', keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'], maxValiditySeconds: 398 * DAY_S }];
    h = await Harness.start({ background: { templateCheck: { interval: '50ms' } } }, { gateway: { clock, log, connectorFactories: [withCatalog] } });
  });
  afterAll(async () => {
    if (!stopped) await h?.stop();
  });

  it('shows the startup check in /health', async () => {
    const t = await health();
    expect(t).toMatchObject({ ok: true, contradictions: [] });
    expect(t.error).toBeUndefined();
  });

  it('reports a contradiction that appears in the backend in /health and at warn on every check, never stopping', async () => {
    catalog.templates = [{ name: 'server', maxValiditySeconds: 90 * DAY_S }];
    clock.advance(1000);
    expect(await checkedNow()).toEqual({ checkedAt: clock.now().toISOString(), ok: false, contradictions: [TOO_LONG] });
    clock.advance(1000);
    await checkedNow();
    const warned = log.lines.filter((l) => l.level === 'warn' && l.msg === 'profile contradicts its template in the backend');
    expect(warned.length).toBeGreaterThanOrEqual(2);
    expect(warned[0]?.obj).toMatchObject({ component: 'template-limits', contradiction: TOO_LONG });
    // The gateway keeps serving.
    expect((await h.raw('GET', h.directoryUrl())).status).toBe(200);
  });

  it('keeps the last contradictions and names the error when the backend cannot be asked', async () => {
    catalog.failure = new ConnectorError('unavailable', 'connection refused by the template service');
    clock.advance(1000);
    expect(await checkedNow()).toEqual({ checkedAt: clock.now().toISOString(), ok: false, contradictions: [TOO_LONG], error: 'connection refused by the template service' });
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'template limits could not be checked; keeping the last result' }));
  });

  it('clears once the backend fits again, saying so once at info', async () => {
    delete catalog.failure;
    catalog.templates = [{ name: 'server', maxValiditySeconds: 397 * DAY_S }];
    clock.advance(1000);
    expect(await checkedNow()).toEqual({ checkedAt: clock.now().toISOString(), ok: true, contradictions: [] });
    clock.advance(1000);
    await checkedNow();
    const cleared = log.lines.filter((l) => l.msg === 'profiles fit their templates again');
    expect(cleared).toEqual([expect.objectContaining({ level: 'info', obj: expect.objectContaining({ cleared: [TOO_LONG] }) })]);
  });

  it('publishes the count of contradictions at /metrics', async () => {
    const res = await h.raw('GET', `${h.gw.baseUrl}/metrics`);
    expect(String(res.body)).toMatch(/^acme_gateway_template_limit_contradictions 0$/m);
  });

  it('stops checking once the gateway stopped', async () => {
    stopped = true;
    await h.stop();
    const asked = catalog.asked;
    await new Promise((r) => setTimeout(r, 150));
    expect(catalog.asked).toBe(asked);
  });
});

describe('template limits at startup', () => {
  it('refuses to start on a contradiction, naming it', async () => {
    catalog.templates = [{ name: 'server', maxValiditySeconds: 90 * DAY_S }];
    delete catalog.failure;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'acme-gw-template-limits-'));
    try {
      const result = validateConfig({ dataDir, server: { listen: '127.0.0.1:0' } }, connectorSchemas());
      if (!result.ok) throw new Error(result.errors.join('\n'));
      const start = createGateway(result.config, { log: memoryLogger(), connectorFactories: [withCatalog] });
      await expect(start).rejects.toBeInstanceOf(ConfigError);
      await expect(start).rejects.toMatchObject({ errors: [TOO_LONG] });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
