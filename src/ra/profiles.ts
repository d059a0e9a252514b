import type { ProfileConfig, TemplateConfig } from '../config/schema.js';
import type { Connector } from '../sdk/connector.js';

/**
 * One ACME endpoint: an ACME profile's policy joined with the issuance binding it serves, and the
 * binding's connector instance. `name` is the endpoint's path key: the profile name for
 * /acme/{profile}/, or `raProfile/{binding}` for a binding served with a chosen ACME profile.
 */
export interface ProfileRuntime {
  name: string;
  /** The ACME profile whose policy applies. */
  acmeProfile: string;
  config: ProfileConfig;
  /** The issuance binding: its name, connector and template. */
  binding: string;
  bindingEnabled: boolean;
  connectorName: string;
  connector: Connector;
  template: TemplateConfig;
}
