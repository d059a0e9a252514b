/**
 * A small XML Schema loader and validator for the EJBCA WSDL's inline schema, so the double refuses
 * every request (and checks every reply) that does not match the wire format, without an outside
 * program such as xmllint.
 *
 * Why a loader of our own: the schema in ejbcaws.wsdl uses a tiny subset of XSD (156 complex types,
 * each an `xs:sequence` of `xs:element`s with minOccurs/maxOccurs/nillable, two `xs:complexContent`
 * extensions, and the simple types string, int, long, integer, boolean, base64Binary, dateTime).
 * The loader reads exactly that subset and throws on anything else, so a WSDL it cannot check fully
 * is never checked partly. It builds, for every complex type, the flattened content model (base
 * type's sequence first), and the validator walks a parsed document against it: element names and
 * namespaces (the wrapper is qualified, its children unqualified: elementFormDefault="unqualified"),
 * order, minOccurs/maxOccurs, xsi:nil only where nillable, no stray attributes or text, and the
 * lexical form of every simple value.
 */
import xml2js from 'xml2js';

export const XSD_NS = 'http://www.w3.org/2001/XMLSchema';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
export const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

/** One element in document order, namespaces resolved. */
export interface XmlNode {
  uri: string;
  local: string;
  attrs: { uri: string; local: string; value: string }[];
  text: string;
  children: XmlNode[];
}

const SIMPLE_TYPES = ['string', 'int', 'long', 'integer', 'boolean', 'base64Binary', 'dateTime'] as const;
type SimpleType = (typeof SIMPLE_TYPES)[number];

export type TypeRef = { kind: 'simple'; name: SimpleType } | { kind: 'complex'; name: string };

export interface Particle {
  name: string;
  type: TypeRef;
  minOccurs: number;
  maxOccurs: number; // Infinity for "unbounded"
  nillable: boolean;
}

export interface Schema {
  targetNamespace: string;
  /** Top-level elements (operation wrappers, responses, faults) and their types. */
  elements: ReadonlyMap<string, TypeRef>;
  /** Complex types, each with its content model flattened (extension base first). */
  types: ReadonlyMap<string, readonly Particle[]>;
}

// ---------------------------------------------------------------- parsing

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toNode(raw: unknown): XmlNode {
  if (!isRecord(raw)) throw new Error('xml: expected an element');
  const ns = raw['$ns'];
  const uri = isRecord(ns) && typeof ns['uri'] === 'string' ? ns['uri'] : '';
  const local = isRecord(ns) && typeof ns['local'] === 'string' ? ns['local'] : String(raw['#name'] ?? '');
  const attrs: XmlNode['attrs'] = [];
  const rawAttrs = raw['$'];
  if (isRecord(rawAttrs)) {
    for (const a of Object.values(rawAttrs)) {
      if (isRecord(a)) attrs.push({ uri: String(a['uri'] ?? ''), local: String(a['local'] ?? ''), value: String(a['value'] ?? '') });
    }
  }
  const kids = raw['$$'];
  const children = Array.isArray(kids) ? kids.map(toNode) : [];
  const text = typeof raw['_'] === 'string' ? raw['_'] : '';
  return { uri, local, attrs, text, children };
}

/**
 * Parses XML into namespace-resolved nodes in document order; throws on malformed XML or unbound
 * prefixes. Synchronous (xml2js calls back before parseString returns when `async` is off), so
 * the soap server's synchronous `response` event can check a reply before it is sent.
 */
export function parseXml(xml: string): XmlNode {
  const parser = new xml2js.Parser({
    xmlns: true,
    explicitChildren: true,
    preserveChildrenOrder: true,
    explicitRoot: false,
    includeWhiteChars: true,
    strict: true,
    async: false,
  });
  let outcome: { ok: true; raw: unknown } | { ok: false; error: unknown } | undefined;
  parser.parseString(xml, (error: unknown, raw: unknown) => {
    outcome ??= error ? { ok: false, error } : { ok: true, raw };
  });
  if (outcome === undefined) throw new Error('xml2js did not parse synchronously');
  if (!outcome.ok) throw outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
  return toNode(outcome.raw);
}

// ---------------------------------------------------------------- loading

function attr(node: XmlNode, name: string): string | undefined {
  return node.attrs.find((a) => a.uri === '' && a.local === name)?.value;
}

/** Prefix → namespace declarations in scope at the schema element (own and ancestors'). */
function declarations(path: readonly XmlNode[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const node of path) {
    for (const a of node.attrs) if (a.uri === XMLNS_NS && a.local !== 'xmlns') map.set(a.local, a.value);
  }
  return map;
}

function findSchema(node: XmlNode, path: XmlNode[] = []): { schema: XmlNode; path: XmlNode[] } | undefined {
  const here = [...path, node];
  if (node.uri === XSD_NS && node.local === 'schema') return { schema: node, path: here };
  for (const c of node.children) {
    const found = findSchema(c, here);
    if (found) return found;
  }
  return undefined;
}

function unsupported(what: string): never {
  throw new Error(`schema loader: unsupported XSD construct ${what}; extend test/fakes/ejbca-ws/schema.ts before using this WSDL`);
}

/** Loads the schema of a WSDL (its `wsdl:types/xs:schema`) or of a bare XSD document. */
export function loadSchema(text: string): Schema {
  const root = parseXml(text);
  const found = findSchema(root);
  if (!found) throw new Error('schema loader: no xs:schema element');
  const { schema } = found;
  const ns = declarations(found.path);
  const targetNamespace = attr(schema, 'targetNamespace') ?? '';
  if (attr(schema, 'elementFormDefault') !== 'unqualified') unsupported('elementFormDefault other than "unqualified"');

  const typeRef = (qname: string): TypeRef => {
    const [prefix, local] = qname.includes(':') ? (qname.split(':', 2) as [string, string]) : ['', qname];
    const uri = ns.get(prefix) ?? '';
    if (uri === XSD_NS) {
      if (!(SIMPLE_TYPES as readonly string[]).includes(local)) unsupported(`simple type xs:${local}`);
      return { kind: 'simple', name: local as SimpleType };
    }
    if (uri === targetNamespace) return { kind: 'complex', name: local };
    return unsupported(`type in namespace ${uri}`);
  };

  const particlesOf = (sequence: XmlNode): Particle[] =>
    sequence.children.map((el) => {
      if (el.uri !== XSD_NS || el.local !== 'element') unsupported(`xs:${el.local} inside xs:sequence`);
      const name = attr(el, 'name');
      const type = attr(el, 'type');
      if (name === undefined || type === undefined) unsupported('xs:element without name and type');
      const max = attr(el, 'maxOccurs') ?? '1';
      return {
        name,
        type: typeRef(type),
        minOccurs: Number(attr(el, 'minOccurs') ?? '1'),
        maxOccurs: max === 'unbounded' ? Infinity : Number(max),
        nillable: attr(el, 'nillable') === 'true',
      };
    });

  const elements = new Map<string, TypeRef>();
  const declared = new Map<string, { own: Particle[]; base?: string }>();
  for (const child of schema.children) {
    if (child.uri !== XSD_NS) unsupported(`{${child.uri}}${child.local}`);
    const name = attr(child, 'name');
    if (name === undefined) unsupported(`unnamed xs:${child.local}`);
    if (child.local === 'element') {
      const type = attr(child, 'type');
      if (type === undefined) unsupported(`element ${name} without a type`);
      elements.set(name, typeRef(type));
    } else if (child.local === 'complexType') {
      const [body, ...rest] = child.children;
      if (rest.length > 0 || child.attrs.some((a) => a.uri === '' && a.local !== 'name')) unsupported(`complexType ${name} with more than a sequence`);
      if (body?.local === 'sequence') {
        declared.set(name, { own: particlesOf(body) });
      } else if (body?.local === 'complexContent' && body.children[0]?.local === 'extension' && body.children.length === 1) {
        const ext = body.children[0];
        const base = attr(ext, 'base');
        const seq = ext.children[0];
        if (base === undefined || ext.children.length !== 1 || seq?.local !== 'sequence') unsupported(`complexType ${name}: extension without one sequence`);
        const baseRef = typeRef(base);
        if (baseRef.kind !== 'complex') unsupported(`complexType ${name} extending a simple type`);
        declared.set(name, { own: particlesOf(seq), base: baseRef.name });
      } else {
        unsupported(`complexType ${name} content ${body?.local ?? '(empty)'}`);
      }
    } else {
      unsupported(`top-level xs:${child.local}`);
    }
  }

  const types = new Map<string, Particle[]>();
  const flatten = (name: string, seen: Set<string>): Particle[] => {
    const done = types.get(name);
    if (done) return done;
    const d = declared.get(name);
    if (!d) throw new Error(`schema loader: type ${name} is used but not declared`);
    if (seen.has(name)) throw new Error(`schema loader: type ${name} extends itself`);
    const particles = d.base === undefined ? d.own : [...flatten(d.base, new Set([...seen, name])), ...d.own];
    types.set(name, particles);
    return particles;
  };
  for (const name of declared.keys()) flatten(name, new Set());
  for (const [el, ref] of elements) if (ref.kind === 'complex' && !types.has(ref.name)) throw new Error(`schema loader: element ${el} has undeclared type ${ref.name}`);
  return { targetNamespace, elements, types };
}

// ---------------------------------------------------------------- validating

const INT32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
// XML Schema Part 2 §3.2.7: -?YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?
const DATE_TIME = /^-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-](0\d|1[0-4]):[0-5]\d)?$/;
// §3.2.16 base64Binary: groups of four from the base64 alphabet, whitespace allowed between.
const BASE64 = /^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function checkSimple(type: SimpleType, raw: string): string | undefined {
  const v = type === 'string' ? raw : raw.trim(); // xs:string keeps whitespace; the others collapse it
  switch (type) {
    case 'string':
      return undefined;
    case 'boolean':
      return ['true', 'false', '1', '0'].includes(v) ? undefined : `"${v}" is not an xs:boolean`;
    case 'int':
    case 'long':
    case 'integer': {
      if (!/^[+-]?\d+$/.test(v)) return `"${v}" is not an xs:${type}`;
      const n = BigInt(v);
      const range = type === 'int' ? INT32 : type === 'long' ? INT64 : undefined;
      return range && (n < range.min || n > range.max) ? `${v} is out of the xs:${type} range` : undefined;
    }
    case 'base64Binary':
      return BASE64.test(v.replace(/\s+/g, '')) ? undefined : 'content is not xs:base64Binary';
    case 'dateTime':
      return DATE_TIME.test(v) ? undefined : `"${v}" is not an xs:dateTime`;
  }
}

function isNil(node: XmlNode): boolean {
  const nil = node.attrs.find((a) => a.uri === XSI_NS && a.local === 'nil');
  return nil !== undefined && (nil.value === 'true' || nil.value === '1');
}

/** Attributes other than namespace declarations and xsi:nil/xsi:type are not in this schema. */
function strayAttributes(node: XmlNode): string[] {
  return node.attrs
    .filter((a) => a.uri !== XMLNS_NS && !(a.uri === '' && a.local === 'xmlns') && !(a.uri === XSI_NS && (a.local === 'nil' || a.local === 'type')))
    .map((a) => (a.uri ? `{${a.uri}}${a.local}` : a.local));
}

/** Validates `node` as an instance of `type`; errors name the path. */
export function validateNode(schema: Schema, node: XmlNode, type: TypeRef, path: string, nillable = false): string[] {
  const errors: string[] = [];
  const stray = strayAttributes(node);
  if (stray.length > 0) errors.push(`${path}: attribute(s) not in the schema: ${stray.join(', ')}`);
  if (isNil(node)) {
    if (!nillable) errors.push(`${path}: xsi:nil on an element that is not nillable (leave it out instead)`);
    else if (node.children.length > 0 || node.text.trim() !== '') errors.push(`${path}: xsi:nil element has content`);
    return errors;
  }
  if (type.kind === 'simple') {
    if (node.children.length > 0) errors.push(`${path}: xs:${type.name} must not contain elements`);
    const problem = checkSimple(type.name, node.text);
    if (problem) errors.push(`${path}: ${problem}`);
    return errors;
  }
  const particles = schema.types.get(type.name);
  if (!particles) return [`${path}: type ${type.name} is not in the schema`];
  if (node.text.trim() !== '') errors.push(`${path}: text "${node.text.trim().slice(0, 40)}" inside complex type ${type.name}`);
  let i = 0;
  for (const p of particles) {
    let count = 0;
    while (i < node.children.length) {
      const child = node.children[i];
      if (child === undefined || child.local !== p.name || child.uri !== '') break;
      if (count >= p.maxOccurs) break;
      errors.push(...validateNode(schema, child, p.type, `${path}/${p.name}`, p.nillable));
      count++;
      i++;
    }
    if (count < p.minOccurs) errors.push(`${path}: missing required element ${p.name} (${type.name} needs it at this position)`);
  }
  for (const extra of node.children.slice(i)) {
    const name = extra.uri ? `{${extra.uri}}${extra.local}` : extra.local;
    const known = particles.some((p) => p.name === extra.local && extra.uri === '');
    errors.push(`${path}: unexpected element ${name}${known ? ' (out of sequence order or repeated)' : ` (not in ${type.name})`}`);
    if (errors.length > 20) break;
  }
  return errors;
}

/** Validates a top-level element of the schema (e.g. `{tns}editUser`) and its content. */
export function validateElement(schema: Schema, node: XmlNode): string[] {
  if (node.uri !== schema.targetNamespace) return [`element {${node.uri}}${node.local} is not in namespace ${schema.targetNamespace}`];
  const type = schema.elements.get(node.local);
  if (!type) return [`${node.local} is not an element of the schema`];
  return validateNode(schema, node, type, node.local);
}

export type EnvelopeCheck =
  | { ok: true; operation: string; isFault: false }
  | { ok: true; operation: string; isFault: true }
  | { ok: false; operation?: string; errors: string[] };

/**
 * Checks a SOAP 1.1 envelope: Envelope, optional Header, Body with exactly one child that is a
 * top-level schema element (a request or response wrapper), or a soap:Fault whose detail entries
 * are schema elements (the WSDL fault elements).
 */
export function validateEnvelope(schema: Schema, xml: string): EnvelopeCheck {
  let root: XmlNode;
  try {
    root = parseXml(xml);
  } catch (e) {
    return { ok: false, errors: [`not well-formed XML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`] };
  }
  if (root.uri !== SOAP11_NS || root.local !== 'Envelope') return { ok: false, errors: [`root is {${root.uri}}${root.local}, not a SOAP 1.1 Envelope`] };
  const parts = root.children;
  const body = parts[parts.length - 1];
  const header = parts.length === 2 ? parts[0] : undefined;
  if (parts.length < 1 || parts.length > 2 || body?.uri !== SOAP11_NS || body.local !== 'Body' || (header && (header.uri !== SOAP11_NS || header.local !== 'Header'))) {
    return { ok: false, errors: ['Envelope must hold an optional soap:Header and one soap:Body'] };
  }
  const [payload, ...more] = body.children;
  if (!payload || more.length > 0) return { ok: false, errors: [`soap:Body must hold exactly one element, found ${body.children.length}`] };
  if (payload.uri === SOAP11_NS && payload.local === 'Fault') {
    const errors: string[] = [];
    const detail = payload.children.find((c) => c.local === 'detail' && c.uri === '');
    for (const entry of detail?.children ?? []) errors.push(...validateElement(schema, entry));
    if (!payload.children.some((c) => c.local === 'faultcode') || !payload.children.some((c) => c.local === 'faultstring')) errors.push('soap:Fault needs faultcode and faultstring');
    return errors.length > 0 ? { ok: false, operation: 'Fault', errors } : { ok: true, operation: detail?.children[0]?.local ?? 'Fault', isFault: true };
  }
  const errors = validateElement(schema, payload);
  return errors.length > 0 ? { ok: false, operation: payload.local, errors } : { ok: true, operation: payload.local, isFault: false };
}
