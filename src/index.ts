/**
 * Library entry: build a gateway from a config, listen on its own or mount it in a host Koa app.
 *
 *   const config = await loadGatewayConfig({ file: 'gateway.yaml' });
 *   const gateway = await createAcmeGateway(config);
 *   hostApp.use(gateway.middleware('/pki'));   // server.baseUrl: https://example.com/pki
 *   gateway.start();
 */
import { connectorSchemas } from '../connectors/index.js';
import { createGateway } from './app/gateway.js';
import { ConfigError, loadConfig, validateConfig, type Overrides } from './config/load.js';
import type { Config } from './config/schema.js';

export { createGateway, type Gateway, type GatewayOptions } from './app/gateway.js';
export type { Config, ConfigInput, ProfileConfig } from './config/schema.js';
export { ConfigError } from './config/load.js';
export * from './sdk/index.js';

/** The same as createGateway; the name the docs use for mounting. */
export const createAcmeGateway = createGateway;

/** Loads a YAML file and/or a raw object, checked like `acme-gateway serve` does; throws ConfigError listing every problem. */
export async function loadGatewayConfig(opts: { file?: string; raw?: Record<string, unknown>; overrides?: Overrides } = {}): Promise<Config> {
  const result = opts.raw !== undefined ? validateConfig({ ...opts.raw }, connectorSchemas()) : await loadConfig(opts.file, opts.overrides ?? {}, connectorSchemas());
  if (!result.ok) throw new ConfigError(result.errors);
  return result.config;
}
