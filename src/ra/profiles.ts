import type { ProfileConfig } from '../config/schema.js';
import type { Connector } from '../sdk/connector.js';

/** A configured profile joined with its connector instance: what every ACME request runs under. */
export interface ProfileRuntime {
  name: string;
  config: ProfileConfig;
  connectorName: string;
  connector: Connector;
}
