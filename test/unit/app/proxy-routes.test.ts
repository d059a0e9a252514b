import { describe, expect, it } from 'vitest';
import { connectorSchemas } from '../../../connectors/index.js';
import { proxyRoutesOf } from '../../../src/app/proxy-routes.js';
import { validateConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import type { Connector, ProxyUpstream, ProxyUpstreams } from '../../../src/sdk/connector.js';

function config(routes: unknown[] = []): Config {
  const r = validateConfig({ dataDir: '/tmp/x', proxy: { routes } }, connectorSchemas());
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

function declaring(upstreams: ProxyUpstream[]): Connector & ProxyUpstreams {
  const fail = () => Promise.reject(new Error('not used'));
  return { type: 'fake', issue: fail, status: fail, revoke: fail, close: () => Promise.resolve(), upstreams: () => upstreams };
}

describe('proxy routes: configured and declared by connectors (issue #7)', () => {
  it('adds the routes a connector declares to the configured ones', () => {
    const routes = proxyRoutesOf(config([{ prefix: '/pages', target: 'http://127.0.0.1:1/web' }]), new Map([['legacy', declaring([{ prefix: '/ocsp/legacy', target: 'http://127.0.0.1:2/ocsp', methods: ['GET', 'POST'] }])]]));
    expect(routes.map((r) => [r.prefix, r.methods])).toEqual([
      ['/pages', ['GET', 'HEAD']],
      ['/ocsp/legacy', ['GET', 'POST']],
    ]);
  });

  it('lets a connector route its own /crl/<name>, but not another connector\'s', () => {
    expect(proxyRoutesOf(config(), new Map([['legacy', declaring([{ prefix: '/crl/legacy', target: 'http://127.0.0.1:2/crl', methods: ['GET'] }])]]))).toHaveLength(1);
    expect(() => proxyRoutesOf(config(), new Map([['legacy', declaring([{ prefix: '/crl/embedded', target: 'http://127.0.0.1:2/crl', methods: ['GET'] }])]]))).toThrow(/would shadow the gateway's own \/crl/);
  });

  it('refuses a prefix routed twice', () => {
    expect(() => proxyRoutesOf(config([{ prefix: '/ocsp/legacy', target: 'http://127.0.0.1:1/x' }]), new Map([['legacy', declaring([{ prefix: '/ocsp/legacy', target: 'http://127.0.0.1:2/ocsp', methods: ['POST'] }])]]))).toThrow(/routed twice/);
  });

  it('refuses a configured route over what the gateway serves itself', () => {
    expect(() => proxyRoutesOf(config([{ prefix: '/health', target: 'http://127.0.0.1:1/x' }]), new Map())).toThrow(/shadow the gateway's own \/health/);
  });
});
