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
  const routes: { route: ProxyRoute; owner?: string }[] = config.proxy.routes.map((route) => ({ route }));
  for (const [name, c] of connectors) {
    if (!hasProxyUpstreams(c)) continue;
    for (const u of c.upstreams()) {
      const parsed = ProxyRouteSchema.safeParse({ prefix: u.prefix, target: u.target, methods: [...u.methods] });
      if (!parsed.success) throw new Error(`connectors.${name}: declared proxy route ${u.prefix} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
      routes.push({ route: parsed.data, owner: name });
    }
  }
  const seen = new Set<string>();
  for (const { route, owner } of routes) {
    if (seen.has(route.prefix)) throw new Error(`proxy.routes: prefix ${route.prefix} is routed twice (configured and declared by a connector?)`);
    seen.add(route.prefix);
    // A connector may route its own publication paths (/crl/<name>, /ocsp/<name>) when the gateway
    // does not serve them for it; nothing else may shadow what the gateway serves itself.
    const ownPublication = owner !== undefined && (route.prefix === `/crl/${owner}` || route.prefix === `/ocsp/${owner}`);
    const clash = OWN_PREFIXES.find((p) => route.prefix === p || route.prefix.startsWith(`${p}/`));
    if (clash && !ownPublication) throw new Error(`proxy.routes: prefix ${route.prefix} would shadow the gateway's own ${clash}`);
  }
  return routes.map((r) => r.route);
}
