/**
 * The built-in connector factories, listed explicitly; src/app picks one by `type`. Each config
 * schema is loaded at once (config validation needs it); each implementation only when a
 * connector of its type is created, so a gateway on the built-in CA never loads the SOAP stack
 * (soap, xml2js: ~24 MB of resident memory and ~0.1 s of start-up).
 */
import type { Connector, ConnectorDeps, ConnectorFactory } from '../src/sdk/index.js';
import { CfsslConfigSchema, type CfsslConfig } from './cfssl/config.js';
import { EjbcaWsConfigSchema, type EjbcaWsConfig } from './ejbca-ws/config.js';
import { EmbeddedConfigSchema, type EmbeddedConfig } from './embedded/config.js';

function lazy<C>(type: string, configSchema: ConnectorFactory<C>['configSchema'], load: () => Promise<ConnectorFactory<C>>): ConnectorFactory<unknown> {
  const factory: ConnectorFactory<C> = {
    type,
    configSchema,
    async create(config: C, deps: ConnectorDeps): Promise<Connector> {
      return (await load()).create(config, deps);
    },
  };
  return factory as ConnectorFactory<unknown>;
}

export const connectorFactories: readonly ConnectorFactory<unknown>[] = [
  lazy<EmbeddedConfig>('embedded', EmbeddedConfigSchema, async () => (await import('./embedded/index.js')).embeddedConnector),
  lazy<EjbcaWsConfig>('ejbca-ws', EjbcaWsConfigSchema, async () => (await import('./ejbca-ws/index.js')).ejbcaWsConnector),
  lazy<CfsslConfig>('cfssl', CfsslConfigSchema, async () => (await import('./cfssl/index.js')).cfsslConnector),
];

export function connectorSchemas(): Map<string, ConnectorFactory<unknown>['configSchema']> {
  return new Map(connectorFactories.map((f) => [f.type, f.configSchema]));
}
