/**
 * Loading config: file (YAML) → environment → command-line overrides → schema → cross-checks.
 * Every problem is collected and reported at once as `path: message`; the caller exits with 78.
 * This module is the only reader of process.env.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ZodType, z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';

export interface Overrides {
  listen?: string;
  dataDir?: string;
  baseUrl?: string;
  dnsResolver?: string;
  http01Port?: number;
  tlsAlpn01Port?: number;
  logLevel?: string;
}

export type LoadResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/** Each connector type's own schema, checked against its `connectors.<name>` section. */
export type ConnectorSchemas = ReadonlyMap<string, ZodType>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly errors: string[]) {
    super(`invalid configuration:\n${errors.map((e) => `  ${e}`).join('\n')}`);
  }
}

/** Environment variables the gateway reads (documented in docs/configuration.md). */
export function envOverrides(env: NodeJS.ProcessEnv = process.env): Overrides & { configFile?: string } {
  const o: Overrides & { configFile?: string } = {};
  if (env.ACME_GATEWAY_CONFIG) o.configFile = env.ACME_GATEWAY_CONFIG;
  if (env.ACME_GATEWAY_LISTEN) o.listen = env.ACME_GATEWAY_LISTEN;
  if (env.ACME_GATEWAY_DATA_DIR) o.dataDir = env.ACME_GATEWAY_DATA_DIR;
  if (env.ACME_GATEWAY_BASE_URL) o.baseUrl = env.ACME_GATEWAY_BASE_URL;
  if (env.ACME_GATEWAY_LOG_LEVEL) o.logLevel = env.ACME_GATEWAY_LOG_LEVEL;
  return o;
}

export async function loadConfigFile(file: string | undefined): Promise<{ raw: unknown; errors: string[] }> {
  if (!file) return { raw: {}, errors: [] };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { raw: {}, errors: [`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`] };
  }
  try {
    const raw: unknown = parseYaml(text) ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) return { raw: {}, errors: [`${file}: the top level must be a mapping`] };
    return { raw, errors: [] };
  } catch (e) {
    return { raw: {}, errors: [`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`] };
  }
}

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1] as string] = value;
}

export function applyOverrides(raw: unknown, o: Overrides): Record<string, unknown> {
  const copy = structuredClone((raw ?? {}) as Record<string, unknown>);
  if (o.listen !== undefined) setPath(copy, ['server', 'listen'], o.listen);
  if (o.baseUrl !== undefined) setPath(copy, ['server', 'baseUrl'], o.baseUrl);
  if (o.dataDir !== undefined) copy.dataDir = o.dataDir;
  if (o.dnsResolver !== undefined) setPath(copy, ['validation', 'dnsResolver'], o.dnsResolver);
  if (o.http01Port !== undefined) setPath(copy, ['validation', 'http01Port'], o.http01Port);
  if (o.tlsAlpn01Port !== undefined) setPath(copy, ['validation', 'tlsAlpn01Port'], o.tlsAlpn01Port);
  if (o.logLevel !== undefined) setPath(copy, ['logging', 'level'], o.logLevel);
  return copy;
}

function formatPath(p: readonly PropertyKey[]): string {
  return p.map((k) => String(k)).join('.') || '(top level)';
}

/** Validates a raw config object; all problems at once. `baseDir` resolves relative paths. */
export function validateConfig(raw: unknown, connectorSchemas: ConnectorSchemas, baseDir = process.cwd()): LoadResult {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    // Every problem at once: the cross-checks still run on what the schema accepted.
    const errors = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    const reported = (key: string) => errors.some((e) => e.startsWith(`${key}:`));
    const rest = parseAccepted(raw, parsed.error.issues);
    // References are checked against the names as written: a section refused above still exists.
    const more = rest ? crossChecks(rest, connectorSchemas, namesIn(raw, rest)) : rawConnectorRefErrors(raw);
    return { ok: false, errors: [...errors, ...more.filter((e) => !reported(e.slice(0, e.indexOf(':'))))] };
  }
  const config = parsed.data;
  config.dataDir = path.resolve(baseDir, config.dataDir);
  if (config.storage.driver === 'sqlite' && config.storage.path) config.storage.path = path.resolve(baseDir, config.storage.path);
  const errors = crossChecks(config, connectorSchemas);
  return errors.length ? { ok: false, errors } : { ok: true, config: deepFreeze(config) };
}

interface Names {
  connectors: readonly string[];
  profiles: readonly string[];
  bindings: readonly string[];
}

const namesOf = (config: Config): Names => ({ connectors: Object.keys(config.connectors), profiles: Object.keys(config.profiles), bindings: Object.keys(config.bindings) });

/** The names each section of a refused input gives, where it is a mapping; else those of `config`. */
function namesIn(raw: unknown, config: Config): Names {
  const known = namesOf(config);
  const keys = (section: 'connectors' | 'profiles' | 'bindings') => {
    const v = isMapping(raw) ? raw[section] : undefined;
    return isMapping(v) ? Object.keys(v) : known[section];
  };
  return { connectors: keys('connectors'), profiles: keys('profiles'), bindings: keys('bindings') };
}

/** Checks across sections and each connector's own schema; fills in the connector sections it parses. */
function crossChecks(config: Config, connectorSchemas: ConnectorSchemas, names: Names = namesOf(config)): string[] {
  const errors: string[] = [];
  const listed = (n: readonly string[]) => n.join(', ') || 'none';
  for (const [name, c] of Object.entries(config.connectors)) {
    const schema = connectorSchemas.get(c.type);
    if (!schema) {
      errors.push(`connectors.${name}.type: unknown connector type "${c.type}" (known: ${[...connectorSchemas.keys()].join(', ')})`);
      continue;
    }
    const r = schema.safeParse(c);
    if (!r.success) for (const i of r.error.issues) errors.push(`connectors.${name}.${formatPath(i.path)}: ${i.message}`);
    else config.connectors[name] = r.data as typeof c;
  }
  for (const [name, p] of Object.entries(config.profiles)) {
    if (p.accounts === 'pre-registered' && !p.eab.required) errors.push(`profiles.${name}.eab.required: must be true when accounts is "pre-registered" (the EAB key names the registration)`);
    if (name === 'raProfile') errors.push('profiles.raProfile: the name is reserved for /acme/raProfile/{binding}/');
    if (p.binding !== undefined && !names.bindings.includes(p.binding)) errors.push(`profiles.${name}.binding: no binding named "${p.binding}" (configured: ${listed(names.bindings)})`);
    else if (p.binding === undefined && !names.connectors.includes(p.connector)) errors.push(unknownConnector(name, p.connector, names.connectors));
  }
  for (const [name, b] of Object.entries(config.bindings)) {
    if (!names.connectors.includes(b.connector)) errors.push(`bindings.${name}.connector: unknown connector "${b.connector}" (configured: ${listed(names.connectors)})`);
    if (b.acme && !names.profiles.includes(b.acme.profile)) errors.push(`bindings.${name}.acme.profile: no ACME profile named "${b.acme.profile}"`);
  }
  if (!names.profiles.includes(config.defaultProfile)) errors.push(`defaultProfile: no profile named "${config.defaultProfile}"`);
  if (config.server.baseUrl && !/^https?:\/\//.test(config.server.baseUrl)) errors.push('server.baseUrl: must be an http(s) URL');
  return errors;
}

/**
 * The refused input parsed again without the keys the schema refused, defaults standing in for them,
 * so a bad value in one place hides no cross-check problem elsewhere; undefined when that fails too.
 */
function parseAccepted(raw: unknown, refused: readonly z.core.$ZodIssue[]): Config | undefined {
  let input: unknown;
  try {
    input = structuredClone(raw);
  } catch {
    return undefined; // not plain data (a host app's object with functions): the schema's problems only
  }
  let issues = refused;
  for (let round = 0; round < 5; round++) {
    for (const i of issues) {
      if (i.path.length === 0 && i.code !== 'unrecognized_keys') return undefined;
      for (const keys of i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k]) : [i.path]) input = withoutKey(input, keys);
    }
    const again = ConfigSchema.safeParse(input);
    if (again.success) return again.data;
    issues = again.error.issues;
  }
  return undefined;
}

/** `obj` without the value at `keys`; a list, or a mapping missing a required key, goes as a whole. */
function withoutKey(obj: unknown, keys: readonly PropertyKey[]): unknown {
  if (typeof obj !== 'object' || obj === null) return obj;
  if (Array.isArray(obj)) return undefined;
  const [first, ...rest] = keys;
  if (first === undefined) return obj;
  const o = obj as Record<PropertyKey, unknown>;
  if (!Object.hasOwn(o, first)) return undefined; // a required key is missing: the mapping goes
  const child = rest.length === 0 ? undefined : withoutKey(o[first], rest);
  if (child === undefined) delete o[first];
  else o[first] = child;
  return o;
}

function unknownConnector(profile: string, connector: string, configured: readonly string[]): string {
  return `profiles.${profile}.connector: unknown connector "${connector}" (configured: ${configured.join(', ') || 'none'})`;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Profiles naming a connector that is not configured, read from input the schema refused. */
function rawConnectorRefErrors(raw: unknown): string[] {
  if (!isMapping(raw) || !isMapping(raw.profiles)) return [];
  // The schema's default when `connectors` is absent.
  const connectors = raw.connectors === undefined ? { embedded: {} } : raw.connectors;
  if (!isMapping(connectors)) return [];
  const errors: string[] = [];
  for (const [name, p] of Object.entries(raw.profiles)) {
    const ref = isMapping(p) && p.binding === undefined ? (p.connector ?? 'embedded') : undefined;
    if (typeof ref === 'string' && !Object.hasOwn(connectors, ref)) errors.push(unknownConnector(name, ref, Object.keys(connectors)));
  }
  return errors;
}

export async function loadConfig(file: string | undefined, overrides: Overrides, connectorSchemas: ConnectorSchemas): Promise<LoadResult> {
  const { raw, errors } = await loadConfigFile(file);
  if (errors.length) return { ok: false, errors };
  const baseDir = file ? path.dirname(path.resolve(file)) : process.cwd();
  // dataDir given on the command line is relative to where the command runs, not to the file.
  const merged = applyOverrides(raw, overrides);
  if (overrides.dataDir) merged.dataDir = path.resolve(overrides.dataDir);
  return validateConfig(merged, connectorSchemas, baseDir);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
