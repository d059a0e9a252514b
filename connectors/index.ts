/** The built-in connector factories, listed explicitly; src/app picks one by `type`. */
import type { ConnectorFactory } from '../src/sdk/index.js';
import { embeddedConnector } from './embedded/index.js';
import { ejbcaWsConnector } from './ejbca-ws/index.js';
import { cfsslConnector } from './cfssl/index.js';

export const connectorFactories: readonly ConnectorFactory<unknown>[] = [
  embeddedConnector as ConnectorFactory<unknown>,
  ejbcaWsConnector as ConnectorFactory<unknown>,
  cfsslConnector as ConnectorFactory<unknown>,
];

export function connectorSchemas(): Map<string, ConnectorFactory<unknown>['configSchema']> {
  return new Map(connectorFactories.map((f) => [f.type, f.configSchema]));
}
