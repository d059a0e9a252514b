/**
 * Certificate profiles of the EJBCA double: what a profile holds (key algorithms, bit lengths, EC
 * curves, validity), how EJBCA exports it through `getProfile(id, "cp")` (java.beans.XMLEncoder XML
 * of the profile's data map), and how EJBCA applies it at issuance (CertificateProfile.verifyKey,
 * the profile's validity as the longest a certificate gets). Written from EJBCA's behaviour as
 * documented in CertificateProfile.java / SimpleTime.java (Keyfactor/ejbca-ce); independent of the
 * connector's reader, so the two check each other.
 */

export const ANY_EC_CURVE = 'ANY_EC_CURVE';

export interface CertificateProfile {
  /** EJBCA's profile id (fixed profiles: ENDUSER 1, SERVER 9; custom ones are random ints). */
  id: number;
  /** `availablekeyalgorithms`: "RSA", "ECDSA", "Ed25519", "DSA", … */
  keyAlgorithms: string[];
  /** `availablebitlengths`; `minimumavailablebitlength`/`maximumavailablebitlength` follow from it. */
  bitLengths: number[];
  /** `availableeccurves`: curve names (secp256r1, prime256v1, P-256, …) or ANY_EC_CURVE. */
  ecCurves: string[];
  /** `encodedvalidity` as written: "2y", "730d", "1y 2mo 3d", or an end date "2031-12-31 23:59:59+00:00". */
  encodedValidity?: string;
  /** `validity` in days, as a <long>: the only form before EJBCA 6.6.1 (used when encodedValidity is absent). */
  validityDays?: number;
}

/** EJBCA's CertificateProfile.DEFAULTBITLENGTHS. */
const DEFAULT_BIT_LENGTHS = [0, 192, 224, 239, 256, 384, 512, 521, 1024, 1536, 2048, 3072, 4096, 6144, 8192];

/** What the double has unless told otherwise; the limits fit the gateway's profile defaults (397d, RSA 2048–4096, P-256, P-384). */
export function defaultCertificateProfiles(): Record<'SERVER' | 'ENDUSER', CertificateProfile> {
  return {
    SERVER: { id: 9, keyAlgorithms: ['RSA', 'ECDSA'], bitLengths: [2048, 3072, 4096], ecCurves: ['secp256r1', 'secp384r1'], encodedValidity: '2y' },
    // The fixed end user profile as an old installation keeps it: every algorithm, the default bit lengths, validity in days.
    ENDUSER: { id: 1, keyAlgorithms: ['DSA', 'ECDSA', 'RSA', 'Ed25519', 'Ed448'], bitLengths: [...DEFAULT_BIT_LENGTHS], ecCurves: [ANY_EC_CURVE], validityDays: 730 },
  };
}

// ---------------------------------------------------------------- getProfile(id, "cp") XML

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

type Java = { string: string } | { int: number } | { long: number } | { float: number } | { boolean: boolean } | null | { list: Java[] };

function encode(v: Java, indent: string): string {
  if (v === null) return `${indent}<null/>`;
  if ('string' in v) return `${indent}<string>${escapeXml(v.string)}</string>`;
  if ('int' in v) return `${indent}<int>${v.int}</int>`;
  if ('long' in v) return `${indent}<long>${v.long}</long>`;
  if ('float' in v) return `${indent}<float>${v.float.toFixed(1)}</float>`;
  if ('boolean' in v) return `${indent}<boolean>${v.boolean}</boolean>`;
  if (v.list.length === 0) return `${indent}<object class="java.util.ArrayList"/>`;
  const items = v.list.map((x) => `${indent} <void method="add">\n${encode(x, `${indent}  `)}\n${indent} </void>`);
  return `${indent}<object class="java.util.ArrayList">\n${items.join('\n')}\n${indent}</object>`;
}

const str = (s: string): Java => ({ string: s });
const strings = (l: readonly string[]): Java => ({ list: l.map(str) });

/** The profile's data map in LinkedHashMap order, as XMLEncoder writes it (one space of indent per level). */
export function certificateProfileXml(cp: CertificateProfile): string {
  const entries: [string, Java][] = [
    ['version', { float: 46 }],
    ['type', { int: 1 }],
    ['certversion', str('X509v3')],
  ];
  if (cp.encodedValidity !== undefined) entries.push(['encodedvalidity', str(cp.encodedValidity)]);
  else if (cp.validityDays !== undefined) entries.push(['validity', { long: cp.validityDays }]);
  entries.push(
    ['allowvalidityoverride', { boolean: true }],
    ['availablekeyalgorithms', strings(cp.keyAlgorithms)],
    ['availableeccurves', strings(cp.ecCurves)],
    ['availablebitlengths', { list: cp.bitLengths.map((n) => ({ int: n })) }],
  );
  if (cp.bitLengths.length > 0) entries.push(['minimumavailablebitlength', { int: Math.min(...cp.bitLengths) }], ['maximumavailablebitlength', { int: Math.max(...cp.bitLengths) }]);
  entries.push(
    ['signaturealgorithm', null],
    ['usekeyusage', { boolean: true }],
    ['keyusage', { list: [true, false, true, false, false, false, false, false, false].map((b) => ({ boolean: b })) }],
    ['availablecas', { list: [{ int: -1 }] }],
    ['usedpublishers', { list: [] }],
    ['useextendedkeyusage', { boolean: true }],
    ['extendedkeyusage', strings(['1.3.6.1.5.5.7.3.1'])],
  );
  const body = entries.map(([k, v]) => `  <void method="put">\n   <string>${k}</string>\n${encode(v, '   ')}\n  </void>`).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<java version="1.8.0_392" class="java.beans.XMLDecoder">\n <object class="java.util.LinkedHashMap">\n${body}\n </object>\n</java>\n`;
}

// ---------------------------------------------------------------- issuance

/** Why a key is refused (IllegalKeyException's message), or undefined when the profile allows it. */
export function refusedKey(cp: CertificateProfile, key: { algorithm: string; bits: number; curve?: string }): string | undefined {
  if (!cp.keyAlgorithms.includes(key.algorithm)) return `Invalid key algorithm (${key.algorithm}) for certificate profile.`;
  if (key.algorithm === 'ECDSA') {
    const aliases = EC_ALIASES[key.curve ?? ''] ?? [key.curve ?? ''];
    if (aliases.some((a) => cp.ecCurves.includes(a))) return undefined; // a listed curve skips the length check
    if (!cp.ecCurves.includes(ANY_EC_CURVE)) return `Invalid elliptic curve (${key.curve ?? '?'}) for certificate profile.`;
  }
  if (key.algorithm === 'Ed25519' || key.algorithm === 'Ed448') return undefined; // the double does not check their length
  if (cp.bitLengths.length === 0) return `Invalid key length (${key.bits}) for certificate profile.`;
  const min = Math.min(...cp.bitLengths);
  const max = Math.max(...cp.bitLengths);
  return key.bits < min - 1 || key.bits > max ? `Invalid key length (${key.bits}) for certificate profile.` : undefined;
}

/** WebCrypto named curve → EJBCA's names for it. */
const EC_ALIASES: Record<string, string[]> = {
  'P-256': ['secp256r1', 'prime256v1', 'P-256'],
  'P-384': ['secp384r1', 'P-384'],
  'P-521': ['secp521r1', 'P-521'],
};
export const EC_BITS: Record<string, number> = { 'P-256': 256, 'P-384': 384, 'P-521': 521 };

const UNIT_MS: Record<string, number> = { y: 365 * 86_400_000, mo: 30 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** The latest notAfter the profile allows for a certificate starting at `notBefore`; undefined when its validity is not one EJBCA could use. */
export function profileEnd(cp: CertificateProfile, notBefore: Date): Date | undefined {
  const encoded = cp.encodedValidity?.trim();
  if (encoded) {
    const parts = [...encoded.matchAll(/([+-]?\d+)\s*(mo|ms|y|d|h|m|s)/gi)];
    const rest = encoded.replace(/([+-]?\d+)\s*(mo|ms|y|d|h|m|s)/gi, '').trim();
    if (parts.length > 0 && rest === '') {
      const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[(p[2] ?? '').toLowerCase()] ?? Number.NaN), 0);
      return ms > 0 ? new Date(notBefore.getTime() + ms) : undefined;
    }
    const date = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})([+-]\d{2}:\d{2})$/.exec(encoded);
    return date ? new Date(`${date[1]}T${date[2]}${date[3]}`) : undefined;
  }
  if (cp.validityDays !== undefined && cp.validityDays > 0) return new Date(notBefore.getTime() + cp.validityDays * 86_400_000);
  return undefined;
}
