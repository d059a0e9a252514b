/**
 * Keeps docs/configuration.md true to the schema: every key of ConfigSchema and of each connector's
 * configSchema has its paragraph (a line starting with the dotted key in backticks), every dotted key
 * the page names exists, stated defaults equal the schema's, each key has an example, and every
 * YAML example on the page loads. Also: the shipped configurations load, and a broken one reports
 * every problem at once with its dotted key.
 */
import { readFile, readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z, type ZodType } from 'zod';
import { connectorFactories, connectorSchemas } from '../../../connectors/index.js';
import { EX_CONFIG } from '../../../src/cli/main.js';
import { loadConfig, validateConfig } from '../../../src/config/load.js';
import { ConfigSchema } from '../../../src/config/schema.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOC_PATH = path.join(ROOT, 'docs/configuration.md');
const NAME = '<name>';

// ---------------------------------------------------------------- the schema's key paths

type JsonSchema = { [key: string]: unknown };
const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every key path of a schema, records as `<name>`, each with its JSON Schema (for the default). */
function keyPaths(schema: ZodType, prefix: string[] = []): Map<string, JsonSchema> {
  const out = new Map<string, JsonSchema>();
  const hasProperties = (n: JsonSchema): boolean =>
    isObject(n.properties) || ['anyOf', 'oneOf'].some((k) => Array.isArray(n[k]) && (n[k] as unknown[]).some((b) => isObject(b) && hasProperties(b)));
  const walk = (node: unknown, at: string[]): void => {
    if (!isObject(node)) return;
    for (const k of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(node[k])) for (const branch of node[k] as unknown[]) walk(branch, at);
    if (isObject(node.properties)) {
      for (const [key, child] of Object.entries(node.properties)) {
        const p = [...at, key];
        const known = out.get(p.join('.'));
        // A union lists a key in several branches; keep the branch that states a default.
        if (!known || (known.default === undefined && isObject(child) && child.default !== undefined)) out.set(p.join('.'), child as JsonSchema);
        walk(child, p);
      }
    } else if (isObject(node.additionalProperties) && hasProperties(node.additionalProperties)) {
      // A record of mappings (profiles, connectors, bindings, certificate profiles).
      const p = [...at, NAME];
      out.set(p.join('.'), node.additionalProperties);
      walk(node.additionalProperties, p);
    }
  };
  walk(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), prefix);
  return out;
}

const mainPaths = keyPaths(ConfigSchema);
const connectorPaths = new Map(connectorFactories.map((f) => [f.type, keyPaths(f.configSchema, ['connectors', NAME])]));

/** Whether a key as written (`profiles.web.validity.max`) is `pattern` (`profiles.<name>.validity.max`). */
function matchesPath(written: string, pattern: string): boolean {
  const a = written.split('.');
  const b = pattern.split('.');
  return a.length === b.length && b.every((seg, i) => seg === a[i] || (seg === NAME && /^[\w<>-]+$/.test(a[i] ?? '')));
}

// ---------------------------------------------------------------- the page

interface Entry {
  key: string;
  line: number;
  /** The paragraph after the key's code span. */
  text: string;
  /** The connector type whose section the entry is in, if any. */
  connectorType: string | undefined;
}

interface Fence {
  info: string;
  body: string;
  line: number;
}

interface Page {
  entries: Entry[];
  fences: Fence[];
  /** Inline code spans outside fenced blocks. */
  spans: string[];
  /** Connector types that have a section. */
  connectorSections: Set<string>;
}

const TOP_LEVEL = new Set([...mainPaths.keys()].map((p) => p.split('.')[0] ?? ''));
const KEY_SPAN = /^`([A-Za-z0-9_<>.-]+)`/;
const looksLikeKey = (s: string): boolean => TOP_LEVEL.has(s.split('.')[0] ?? '') && /^[A-Za-z0-9_<>-]+(\.[A-Za-z0-9_<>-]+)*$/.test(s);

function readPage(markdown: string): Page {
  const lines = markdown.split('\n');
  const entries: Entry[] = [];
  const fences: Fence[] = [];
  const spans: string[] = [];
  const connectorSections = new Set<string>();
  let section: { type: string; level: number } | undefined;
  let current: Entry | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const fence = /^```(.*)$/.exec(line);
    if (fence) {
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !(lines[i] ?? '').startsWith('```'); i++) body.push(lines[i] ?? '');
      fences.push({ info: (fence[1] ?? '').trim(), body: body.join('\n'), line: start + 1 });
      current = undefined;
      continue;
    }
    const heading = /^(#+) (.*)$/.exec(line);
    if (heading) {
      const level = heading[1]?.length ?? 0;
      if (section && level <= section.level) section = undefined;
      const type = /connector type `([^`]+)`/i.exec(heading[2] ?? '')?.[1];
      if (type) {
        section = { type, level };
        connectorSections.add(type);
      }
      current = undefined;
      continue;
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) spans.push(m[1] ?? '');
    const key = KEY_SPAN.exec(line)?.[1];
    if (key && looksLikeKey(key)) {
      current = { key, line: i + 1, text: line.slice(key.length + 2), connectorType: section?.type };
      entries.push(current);
    } else if (line.trim() === '') {
      current = undefined;
    } else if (current) {
      current.text += `\n${line}`;
    }
  }
  return { entries, fences, spans, connectorSections };
}

const markdown = await readFile(DOC_PATH, 'utf8');
const page = readPage(markdown);

/** The paths an entry may name: a connector section's own schema, or the main schema. */
function pathsFor(entry: Pick<Entry, 'connectorType'>): Map<string, JsonSchema> {
  return (entry.connectorType && connectorPaths.get(entry.connectorType)) || mainPaths;
}

/** A documented default as a value: YAML, or `a/b` for a fraction. */
function documentedValue(text: string): unknown {
  const fraction = /^(\d+)\/(\d+)$/.exec(text);
  if (fraction) return Number(fraction[1]) / Number(fraction[2]);
  return parseYaml(text) as unknown;
}

function sameValue(documented: unknown, actual: unknown): boolean {
  if (typeof documented === 'number' && typeof actual === 'number') return Math.abs(documented - actual) <= 1e-9 * Math.max(1, Math.abs(actual));
  return JSON.stringify(documented) === JSON.stringify(actual);
}

// ---------------------------------------------------------------- tests

describe('docs/configuration.md against the config schema', () => {
  it('has a paragraph for every key of the main schema', () => {
    const documented = new Set(page.entries.filter((e) => e.connectorType === undefined).map((e) => e.key));
    const missing = [...mainPaths.keys()].filter((p) => !documented.has(p));
    expect(missing, 'keys of src/config/schema.ts without a line starting with `key` in docs/configuration.md').toEqual([]);
  });

  it('has a section "Connector type `<type>`" for every connector factory', () => {
    const types = connectorFactories.map((f) => f.type);
    expect(types.filter((t) => !page.connectorSections.has(t)), 'connector types of connectors/index.ts without a section').toEqual([]);
    expect([...page.connectorSections].filter((t) => !types.includes(t)), 'sections for connector types that do not exist').toEqual([]);
  });

  it.each(connectorFactories.map((f) => [f.type]))('documents every key of the %s connector in its section', (type) => {
    const documented = new Set(page.entries.filter((e) => e.connectorType === type).map((e) => e.key));
    const missing = [...(connectorPaths.get(type)?.keys() ?? [])].filter((p) => !documented.has(p));
    expect(missing, `keys of the ${type} configSchema without a line in its section`).toEqual([]);
  });

  it('names no key paragraph that its schema does not have', () => {
    const unknown = page.entries.filter((e) => !pathsFor(e).has(e.key)).map((e) => `line ${e.line}: ${e.key}${e.connectorType ? ` (in the ${e.connectorType} section)` : ''}`);
    expect(unknown).toEqual([]);
  });

  it('documents each key once per section', () => {
    const seen = new Map<string, number>();
    for (const e of page.entries) seen.set(`${e.connectorType ?? ''} ${e.key}`, (seen.get(`${e.connectorType ?? ''} ${e.key}`) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1).map(([k]) => k.trim())).toEqual([]);
  });

  it('mentions no dotted key anywhere in the text that the schemas do not have', () => {
    const all = [...mainPaths.keys(), ...[...connectorPaths.values()].flatMap((m) => [...m.keys()])];
    // A list item is its list's key and an index (`profiles.web.identifiers.allow.0`).
    const unknown = page.spans.filter((s) => s.includes('.') && looksLikeKey(s) && !all.some((p) => matchesPath(s.replace(/(\.\d+)+$/, ''), p)));
    expect([...new Set(unknown)]).toEqual([]);
  });

  it.each(['docs/operations.md', 'docs/rfc8555-compliance.md'])('%s names no dotted key the schemas do not have', async (doc) => {
    const text = await readFile(path.join(ROOT, doc), 'utf8');
    const all = [...mainPaths.keys(), ...[...connectorPaths.values()].flatMap((m) => [...m.keys()])];
    const spans = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');
    const unknown = spans.filter((s) => s.includes('.') && looksLikeKey(s) && !all.some((p) => matchesPath(s.replace(/(\.\d+)+$/, ''), p)));
    expect([...new Set(unknown)]).toEqual([]);
  });

  it('states the schema default wherever the schema has a scalar or list default', () => {
    const wrong: string[] = [];
    for (const e of page.entries) {
      const node = pathsFor(e).get(e.key);
      const actual = node?.default;
      if (actual === undefined || isObject(actual)) continue;
      const stated = /\bdefault `([^`]*)`/.exec(e.text)?.[1];
      if (stated === undefined) wrong.push(`line ${e.line}: ${e.key} has default ${JSON.stringify(actual)} but states none`);
      else if (!sameValue(documentedValue(stated), actual)) wrong.push(`line ${e.line}: ${e.key} states default ${stated}, the schema has ${JSON.stringify(actual)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('gives every key an example that is YAML naming the key', () => {
    const bad: string[] = [];
    for (const e of page.entries) {
      const example = /\bExample: `([^`]+)`/.exec(e.text)?.[1];
      if (example === undefined) {
        bad.push(`line ${e.line}: ${e.key} has no "Example: \`…\`"`);
        continue;
      }
      let parsed: unknown;
      try {
        parsed = parseYaml(example.replace(/…/g, 'x: 1'));
      } catch (err) {
        bad.push(`line ${e.line}: ${e.key} example is not YAML: ${(err as Error).message.split('\n')[0]}`);
        continue;
      }
      const last = e.key.split('.').at(-1) ?? '';
      const named = isObject(parsed) && (last === NAME || Object.hasOwn(parsed, last) || Object.hasOwn(parsed, e.key.split('.').at(-2) ?? ''));
      if (!named) bad.push(`line ${e.line}: ${e.key} example does not set "${last}"`);
    }
    expect(bad).toEqual([]);
  });

  it('has YAML examples that load, and a broken one whose printed errors are what the loader says', () => {
    const schemas = connectorSchemas();
    const yamlFences = page.fences.filter((f) => f.info.split(/\s+/)[0] === 'yaml');
    expect(yamlFences.length).toBeGreaterThan(0);
    for (const fence of yamlFences) {
      const result = validateConfig(parseYaml(fence.body) ?? {}, schemas, ROOT);
      if (fence.info.includes('invalid')) {
        expect(result.ok, `the YAML at line ${fence.line} is marked invalid but loads`).toBe(false);
        const shown = page.fences[page.fences.indexOf(fence) + 1];
        expect(shown?.info, `an invalid YAML example (line ${fence.line}) is followed by the text the loader prints`).toBe('text');
        const [header, ...lines] = (shown?.body ?? '').split('\n');
        expect(header).toMatch(/^acme-gateway: invalid configuration/);
        expect(lines.map((l) => l.trim()), `errors printed for the YAML at line ${fence.line}`).toEqual(result.ok ? [] : result.errors);
      } else {
        expect(result.ok ? [] : result.errors, `the YAML example at line ${fence.line}`).toEqual([]);
      }
    }
  });

  it('documents every environment variable src/config/load.ts reads, and no other', async () => {
    const source = await readFile(path.join(ROOT, 'src/config/load.ts'), 'utf8');
    const read = new Set([...source.matchAll(/env\.(ACME_GATEWAY_[A-Z0-9_]+)/g)].map((m) => m[1]));
    const named = new Set([...markdown.matchAll(/`(ACME_GATEWAY_[A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect(read.size).toBeGreaterThan(0);
    expect([...read].filter((v) => !named.has(v))).toEqual([]);
    expect([...named].filter((v) => !read.has(v))).toEqual([]);
  });

  it('documents every command-line flag src/cli/main.ts accepts, and no other', async () => {
    const source = await readFile(path.join(ROOT, 'src/cli/main.ts'), 'utf8');
    const block = /const OPTIONS = \{([\s\S]*?)\n\} as const;/.exec(source)?.[1] ?? '';
    const accepted = new Set([...block.matchAll(/^\s+'?([a-z0-9-]+)'?: \{ type:/gm)].map((m) => m[1]));
    const named = new Set([...markdown.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]));
    expect(accepted.size).toBeGreaterThan(5);
    expect([...accepted].filter((f) => !named.has(f))).toEqual([]);
    expect([...named].filter((f) => !accepted.has(f))).toEqual([]);
  });

  it('states the exit status of a configuration error and the path: message format', () => {
    expect(markdown).toContain(`status ${EX_CONFIG}`);
    expect(markdown).toContain('`path: message`');
  });
});

describe('shipped configurations', () => {
  const files = async (): Promise<string[]> => {
    const examples = (await readdir(path.join(ROOT, 'config/examples'))).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join('config/examples', f));
    return ['config/default.yaml', ...examples.sort()];
  };

  it('has at least the default and three examples', async () => {
    expect((await files()).length).toBeGreaterThanOrEqual(4);
  });

  it('loads config/default.yaml and every config/examples/*.yaml without error', async () => {
    const failures: string[] = [];
    for (const file of await files()) {
      const result = await loadConfig(path.join(ROOT, file), {}, connectorSchemas());
      if (!result.ok) failures.push(...result.errors.map((e) => `${file}: ${e}`));
    }
    expect(failures).toEqual([]);
  });
});

describe('a broken configuration', () => {
  it('reports every problem at once, each as its dotted key and a message', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'acme-gateway-config-'));
    try {
      const file = path.join(dir, 'broken.yaml');
      await writeFile(file, [
        'server:',
        '  listen: nope',
        '  bodyLimitBytes: 10',
        'validation:',
        '  http01Port: 70000',
        'logging:',
        '  level: loud',
        'profiles:',
        '  web:',
        '    connector: missing',
        '    validity: { max: nope }',
        '    identifiers: { allow: ["not a name"] }',
        '    revocationReasons: [7]',
        '    ari: { windowStart: 0.1, windowEnd: 0.2 }',
        '',
      ].join('\n'));

      const result = await loadConfig(file, {}, connectorSchemas());

      expect(result.ok).toBe(false);
      const errors = result.ok ? [] : result.errors;
      const keys = errors.map((e) => e.slice(0, e.indexOf(': ')));
      expect(keys.sort()).toEqual([
        'defaultProfile', // the file names only a profile "web", so "default" is missing too
        'logging.level',
        'profiles.web.ari.windowEnd',
        'profiles.web.connector',
        'profiles.web.identifiers.allow.0',
        'profiles.web.revocationReasons.0',
        'profiles.web.validity.max',
        'server.bodyLimitBytes',
        'server.listen',
        'validation.http01Port',
      ]);
      expect(errors).toContain('profiles.web.connector: unknown connector "missing" (configured: embedded)');
      expect(errors.find((e) => e.startsWith('profiles.web.validity.max: '))).toMatch(/"nope" is not a duration/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports connector sections and cross-references together once the schema is satisfied', () => {
    const result = validateConfig({
      connectors: { embedded: { type: 'embedded', keyType: 'dsa' }, old: { type: 'no-such-type' } },
      profiles: { default: {}, partners: { accounts: 'pre-registered' }, web: { binding: 'nowhere' } },
      bindings: { b: { connector: 'zz', template: 't', acme: { profile: 'nope' } } },
      defaultProfile: 'missing',
    }, connectorSchemas(), ROOT);

    expect(result.ok ? [] : result.errors.map((e) => e.slice(0, e.indexOf(': ')))).toEqual([
      'connectors.embedded.keyType',
      'connectors.old.type',
      'profiles.partners.eab.required',
      'profiles.web.binding',
      'bindings.b.connector',
      'bindings.b.acme.profile',
      'defaultProfile',
    ]);
  });
});
