/** The proxy's counters on the app's prom-client Registry; created once per registry. */
import { Counter, type Registry } from 'prom-client';

export type ProxyOutcome =
  | 'ok' // the upstream's response went to the client in full, whatever its status
  | 'bad_path' // 400: the path would leave the route's prefix or is not a clean RFC 3986 path
  | 'method_not_allowed' // 405
  | 'upstream_error' // 502: refused, unreachable, reset, TLS not trusted
  | 'upstream_timeout' // 504, or cut mid-body after the route's timeout
  | 'upstream_aborted' // the upstream broke off mid-body; the client connection is cut too
  | 'client_aborted'; // the client went away first

export type ProxyCounter = Pick<Counter<'route' | 'outcome'>, 'inc'>;

export const PROXY_REQUESTS_METRIC = 'acme_gateway_proxy_requests_total';

/** The counter on `registry`, registered on first use; a no-op without a registry. */
export function proxyRequestsCounter(registry: Registry | undefined): ProxyCounter {
  if (registry === undefined) return { inc: () => undefined };
  const existing = registry.getSingleMetric(PROXY_REQUESTS_METRIC);
  if (existing instanceof Counter) return existing as Counter<'route' | 'outcome'>;
  return new Counter({
    name: PROXY_REQUESTS_METRIC,
    help: 'Requests through the reverse proxy, by route prefix and outcome',
    labelNames: ['route', 'outcome'] as const,
    registers: [registry],
  });
}
