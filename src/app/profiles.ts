/**
 * Builds the ACME endpoints from config: one per ACME profile (its `binding`, or the inline
 * connector + template), and one per issuance binding that enables ACME (`raProfile/{binding}`).
 */
import type { Config } from '../config/schema.js';
import type { ProfileRuntime } from '../ra/profiles.js';
import type { Connector } from '../sdk/connector.js';
import type { IssuanceProfile } from '../issuance/service.js';
import type { OrderRecord } from '../storage/store.js';

export const RA_PROFILE_PREFIX = 'raProfile/';

export function buildEndpoints(config: Config, connectors: ReadonlyMap<string, Connector>): Map<string, ProfileRuntime> {
  const endpoints = new Map<string, ProfileRuntime>();
  const connectorOf = (name: string, where: string): Connector => {
    const c = connectors.get(name);
    if (!c) throw new Error(`${where}: unknown connector "${name}"`);
    return c;
  };
  for (const [name, p] of Object.entries(config.profiles)) {
    const binding = p.binding ? config.bindings[p.binding] : undefined;
    if (p.binding && !binding) throw new Error(`profiles.${name}.binding: no binding named "${p.binding}"`);
    const connectorName = binding ? binding.connector : p.connector;
    endpoints.set(name, {
      name,
      acmeProfile: name,
      config: p,
      binding: p.binding ?? name,
      bindingEnabled: binding ? binding.enabled : true,
      connectorName,
      connector: connectorOf(connectorName, p.binding ? `bindings.${p.binding}.connector` : `profiles.${name}.connector`),
      template: binding ? binding.template : p.template,
    });
  }
  for (const [name, b] of Object.entries(config.bindings)) {
    if (!b.acme?.enabled) continue;
    const p = config.profiles[b.acme.profile];
    if (!p) throw new Error(`bindings.${name}.acme.profile: no ACME profile named "${b.acme.profile}"`);
    endpoints.set(`${RA_PROFILE_PREFIX}${name}`, {
      name: `${RA_PROFILE_PREFIX}${name}`,
      acmeProfile: b.acme.profile,
      config: p,
      binding: name,
      bindingEnabled: b.enabled,
      connectorName: b.connector,
      connector: connectorOf(b.connector, `bindings.${name}.connector`),
      template: b.template,
    });
  }
  return endpoints;
}

/** What issuance needs for one order: its endpoint's connector, and the template of its certificate profile. */
export function issuanceProfileFor(endpoints: ReadonlyMap<string, ProfileRuntime>, order: OrderRecord): IssuanceProfile | undefined {
  const ep = endpoints.get(order.profile);
  if (!ep) return undefined;
  const chosen = typeof order.policy?.certificateProfile === 'string' ? ep.config.certificateProfiles[order.policy.certificateProfile] : undefined;
  return {
    name: ep.name,
    connector: ep.connector,
    template: chosen?.template ?? ep.template,
    defaultValidityMs: (chosen?.validity ?? ep.config.validity).default,
    finalizeWaitMs: ep.config.finalizeWait,
    maxPendingMs: ep.config.maxPending,
  };
}
