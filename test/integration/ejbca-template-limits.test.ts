/**
 * Issue #5 with a real connector: a gateway whose profile issues through the EJBCA web-service
 * connector reads the certificate profiles from the EJBCA double at startup (TemplateCatalog) and
 * refuses to start when the profile contradicts one (no such certificate profile, a CSR key type
 * it does not allow, a longer validity.max), naming `profiles.<name>.<key>`; a profile that fits
 * starts and serves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { startEjbcaDouble, type EjbcaDouble } from '../fakes/ejbca-ws/server.js';
import { startTestGateway } from '../helpers/gateway.js';
import { memoryLogger } from '../helpers/memory-logger.js';
import { ejbcaConnectorSection } from '../helpers/ejbca-connector.js';

let ejbca: EjbcaDouble;
let work: string;
let connector: Record<string, unknown>;

beforeAll(async () => {
  ejbca = await startEjbcaDouble();
  // Besides the default SERVER (RSA 2048–4096, P-256/P-384, 2y): SHORT, for RSA 3072+ and P-256, 90 days.
  ejbca.control.setCertificateProfile('SHORT', { id: 1_600_000_001, keyAlgorithms: ['RSA', 'ECDSA'], bitLengths: [3072, 4096], ecCurves: ['prime256v1'], encodedValidity: '90d' });
  ejbca.control.offerCertificateProfile('ACME_SERVER', 'SHORT');
  work = await mkdtemp(path.join(tmpdir(), 'acme-gw-ejbca-templates-'));
  connector = await ejbcaConnectorSection(ejbca, work);
});

afterAll(async () => {
  expect(ejbca.protocolErrors).toEqual([]);
  await ejbca?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface Outcome {
  started: boolean;
  /** What a refused start names (ConfigError.errors). */
  errors: string[];
  /** HTTP status of each profile's directory, when it started. */
  directories: Record<string, number>;
  log: ReturnType<typeof memoryLogger>;
}

/** Starts a gateway with these profiles on the double, asks each directory, stops it. */
async function startWith(profiles: Record<string, unknown>): Promise<Outcome> {
  const dataDir = await mkdtemp(path.join(work, 'data-'));
  const log = memoryLogger();
  try {
    const gw = await startTestGateway({ connectors: { ejbca: connector }, profiles, defaultProfile: Object.keys(profiles)[0] }, { dataDir, log });
    const dispatcher = new Agent({ connect: { ca: gw.caPem } });
    try {
      const directories: Record<string, number> = {};
      for (const name of Object.keys(profiles)) directories[name] = (await fetch(gw.directory(name), { dispatcher })).status;
      return { started: true, errors: [], directories, log };
    } finally {
      await dispatcher.close();
      await gw.stop();
    }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { started: false, errors: e.errors, directories: {}, log };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const base = { connector: 'ejbca', challenges: ['http-01'] };

describe('an EJBCA profile checked against its certificate profile at startup', () => {
  it('refuses to start when validity.max is longer than the certificate profile allows', async () => {
    const r = await startWith({ web: { ...base, template: 'SHORT', csrKeyTypes: ['rsa-3072', 'ec-p256'], validity: { default: '30d', max: '397d' } } });
    expect(r).toMatchObject({ started: false, errors: ['profiles.web.validity.max: 397d is longer than template "SHORT" allows (90d)'] });
  });

  it('refuses to start when csrKeyTypes lists a key type the certificate profile does not allow', async () => {
    const r = await startWith({ web: { ...base, template: 'SERVER', csrKeyTypes: ['ec-p256', 'ec-p521', 'ed25519'] } });
    expect(r).toMatchObject({ started: false, errors: ['profiles.web.csrKeyTypes: template "SERVER" does not allow ec-p521, ed25519 (it allows rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384)'] });
  });

  it('refuses to start when the template names no certificate profile EJBCA offers, listing the ones it does', async () => {
    const r = await startWith({ web: { ...base, template: 'SERVR' } });
    expect(r).toMatchObject({ started: false, errors: ['profiles.web.template: connector "ejbca" has no template "SERVR" (it has: ENDUSER, SERVER, SHORT)'] });
  });

  it('names every contradiction of every profile at once', async () => {
    const r = await startWith({
      web: { ...base, template: 'SHORT' }, // default csrKeyTypes and validity.max 397d
      mail: { ...base, template: 'SERVER', certificateProfiles: { legacy: { description: 'old', template: 'GONE' } } },
    });
    expect(r.started).toBe(false);
    expect(r.errors).toEqual([
      'profiles.web.csrKeyTypes: template "SHORT" does not allow rsa-2048, ec-p384 (it allows rsa-3072, rsa-4096, ec-p256)',
      'profiles.web.validity.max: 397d is longer than template "SHORT" allows (90d)',
      'profiles.mail.certificateProfiles.legacy.template: connector "ejbca" has no template "GONE" (it has: ENDUSER, SERVER, SHORT)',
    ]);
  });

  it('starts when every profile fits its certificate profile', async () => {
    const r = await startWith({
      web: { ...base, template: 'SERVER' }, // the gateway's defaults: RSA 2048–4096, P-256, P-384, validity.max 397d
      short: { ...base, template: 'SHORT', csrKeyTypes: ['rsa-3072', 'rsa-4096', 'ec-p256'], validity: { default: '30d', max: '90d' } },
    });
    expect(r).toMatchObject({ started: true, errors: [], directories: { web: 200, short: 200 } });
    expect(r.log.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('starts when EJBCA does not answer at startup, warns, and /health says the templates were not read', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const dataDir = await mkdtemp(path.join(work, 'data-'));
    const log = memoryLogger();
    const down = { ...connector, url: ejbca.url.replace(/:\d+\//, `:${closed}/`), timeoutMs: 2_000 };
    const gw = await startTestGateway({ connectors: { ejbca: down }, profiles: { web: { ...base, template: 'SERVER' } }, defaultProfile: 'web' }, { dataDir, log });
    const dispatcher = new Agent({ connect: { ca: gw.caPem } });
    try {
      const health = (await (await fetch(new URL('/health', gw.directory('web')), { dispatcher })).json()) as { templateLimits?: { error?: string; contradictions: string[] } };
      expect(health.templateLimits?.contradictions).toEqual([]);
      expect(health.templateLimits?.error).toMatch(/^templates not read at startup: connector "ejbca": /);
      expect(log.lines.some((l) => l.level === 'warn' && l.msg === 'template limits not checked at startup: the backend did not list its templates')).toBe(true);
    } finally {
      await dispatcher.close();
      await gw.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
