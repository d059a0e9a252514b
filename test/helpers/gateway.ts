/**
 * Starts a gateway in this process on 127.0.0.1:0 with a fresh data directory, for integration
 * tests. `overrides` is raw config (as in a YAML file), checked by the real loader.
 *
 *   const gw = await startTestGateway({ validation: { dnsResolver: dns.dnsAddress } });
 *   ... gw.directoryUrl, gw.caPem ...
 *   await gw.stop();
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectorSchemas } from '../../connectors/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/app/gateway.js';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/lib/logger.js';

export interface TestGateway {
  gateway: Gateway;
  directoryUrl: string;
  baseUrl: string;
  caPem: string;
  caBundlePath: string;
  dataDir: string;
  /** The port the listener is bound to (differs from baseUrl's when a baseUrl is configured). */
  port: number;
  directory(profile: string): string;
  stop(): Promise<void>;
}

export async function startTestGateway(overrides: Record<string, unknown> = {}, opts: GatewayOptions & { dataDir?: string } = {}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'acme-gw-')));
  const raw = { dataDir, ...overrides, server: { listen: '127.0.0.1:0', ...((overrides.server as object) ?? {}) } };
  const result = validateConfig(raw, connectorSchemas());
  if (!result.ok) throw new Error(`test config invalid:\n${result.errors.join('\n')}`);
  const log = opts.log ?? createLogger(process.env.TEST_LOG_LEVEL === undefined ? 'silent' : (process.env.TEST_LOG_LEVEL as 'debug'));
  const gateway = await createGateway(result.config, { ...opts, log });
  const address = await gateway.listen();
  const caPem = await readFile(gateway.caBundlePath, 'utf8');
  return {
    gateway,
    directoryUrl: gateway.directoryUrl(),
    baseUrl: gateway.baseUrl(),
    caPem,
    caBundlePath: gateway.caBundlePath,
    dataDir,
    port: address.port,
    directory: (profile) => gateway.directoryUrl(profile),
    async stop() {
      await gateway.stop();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
