/**
 * `acme-gateway <command>`: serve, eab create, check-config.
 * Config problems are printed all at once and end the process with status 78 (EX_CONFIG)
 * before any port is opened.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { connectorSchemas } from '../../connectors/index.js';
import { envOverrides, loadConfig, type Overrides } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { serve } from './commands/serve.js';
import { eab } from './commands/eab.js';
import { orders } from './commands/orders.js';

export const EX_USAGE = 64;
export const EX_CONFIG = 78;

const USAGE = `usage:
  acme-gateway serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--base-url URL]
                     [--dns-resolver HOST:PORT] [--http01-port N] [--tlsalpn01-port N] [--log-level LEVEL]
  acme-gateway eab create --profile P [--registration R] [--max-bindings N] [--kid KID] [--config FILE] [--data-dir DIR]
  acme-gateway eab remove --kid KID [--deactivate-accounts] [--config FILE] [--data-dir DIR]
  acme-gateway orders list (--account ID | --registration R) [--config FILE] [--data-dir DIR]
  acme-gateway check-config [--config FILE]
`;

const OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'data-dir': { type: 'string' },
  'base-url': { type: 'string' },
  'dns-resolver': { type: 'string' },
  'http01-port': { type: 'string' },
  'tlsalpn01-port': { type: 'string' },
  'log-level': { type: 'string' },
  profile: { type: 'string' },
  registration: { type: 'string' },
  'max-bindings': { type: 'string' },
  kid: { type: 'string' },
  account: { type: 'string' },
  'deactivate-accounts': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type CliValues = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function portOption(name: string, value: string | undefined, errors: string[]): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) errors.push(`--${name}: "${value}" is not a port number`);
  return n;
}

/** Loads and checks config; on failure prints every problem and returns undefined. */
export async function configFromArgs(values: CliValues): Promise<Config | undefined> {
  const env = envOverrides();
  const errors: string[] = [];
  const overrides: Overrides = { ...env };
  if (values.listen !== undefined) overrides.listen = values.listen;
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir'];
  if (values['base-url'] !== undefined) overrides.baseUrl = values['base-url'];
  if (values['dns-resolver'] !== undefined) overrides.dnsResolver = values['dns-resolver'];
  if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'];
  const h = portOption('http01-port', values['http01-port'], errors);
  const t = portOption('tlsalpn01-port', values['tlsalpn01-port'], errors);
  if (h !== undefined) overrides.http01Port = h;
  if (t !== undefined) overrides.tlsAlpn01Port = t;
  const file = values.config ?? env.configFile;
  const result = await loadConfig(file ? path.resolve(file) : undefined, overrides, connectorSchemas());
  if (!result.ok) errors.push(...result.errors);
  if (errors.length > 0 || !result.ok) {
    process.stderr.write(`acme-gateway: invalid configuration${file ? ` (${file})` : ''}:\n${errors.map((e) => `  ${e}`).join('\n')}\n`);
    return undefined;
  }
  return result.config;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`acme-gateway: ${(e as Error).message}\n${USAGE}`);
    return EX_USAGE;
  }
  const [command, sub] = parsed.positionals;
  if (parsed.values.help || !command) {
    process.stdout.write(USAGE);
    return command ? 0 : EX_USAGE;
  }
  const config = await configFromArgs(parsed.values);
  if (!config) return EX_CONFIG;
  switch (command) {
    case 'serve':
      return serve(config);
    case 'check-config':
      process.stdout.write(`configuration is valid: ${Object.keys(config.profiles).length} profile(s), ${Object.keys(config.connectors).length} connector(s)\n`);
      return 0;
    case 'eab':
      return eab(config, sub, parsed.values);
    case 'orders':
      return orders(config, sub, parsed.values);
    default:
      process.stderr.write(`acme-gateway: unknown command "${command}"\n${USAGE}`);
      return EX_USAGE;
  }
}
