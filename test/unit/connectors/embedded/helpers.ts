import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { webcrypto } from 'node:crypto';
import { embeddedConnector, type EmbeddedConfig, type EmbeddedConnector } from '../../../../connectors/embedded/index.js';
import type { ConnectorDeps, IssueRequest, SdkIdentifier, SdkLogger } from '../../../../src/sdk/index.js';
import type { Clock } from '../../../../src/lib/clock.js';
import { SeededRandom } from '../../../../src/lib/random.js';

x509.cryptoProvider.set(globalThis.crypto);

export const signal = (): AbortSignal => AbortSignal.timeout(10_000);

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg?: string;
}

export function memoryLogger(lines: LogLine[] = []): SdkLogger & { lines: LogLine[] } {
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'embedded-ca-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export const BASE_URL = 'https://acme.example.test:8443';

export function deps(dataDir: string, clock: Clock, seed: string, name = 'embedded'): ConnectorDeps & { log: ReturnType<typeof memoryLogger> } {
  return { log: memoryLogger(), clock, random: new SeededRandom(seed), dataDir, name, baseUrl: () => `${BASE_URL}/` };
}

export function config(overrides: Partial<EmbeddedConfig> = {}): EmbeddedConfig {
  return embeddedConnector.configSchema.parse({ type: 'embedded', ...overrides });
}

export async function start(dataDir: string, clock: Clock, seed: string, overrides: Partial<EmbeddedConfig> = {}): Promise<{ connector: EmbeddedConnector; deps: ReturnType<typeof deps> }> {
  const d = deps(dataDir, clock, seed);
  return { connector: await embeddedConnector.create(config(overrides), d), deps: d };
}

export type CsrKey = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-2048' | 'rsa-1024';

const KEY_ALGORITHMS: Record<CsrKey, { generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams; sign: webcrypto.Algorithm }> = {
  'ec-p256': { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams },
  'ec-p384': { generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams },
  'ec-p521': { generate: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' } as webcrypto.EcdsaParams },
  'rsa-2048': { generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'rsa-1024': { generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
};

/** A DER PKCS#10 request for `names` (first as CN, all as SANs), signed by a fresh key of `key`. */
export async function makeCsr(names: string[], key: CsrKey = 'ec-p256'): Promise<Uint8Array> {
  const alg = KEY_ALGORITHMS[key];
  const keys = await crypto.subtle.generateKey(alg.generate, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [names[0] ?? 'unnamed'] }],
    keys,
    signingAlgorithm: alg.sign,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: /^[\d.]+$|:/.test(value) ? 'ip' : 'dns', value })))],
  });
  return new Uint8Array(csr.rawData);
}

export function identifiers(names: string[]): SdkIdentifier[] {
  return names.map((value) => ({ type: /^[\d.]+$|:/.test(value) ? 'ip' : 'dns', value }));
}

export async function issueRequest(requestId: string, names: string[], opts: { key?: CsrKey; csr?: Uint8Array; attributes?: IssueRequest['template']['attributes']; validity?: IssueRequest['validity'] } = {}): Promise<IssueRequest> {
  return {
    requestId,
    template: { name: 'server', attributes: opts.attributes ?? {} },
    csr: opts.csr ?? (await makeCsr(names, opts.key)),
    identifiers: identifiers(names),
    ...(opts.validity === undefined ? {} : { validity: opts.validity }),
    acme: { accountId: 'acct-1', accountUrl: `${BASE_URL}/acme/acct/acct-1`, orderId: requestId, orderUrl: `${BASE_URL}/acme/order/${requestId}`, profile: 'default' },
  };
}
