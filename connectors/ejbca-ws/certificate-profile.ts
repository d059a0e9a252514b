/**
 * Reads an EJBCA certificate profile as `getProfile(id, "cp")` returns it and turns the parts the
 * gateway checks at startup into TemplateCatalog limits: the key types it allows and the longest
 * validity. Pure, no I/O.
 *
 * The bytes are java.beans.XMLEncoder output of the profile's data map (`CertificateProfile.saveData()`):
 *
 *   <java version="…" class="java.beans.XMLDecoder">
 *    <object class="java.util.LinkedHashMap">
 *     <void method="put"><string>availablekeyalgorithms</string>
 *      <object class="java.util.ArrayList"><void method="add"><string>RSA</string></void>…</object></void>
 *     <void method="put"><string>encodedvalidity</string><string>2y</string></void>
 *     …
 *
 * Keys read (CertificateProfile.java in Keyfactor/ejbca-ce, and how `verifyKey` uses them):
 * - `availablekeyalgorithms`: "RSA", "ECDSA", "Ed25519", "DSA", … The algorithm must be listed.
 * - `availableeccurves`: curve names (any of a curve's aliases, e.g. secp256r1 / prime256v1 / P-256)
 *   or "ANY_EC_CURVE". A listed curve is allowed whatever its size; otherwise only ANY_EC_CURVE lets
 *   the size check decide. Absent: ANY_EC_CURVE (what EJBCA's upgrade of an older profile sets).
 * - `minimumavailablebitlength` / `maximumavailablebitlength` (ints, kept in step with
 *   `availablebitlengths`, a list of ints): EJBCA checks min − 1 ≤ key length ≤ max, not membership
 *   in the list; the list is used only when the two are missing.
 * - `encodedvalidity`: relative "2y", "730d", "1y 2mo 3d 4h" (SimpleTime: y = 365 d, mo = 30 d; a
 *   sign per part allowed) or a fixed end date "yyyy-MM-dd HH:mm:ss+00:00". Blank or absent: the
 *   pre-6.6.1 `validity` (a long: days below Integer.MAX_VALUE, else the end date in epoch ms).
 *
 * A value that is absent where EJBCA has no default, of an unexpected shape, or unparsable leaves
 * its limit undefined (no limit known) and is reported in `problems` for the caller to log; a limit
 * is never guessed.
 */
import xml2js from 'xml2js';

/** The gateway's key type names (src/sdk/csr.ts keyTypeOf; profiles' csrKeyTypes). */
const RSA_SIZES = [2048, 3072, 4096] as const;
/** Gateway EC name → EJBCA's aliases of the curve (AlgorithmTools.getEcKeySpecAliases) and its size. */
const EC_CURVES: readonly { keyType: string; aliases: readonly string[]; bits: number }[] = [
  { keyType: 'ec-p256', aliases: ['secp256r1', 'prime256v1', 'p-256'], bits: 256 },
  { keyType: 'ec-p384', aliases: ['secp384r1', 'p-384'], bits: 384 },
  { keyType: 'ec-p521', aliases: ['secp521r1', 'p-521'], bits: 521 },
];
const ANY_EC_CURVE = 'ANY_EC_CURVE';

export const CP_KEYS = {
  keyAlgorithms: 'availablekeyalgorithms',
  ecCurves: 'availableeccurves',
  bitLengths: 'availablebitlengths',
  minBitLength: 'minimumavailablebitlength',
  maxBitLength: 'maximumavailablebitlength',
  encodedValidity: 'encodedvalidity',
  validity: 'validity',
} as const;

// ---------------------------------------------------------------- XMLEncoder documents

/** A Java value as XMLEncoder wrote it. `opaque` stands for a bean the reader does not model. */
export type JavaValue = string | number | boolean | null | JavaValue[] | JavaMap | { opaque: string };
export type JavaMap = Map<string, JavaValue>;

export class ProfileXmlError extends Error {
  override readonly name = 'ProfileXmlError';
}

interface Node {
  name: string;
  attrs: Record<string, string>;
  /** Text children and elements, in document order. */
  children: (Node | string)[];
}

function toNode(raw: unknown): Node {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const name = typeof r['#name'] === 'string' ? r['#name'] : '';
  const attrs: Record<string, string> = {};
  const a = r['$'];
  if (typeof a === 'object' && a !== null) for (const [k, v] of Object.entries(a)) attrs[k] = String(v);
  const kids = Array.isArray(r['$$']) ? (r['$$'] as unknown[]) : [];
  const children = kids.map((k) => {
    const kr = k as Record<string, unknown>;
    return kr['#name'] === '__text__' ? String(kr['_'] ?? '') : toNode(k);
  });
  if (children.length === 0 && typeof r['_'] === 'string') children.push(r['_']);
  return { name, attrs, children };
}

function parseXml(xml: string): Node {
  const parser = new xml2js.Parser({ explicitChildren: true, preserveChildrenOrder: true, charsAsChildren: true, includeWhiteChars: false, explicitRoot: false, strict: true, async: false });
  let outcome: { ok: true; raw: unknown } | { ok: false; error: unknown } | undefined;
  parser.parseString(xml, (error: unknown, raw: unknown) => {
    outcome ??= error ? { ok: false, error } : { ok: true, raw };
  });
  if (outcome === undefined) throw new ProfileXmlError('the XML parser did not finish');
  if (!outcome.ok) throw new ProfileXmlError(`not well-formed XML: ${outcome.error instanceof Error ? outcome.error.message.split('\n')[0] : String(outcome.error)}`);
  return toNode(outcome.raw);
}

const elements = (n: Node): Node[] => n.children.filter((c): c is Node => typeof c !== 'string');
const textOf = (n: Node): string => n.children.map((c) => (typeof c === 'string' ? c : c.name === 'char' ? charOf(c) : '')).join('');
function charOf(n: Node): string {
  const code = /^#(\d+)$/.exec(n.attrs['code'] ?? '');
  return code ? String.fromCharCode(Number(code[1])) : textOf(n);
}

/** Decodes one XMLEncoder value element; `ids` holds objects named with id="…" for later idref="…". */
function decodeValue(n: Node, ids: Map<string, JavaValue>): JavaValue {
  if (n.attrs['idref'] !== undefined) {
    const v = ids.get(n.attrs['idref']);
    if (v === undefined) throw new ProfileXmlError(`idref "${n.attrs['idref']}" names nothing written before it`);
    return v;
  }
  let value: JavaValue;
  switch (n.name) {
    case 'string':
      value = textOf(n);
      break;
    case 'char':
      value = charOf(n);
      break;
    case 'int':
    case 'long':
    case 'short':
    case 'byte':
    case 'float':
    case 'double': {
      const t = textOf(n).trim();
      const num = Number(t);
      if (t === '' || !Number.isFinite(num)) throw new ProfileXmlError(`<${n.name}>${t}</${n.name}> is not a number`);
      value = num;
      break;
    }
    case 'boolean':
      if (!['true', 'false'].includes(textOf(n).trim())) throw new ProfileXmlError(`<boolean>${textOf(n).trim()}</boolean> is not a boolean`);
      value = textOf(n).trim() === 'true';
      break;
    case 'null':
      value = null;
      break;
    case 'array':
      value = decodeArray(n, ids);
      break;
    case 'object':
      value = decodeObject(n, ids);
      break;
    default:
      value = { opaque: `<${n.name}>` };
  }
  if (n.attrs['id'] !== undefined) ids.set(n.attrs['id'], value);
  return value;
}

function decodeArray(n: Node, ids: Map<string, JavaValue>): JavaValue[] {
  const out: JavaValue[] = [];
  for (const v of elements(n)) {
    const index = Number(v.attrs['index']);
    const [item] = elements(v);
    if (v.name !== 'void' || !Number.isInteger(index) || index < 0 || item === undefined) return [{ opaque: 'array element' }];
    out[index] = decodeValue(item, ids);
  }
  return Array.from(out, (v) => v ?? null);
}

/** Lists (method="add") and maps (method="put"); any other class is opaque. */
function decodeObject(n: Node, ids: Map<string, JavaValue>): JavaValue {
  const cls = n.attrs['class'] ?? '';
  const calls = elements(n);
  if (/^java\.util\.\w*(List|Set)$/.test(cls)) {
    const list: JavaValue[] = [];
    for (const c of calls) {
      const [item, ...rest] = elements(c);
      if (c.name !== 'void' || c.attrs['method'] !== 'add' || item === undefined || rest.length > 0) return { opaque: cls };
      list.push(decodeValue(item, ids));
    }
    return list;
  }
  if (/^java\.util\.\w*Map$/.test(cls)) return decodeMap(n, ids);
  return { opaque: cls || 'object' };
}

function decodeMap(n: Node, ids: Map<string, JavaValue>): JavaMap {
  const map: JavaMap = new Map();
  for (const c of elements(n)) {
    const [k, v, ...rest] = elements(c);
    if (c.name !== 'void' || c.attrs['method'] !== 'put' || k === undefined || v === undefined || rest.length > 0) continue; // not an entry
    const key = decodeValue(k, ids);
    if (typeof key !== 'string') continue; // EJBCA's keys are strings; anything else is not one we read
    try {
      map.set(key, decodeValue(v, ids));
    } catch (e) {
      // One odd value spoils only its own key.
      map.set(key, { opaque: e instanceof Error ? e.message : String(e) });
    }
  }
  return map;
}

/** The data map of an XMLEncoder document whose one object is a map; throws ProfileXmlError otherwise. */
export function parseXmlEncoderMap(xml: string): JavaMap {
  const root = parseXml(xml);
  if (root.name !== 'java') throw new ProfileXmlError(`the root element is <${root.name}>, not XMLEncoder's <java>`);
  const [object, ...more] = elements(root);
  if (object === undefined || more.length > 0 || object.name !== 'object' || !/Map$/.test(object.attrs['class'] ?? '')) {
    throw new ProfileXmlError('the document does not hold exactly one java.util map');
  }
  return decodeMap(object, new Map());
}

/** getProfile's xs:base64Binary as the soap client hands it over: base64 of the UTF-8 XML. */
export function decodeProfileBytes(field: string): string {
  if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(field)) throw new ProfileXmlError('getProfile returned data that is not base64');
  return Buffer.from(field, 'base64').toString('utf8');
}

// ---------------------------------------------------------------- limits

export interface ProfileLimits {
  keyTypes?: string[];
  maxValiditySeconds?: number;
  /** Why a limit is undefined, or what was left aside; for the caller to log at warn. */
  problems: string[];
}

const show = (v: JavaValue | undefined): string =>
  v === undefined ? 'absent' : JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? Object.fromEntries(x) : x))?.slice(0, 120) ?? String(v);

const isStringList = (v: JavaValue | undefined): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isIntList = (v: JavaValue | undefined): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x));

/** The [min, max] key length range EJBCA checks, or a problem. */
function bitRange(data: JavaMap): { min: number; max: number } | string {
  const min = data.get(CP_KEYS.minBitLength);
  const max = data.get(CP_KEYS.maxBitLength);
  if (typeof min === 'number' && typeof max === 'number' && Number.isInteger(min) && Number.isInteger(max)) return { min, max };
  const list = data.get(CP_KEYS.bitLengths);
  if (isIntList(list) && list.length > 0) return { min: Math.min(...list), max: Math.max(...list) };
  return `${CP_KEYS.minBitLength}/${CP_KEYS.maxBitLength} (${show(min)}/${show(max)}) and ${CP_KEYS.bitLengths} (${show(list)}) give no key length range`;
}

/** CertificateProfile.verifyKey: min − 1 ≤ length ≤ max. */
const lengthFits = (bits: number, r: { min: number; max: number }) => bits >= r.min - 1 && bits <= r.max;

function keyTypesOf(data: JavaMap, problems: string[]): string[] | undefined {
  const algorithms = data.get(CP_KEYS.keyAlgorithms);
  if (!isStringList(algorithms)) {
    problems.push(`${CP_KEYS.keyAlgorithms} is ${show(algorithms)}, not a list of algorithm names`);
    return undefined;
  }
  // The length range matters only where EJBCA checks it: RSA keys, and EC keys on a curve not listed by name.
  let range: { min: number; max: number } | string | undefined;
  const fits = (bits: number): boolean | undefined => {
    range ??= bitRange(data);
    return typeof range === 'string' ? undefined : lengthFits(bits, range);
  };
  const unknownRange = () => {
    problems.push(String(range));
    return undefined;
  };
  const types: string[] = [];
  if (algorithms.includes('RSA')) {
    for (const size of RSA_SIZES) {
      const ok = fits(size);
      if (ok === undefined) return unknownRange();
      if (ok) types.push(`rsa-${size}`);
    }
  }
  if (algorithms.includes('ECDSA')) {
    const raw = data.get(CP_KEYS.ecCurves);
    if (raw !== undefined && !isStringList(raw)) {
      problems.push(`${CP_KEYS.ecCurves} is ${show(raw)}, not a list of curve names`);
      return undefined;
    }
    const curves = (raw ?? [ANY_EC_CURVE]).map((c) => c.toLowerCase());
    if (curves.length === 0) problems.push(`${CP_KEYS.ecCurves} is an empty list; taken as every curve (EJBCA itself may refuse EC keys)`);
    const any = curves.length === 0 || curves.includes(ANY_EC_CURVE.toLowerCase());
    for (const c of EC_CURVES) {
      if (c.aliases.some((a) => curves.includes(a))) {
        types.push(c.keyType);
        continue;
      }
      if (!any) continue;
      const ok = fits(c.bits);
      if (ok === undefined) return unknownRange();
      if (ok) types.push(c.keyType);
    }
  }
  if (algorithms.includes('Ed25519')) types.push('ed25519');
  return types;
}

const DAY_S = 86_400;
/** SimpleTime's units (EJBCA: a year is 365 days, a month 30). */
const UNIT_SECONDS: Record<string, number> = { y: 365 * DAY_S, mo: 30 * DAY_S, d: DAY_S, h: 3600, m: 60, s: 1, ms: 0.001 };
const RELATIVE_PART = /\s*([+-]?\d+)\s*(mo|ms|y|d|h|m|s)\s*/giy;
const ABSOLUTE = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?))?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** Seconds of a relative validity ("1y 2mo -3d"), or undefined when it is not one. */
export function relativeValiditySeconds(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  RELATIVE_PART.lastIndex = 0;
  const seen = new Set<string>();
  let total = 0;
  let end = 0;
  for (let m = RELATIVE_PART.exec(t); m !== null; m = RELATIVE_PART.exec(t)) {
    const unit = (m[2] ?? '').toLowerCase();
    if (seen.has(unit)) return undefined; // EJBCA's UnitParser refuses a unit given twice
    seen.add(unit);
    total += Number(m[1]) * (UNIT_SECONDS[unit] ?? Number.NaN);
    end = RELATIVE_PART.lastIndex;
  }
  return end === t.length && Number.isFinite(total) ? Math.floor(total) : undefined;
}

/** An absolute end date ("2031-12-31 23:59:59+00:00"; no zone: UTC), or undefined. */
export function absoluteValidityDate(text: string): Date | undefined {
  const m = ABSOLUTE.exec(text.trim());
  if (!m) return undefined;
  const zone = m[3] === undefined || m[3] === 'Z' ? 'Z' : m[3].replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2');
  const d = new Date(`${m[1]}T${m[2] ?? '00:00'}${m[2]?.length === 5 ? ':00' : ''}${zone}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const INTEGER_MAX = 2_147_483_647;

function maxValidityOf(data: JavaMap, now: Date, problems: string[]): number | undefined {
  const untilDate = (end: Date) => Math.max(0, Math.floor((end.getTime() - now.getTime()) / 1000));
  const encoded = data.get(CP_KEYS.encodedValidity);
  if (typeof encoded === 'string' && encoded.trim() !== '') {
    const rel = relativeValiditySeconds(encoded);
    if (rel !== undefined && rel > 0) return rel;
    const end = absoluteValidityDate(encoded);
    if (end) return untilDate(end); // a fixed end date: what is left of it now
    problems.push(`${CP_KEYS.encodedValidity} "${encoded}" is neither a positive relative time nor an end date`);
    return undefined;
  }
  if (encoded !== undefined && encoded !== null && typeof encoded !== 'string') {
    problems.push(`${CP_KEYS.encodedValidity} is ${show(encoded)}, not a string`);
    return undefined;
  }
  const legacy = data.get(CP_KEYS.validity);
  if (typeof legacy === 'number' && Number.isInteger(legacy) && legacy > 0) {
    return legacy < INTEGER_MAX ? legacy * DAY_S : untilDate(new Date(legacy));
  }
  problems.push(`no usable validity: ${CP_KEYS.encodedValidity} is ${show(encoded)}, ${CP_KEYS.validity} is ${show(legacy)}`);
  return undefined;
}

/** The limits of a certificate profile's data map; `now` turns a fixed end date into what is left of it. */
export function profileLimits(data: JavaMap, now: Date): ProfileLimits {
  const problems: string[] = [];
  const keyTypes = keyTypesOf(data, problems);
  const maxValiditySeconds = maxValidityOf(data, now, problems);
  return { ...(keyTypes ? { keyTypes } : {}), ...(maxValiditySeconds !== undefined ? { maxValiditySeconds } : {}), problems };
}

/** getProfile(id, "cp")'s base64 field to limits; a document that cannot be read at all gives no limits and one problem. */
export function certificateProfileLimits(field: string, now: Date): ProfileLimits {
  try {
    return profileLimits(parseXmlEncoderMap(decodeProfileBytes(field)), now);
  } catch (e) {
    if (!(e instanceof ProfileXmlError)) throw e;
    return { problems: [`the profile could not be read: ${e.message}`] };
  }
}
