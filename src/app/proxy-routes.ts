/**
 * The reverse proxy's routes: those configured under proxy.routes, plus those connectors declare
 * themselves (ProxyUpstreams), so configuring a backend brings its OCSP and CRL routes with it.
 */
import type { Config } from '../config/schema.js';
import { ProxyRouteSchema, type ProxyRoute } from '../proxy/config.js';
import { hasProxyUpstreams, type Connector } from '../sdk/connector.js';

/** Paths the gateway serves itself; a route may not shadow them. */
const OWN_PREFIXES = ['/acme', '/crl', '/ca', '/health', '/metrics'];

export function proxyRoutesOf(config: Config, connectors: ReadonlyMap<string, Connector>): ProxyRoute[] {
  const routes: ProxyRoute[] = [...config.proxy.routes];
  for (const [name, c] of connectors) {
    if (!hasProxyUpstreams(c)) continue;
    for (const u of c.upstreams()) {
      const parsed = ProxyRouteSchema.safeParse({ prefix: u.prefix, target: u.target, methods: [...u.methods] });
      if (!parsed.success) throw new Error(`connectors.${name}: declared proxy route ${u.prefix} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
      routes.push(parsed.data);
    }
  }
  const seen = new Set<string>();
  for (const r of routes) {
    if (seen.has(r.prefix)) throw new Error(`proxy.routes: prefix ${r.prefix} is routed twice (configured and declared by a connector?)`);
    seen.add(r.prefix);
    const clash = OWN_PREFIXES.find((p) => r.prefix === p || r.prefix.startsWith(`${p}/`));
    if (clash) throw new Error(`proxy.routes: prefix ${r.prefix} would shadow the gateway's own ${clash}`);
    for (const name of connectors.keys()) {
      if (r.prefix === `/ocsp/${name}` || `/ocsp/${name}`.startsWith(`${r.prefix}/`)) {
        // /ocsp/<connector> is served before the proxy, so a route at /ocsp keeps working for other paths.
        continue;
      }
    }
  }
  return routes;
}
