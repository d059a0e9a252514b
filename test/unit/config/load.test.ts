/**
 * Loading config (src/config/load.ts): file → overrides → schema → cross-checks, every problem at
 * once as `dotted.key: message` (docs/architecture.md §4), and what a valid file becomes: durations
 * in ms, paths resolved against the file's folder, command-line overrides winning, a frozen object.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectorSchemas } from '../../../connectors/index.js';
import { applyOverrides, envOverrides, loadConfig, validateConfig, type LoadResult } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { DAY_MS, HOUR_MS } from '../../../src/lib/clock.js';

const schemas = connectorSchemas();
const BASE = '/srv/acme-gateway';

function config(raw: unknown, baseDir = BASE): Config {
  const r = validateConfig(raw, schemas, baseDir);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.errors.join('\n')}`);
  return r.config;
}

function errors(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected the config to be refused');
  return r.errors;
}

const refused = (raw: unknown) => errors(validateConfig(raw, schemas, BASE));

describe('validateConfig: a valid configuration', () => {
  it('gives an empty file the embedded deployment: one default profile on the embedded connector', () => {
    const c = config({});
    expect(Object.keys(c.profiles)).toEqual(['default']);
    expect(c.connectors.embedded?.type).toBe('embedded');
    expect(c.profiles.default).toMatchObject({ connector: 'embedded', accounts: 'open', validation: 'required' });
    expect(c.storage).toEqual({ driver: 'sqlite' });
  });

  it('resolves dataDir and the SQLite path against the given folder', () => {
    const c = config({ dataDir: './state', storage: { driver: 'sqlite', path: 'db/gateway.sqlite' } });
    expect([c.dataDir, c.storage.driver === 'sqlite' ? c.storage.path : undefined]).toEqual([`${BASE}/state`, `${BASE}/db/gateway.sqlite`]);
  });

  it('keeps absolute paths as they are', () => {
    expect(config({ dataDir: '/var/lib/acme-gateway' }).dataDir).toBe('/var/lib/acme-gateway');
  });

  it('reads durations with units, decimals, and plain numbers as seconds', () => {
    const c = config({ profiles: { default: { validity: { default: '1.5h', min: '500ms', max: 86_400 }, finalizeWait: '45s', maxPending: '7d' } } });
    expect(c.profiles.default?.validity).toEqual({ default: 1.5 * HOUR_MS, min: 500, max: DAY_MS });
    expect([c.profiles.default?.finalizeWait, c.profiles.default?.maxPending]).toEqual([45_000, 7 * DAY_MS]);
  });

  it('fills in each connector section from its own schema', () => {
    expect(config({}).connectors.embedded).toMatchObject({ type: 'embedded', keyType: 'ec-p256', defaultValidityDays: 90 });
  });

  it('returns a frozen object, so nothing changes the configuration after startup', () => {
    const c = config({});
    expect([Object.isFrozen(c), Object.isFrozen(c.profiles.default), Object.isFrozen(c.profiles.default?.identifiers.types)]).toEqual([true, true, true]);
  });
});

describe('validateConfig: problems, all at once, each with its dotted key', () => {
  it('names a bad duration by its full key and value', () => {
    expect(refused({ profiles: { default: {}, web: { validity: { max: 'forever' } } } })).toEqual([
      'profiles.web.validity.max: validity.max: "forever" is not a duration (use e.g. 90d, 12h, 30m, 45s, 500ms)',
    ]);
  });

  it('reports problems in different sections together', () => {
    const out = refused({
      server: { listen: 'nope' },
      validation: { http01Port: 70_000 },
      profiles: { default: {}, web: { validity: { max: 'forever' }, identifiers: { allow: ['not a name'] } } },
    });
    expect(out.map((e) => e.slice(0, e.indexOf(':')))).toEqual(expect.arrayContaining(['server.listen', 'validation.http01Port', 'profiles.web.validity.max', 'profiles.web.identifiers.allow.0']));
    expect(out).toHaveLength(4);
  });

  it('names a list entry by its index', () => {
    expect(refused({ profiles: { default: { identifiers: { deny: ['example.test', 'bad pattern!'] } } } })).toEqual([
      'profiles.default.identifiers.deny.1: expected a domain (example.com, *.example.com), an IP address or a CIDR range (10.0.0.0/8)',
    ]);
  });

  it('names an unknown key at the top level', () => {
    expect(refused({ profile: {} })).toEqual(['(top level): Unrecognized key: "profile"']);
  });

  it('refuses a validity whose min is longer than its max', () => {
    expect(refused({ profiles: { default: { validity: { min: '30d', max: '10d', default: '10d' } } } })).toContain('profiles.default.validity.min: must not be longer than validity.max');
  });

  it('refuses a profile naming an unknown connector, listing the configured ones', () => {
    expect(refused({ profiles: { default: { connector: 'ejbca2' } } })).toEqual(['profiles.default.connector: unknown connector "ejbca2" (configured: embedded)']);
  });

  it('reports an unknown connector together with the schema\'s problems', () => {
    expect(refused({ profiles: { default: { connector: 'ejbca2', validity: { max: 'forever' } } } })).toEqual([
      'profiles.default.validity.max: validity.max: "forever" is not a duration (use e.g. 90d, 12h, 30m, 45s, 500ms)',
      'profiles.default.connector: unknown connector "ejbca2" (configured: embedded)',
    ]);
  });

  it('reports a cross-check problem of one profile together with a schema problem of another', () => {
    const out = refused({ profiles: { default: { validity: { max: 'forever' } }, partners: { accounts: 'pre-registered' } } });
    expect(out).toContain('profiles.default.validity.max: validity.max: "forever" is not a duration (use e.g. 90d, 12h, 30m, 45s, 500ms)');
    expect(out).toContain('profiles.partners.eab.required: must be true when accounts is "pre-registered" (the EAB key names the registration)');
  });

  it('refuses a connector of an unknown type, listing the known types', () => {
    expect(refused({ connectors: { embedded: { type: 'embedded' }, legacy: { type: 'ejbca2' } } })).toEqual([
      'connectors.legacy.type: unknown connector type "ejbca2" (known: embedded, ejbca-ws, cfssl)',
    ]);
  });

  it('checks a connector section with its own schema, under the connector\'s key', () => {
    const out = refused({ connectors: { embedded: { type: 'embedded', keyType: 'dsa-1024' } } });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^connectors\.embedded\.keyType: /);
  });

  it('refuses a profile naming an unknown binding, listing the configured ones', () => {
    expect(refused({ profiles: { default: { binding: 'ra1' } } })).toEqual(['profiles.default.binding: no binding named "ra1" (configured: none)']);
  });

  it('refuses a binding on an unknown connector and one serving an unknown ACME profile', () => {
    expect(refused({ bindings: { tls: { connector: 'gone', template: 'server', acme: { profile: 'missing' } } } })).toEqual([
      'bindings.tls.connector: unknown connector "gone" (configured: embedded)',
      'bindings.tls.acme.profile: no ACME profile named "missing"',
    ]);
  });

  it('accepts a profile served through a binding on a configured connector', () => {
    expect(config({ profiles: { default: { binding: 'tls' } }, bindings: { tls: { connector: 'embedded', template: 'server' } } }).profiles.default?.binding).toBe('tls');
  });

  it('refuses a pre-registered profile without eab.required', () => {
    expect(refused({ profiles: { default: { accounts: 'pre-registered' } } })).toEqual([
      'profiles.default.eab.required: must be true when accounts is "pre-registered" (the EAB key names the registration)',
    ]);
  });

  it('accepts a pre-registered profile that requires EAB', () => {
    expect(config({ profiles: { default: { accounts: 'pre-registered', eab: { required: true } } } }).profiles.default?.accounts).toBe('pre-registered');
  });

  it('refuses a profile named raProfile, which the binding endpoints use', () => {
    expect(refused({ profiles: { default: {}, raProfile: {} } })).toEqual(['profiles.raProfile: the name is reserved for /acme/raProfile/{binding}/']);
  });

  it('refuses a defaultProfile that names no profile', () => {
    expect(refused({ profiles: { web: {} } })).toEqual(['defaultProfile: no profile named "default"']);
  });
});

describe('overrides', () => {
  it('lets the command line replace a file\'s values and add missing sections', () => {
    const merged = applyOverrides({ server: { listen: '0.0.0.0:443' }, logging: { level: 'info' } }, { listen: '127.0.0.1:9443', logLevel: 'debug', http01Port: 5002, dnsResolver: '127.0.0.1:8053' });
    expect(merged).toEqual({ server: { listen: '127.0.0.1:9443' }, logging: { level: 'debug' }, validation: { http01Port: 5002, dnsResolver: '127.0.0.1:8053' } });
  });

  it('leaves the file\'s object untouched', () => {
    const raw = { server: { listen: '0.0.0.0:443' } };
    applyOverrides(raw, { listen: '127.0.0.1:9443' });
    expect(raw.server.listen).toBe('0.0.0.0:443');
  });

  it('reads the ACME_GATEWAY_ variables it documents and nothing else', () => {
    expect(envOverrides({ ACME_GATEWAY_CONFIG: '/etc/gw.yaml', ACME_GATEWAY_LISTEN: '[::1]:8443', ACME_GATEWAY_DATA_DIR: '/var/lib/gw', ACME_GATEWAY_BASE_URL: 'https://acme.example.test', ACME_GATEWAY_LOG_LEVEL: 'warn', HOME: '/root' })).toEqual({
      configFile: '/etc/gw.yaml',
      listen: '[::1]:8443',
      dataDir: '/var/lib/gw',
      baseUrl: 'https://acme.example.test',
      logLevel: 'warn',
    });
  });
});

describe('loadConfig: from a file', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'acme-gateway-load-'));
    return () => rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const p = path.join(dir, name);
    await writeFile(p, text);
    return p;
  }

  it('resolves relative paths against the file\'s folder, not the working directory', async () => {
    const f = await file('gateway.yaml', 'dataDir: ./state\nstorage: { driver: sqlite, path: db/gw.sqlite }\n');
    const r = await loadConfig(f, {}, schemas);
    expect(r.ok && [r.config.dataDir, r.config.storage.driver === 'sqlite' ? r.config.storage.path : undefined]).toEqual([path.join(dir, 'state'), path.join(dir, 'db/gw.sqlite')]);
  });

  it('lets command-line overrides win over the file', async () => {
    const f = await file('gateway.yaml', 'server: { listen: "0.0.0.0:443" }\nlogging: { level: info }\nvalidation: { http01Port: 80 }\n');
    const r = await loadConfig(f, { listen: '127.0.0.1:9443', logLevel: 'debug', http01Port: 5002 }, schemas);
    expect(r.ok && [r.config.server.listen, r.config.logging.level, r.config.validation.http01Port]).toEqual(['127.0.0.1:9443', 'debug', 5002]);
  });

  it('resolves a dataDir override against the working directory, not the file\'s folder', async () => {
    const f = await file('gateway.yaml', 'dataDir: ./state\n');
    const r = await loadConfig(f, { dataDir: 'cli-data' }, schemas);
    expect(r.ok && r.config.dataDir).toBe(path.resolve('cli-data'));
  });

  it('gives the defaults when there is no file', async () => {
    const r = await loadConfig(undefined, {}, schemas);
    expect(r.ok && Object.keys(r.config.profiles)).toEqual(['default']);
  });

  it('names a file it cannot read and why', async () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(errors(await loadConfig(missing, {}, schemas))).toEqual([`${missing}: cannot read (ENOENT)`]);
  });

  it('names a file that is not YAML', async () => {
    const f = await file('broken.yaml', 'profiles: [unclosed\n');
    const out = errors(await loadConfig(f, {}, schemas));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML: `));
  });

  it('refuses a file whose top level is not a mapping', async () => {
    const f = await file('list.yaml', '- a\n- b\n');
    expect(errors(await loadConfig(f, {}, schemas))).toEqual([`${f}: the top level must be a mapping`]);
  });

  it('reports a file\'s problems with their dotted keys', async () => {
    const f = await file('gateway.yaml', 'profiles:\n  default:\n    connector: ejbca2\n    finalizeWait: soon\n');
    expect(errors(await loadConfig(f, {}, schemas))).toEqual([
      'profiles.default.finalizeWait: finalizeWait: "soon" is not a duration (use e.g. 90d, 12h, 30m, 45s, 500ms)',
      'profiles.default.connector: unknown connector "ejbca2" (configured: embedded)',
    ]);
  });
});
