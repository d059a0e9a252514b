/**
 * Pure mapping between the SDK's request types and certificate contents: CSR checks, identifiers
 * to subjectAltName, template attributes to extended key usages, serial numbers. No I/O, no
 * private keys.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { z, ConnectorError, readCsr, type ReadCsr, type SdkIdentifier, type SdkRandom, type TemplateRef } from '../../src/sdk/index.js';
import type { KeyDescription } from '../../src/sdk/spki.js';

/** @peculiar/x509 works on WebCrypto; Node's is global since v19. Setting it twice is harmless. */
export function useWebCrypto(): void {
  x509.cryptoProvider.set(globalThis.crypto);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * One spelling per serial: lower-case hex of the DER INTEGER's magnitude, even length, no colons.
 * What issue() returns, what the store keeps and what revoke()/certificateStatus() look up.
 */
export function normalizeSerial(serial: string): string {
  const digits = serial.toLowerCase().replace(/[:\s]/g, '').replace(/^0+/, '');
  if (digits === '') return '00';
  return digits.length % 2 === 1 ? `0${digits}` : digits;
}

/**
 * RFC 5280 §4.1.2.2: serials are positive, unique, at most 20 octets; the CA/B Forum asks for at
 * least 64 random bits. 16 random bytes with the top bit cleared, redrawn while the first byte is
 * zero, so every serial is exactly 16 DER octets and 32 hex digits.
 */
export function randomSerial(random: SdkRandom): string {
  for (let attempt = 0; attempt < 64; attempt++) {
    const bytes = random.bytes(16);
    const first = (bytes[0] ?? 0) & 0x7f;
    if (bytes.length !== 16 || first === 0) continue;
    bytes[0] = first;
    return toHex(bytes);
  }
  throw new ConnectorError('misconfigured', 'random source returned unusable serial bytes 64 times in a row');
}

/** DER INTEGER (X.690 §8.3) of a non-negative number; for the CRL number extension. */
export function derInteger(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError('derInteger: negative values are not used here');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const content = Buffer.from(hex, 'hex');
  const body = (content[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), content]) : content;
  if (body.length > 127) throw new RangeError('derInteger: value too large');
  return new Uint8Array(Buffer.concat([Buffer.from([0x02, body.length]), body]));
}

// ---------------------------------------------------------------- keys

export type { KeyDescription } from '../../src/sdk/spki.js';
/** The SDK's SPKI reader (hand-read DER, key imported through JWK): the CA's own key and CSR keys. */
export { readSpki } from '../../src/sdk/spki.js';

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192; // bounds the work one request can cause

/** Throws bad-request unless the key is RSA 2048–8192 bits or EC P-256/P-384. */
export function checkSubjectKey(key: KeyDescription): void {
  if (key.kind === 'rsa') {
    if (key.bits < MIN_RSA_BITS || key.bits > MAX_RSA_BITS) {
      throw new ConnectorError('bad-request', `CSR has a ${key.bits}-bit RSA key; accepted are ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`);
    }
    return;
  }
  if (key.kind === 'ec' && (key.curve === 'P-256' || key.curve === 'P-384')) return;
  const what = key.kind === 'ec' ? `an EC ${key.curve}` : `a ${key.name}`;
  throw new ConnectorError('bad-request', `CSR has ${what} key; accepted are RSA (2048+ bits) and EC P-256/P-384`);
}

export interface ParsedCsr {
  /** The subject's DER SubjectPublicKeyInfo, copied into the certificate as is. */
  spki: Uint8Array;
  key: KeyDescription;
}

/**
 * Reads a DER PKCS#10 request (RFC 2986 §4) with the SDK's reader and checks its key type and
 * self-signature (proof of possession). Only the key is used: names come from the order. Every
 * failure is bad-request: the same bytes would fail again. The gateway read the same bytes at
 * finalize, so the SDK usually answers from its cache.
 */
export function parseCsr(csr: Uint8Array): ParsedCsr {
  let read: ReadCsr;
  try {
    read = readCsr(csr);
  } catch (cause) {
    throw new ConnectorError('bad-request', 'CSR is not a DER PKCS#10 request', { cause });
  }
  checkSubjectKey(read.keyDescription);
  if (!read.signatureValid) {
    throw new ConnectorError('bad-request', `CSR signature (algorithm ${read.signatureAlgorithm}) does not verify with its own ${read.keyType} key; accepted are ECDSA and RSA PKCS#1 v1.5 with SHA-2`);
  }
  return { spki: read.spki, key: read.keyDescription };
}

// ---------------------------------------------------------------- names

/** DN text in x509's RFC 4514 spelling, so spacing differences do not matter; undefined if unreadable. */
export function canonicalDn(text: string): string | undefined {
  try {
    return new x509.Name(text).toString();
  } catch {
    return undefined; // not a DN we can read, so not one of ours
  }
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function isDnsName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = name.split('.');
  // RFC 8555 §7.1.4: a wildcard is "*." as the whole leftmost label, over at least two labels.
  // Single labels ("localhost") pass: which names a profile may order is ra's policy, not ours.
  const wildcard = labels[0] === '*';
  const rest = wildcard ? labels.slice(1) : labels;
  return rest.length >= (wildcard ? 2 : 1) && rest.every((l) => LABEL.test(l));
}

export interface SubjectNames {
  /** RFC 5280 §4.2.1.6 GeneralNames: dNSName or iPAddress, in identifier order, no duplicates. */
  altNames: SdkIdentifier[];
  /** The first DNS name when it fits ub-common-name (64); otherwise the subject stays empty. */
  commonName?: string;
}

/**
 * SANs from the order's identifiers (RFC 8555 §7.4: the CSR's names were already matched against
 * them by the gateway). DNS names go in lower case, wildcards included; IPs as iPAddress (RFC 8738).
 */
export function subjectNames(identifiers: readonly SdkIdentifier[]): SubjectNames {
  const altNames: SdkIdentifier[] = [];
  const seen = new Set<string>();
  const refused: SdkIdentifier[] = [];
  for (const id of identifiers) {
    const value = id.type === 'dns' ? id.value.toLowerCase().replace(/\.$/, '') : id.value;
    const ok = id.type === 'dns' ? isDnsName(value) : isIP(value) !== 0;
    if (!ok) {
      refused.push(id);
      continue;
    }
    const key = `${id.type}:${value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    altNames.push({ type: id.type, value });
  }
  if (refused.length > 0) {
    throw new ConnectorError('bad-request', `not a DNS name or IP address: ${refused.map((i) => `${i.type}:${i.value}`).join(', ')}`, { identifiers: refused });
  }
  if (altNames.length === 0) throw new ConnectorError('bad-request', 'the request names no identifier');
  // Only the first DNS identifier may become the CN; a later, shorter one is not promoted.
  const firstDns = altNames.find((n) => n.type === 'dns');
  return firstDns !== undefined && firstDns.value.length <= 64 ? { altNames, commonName: firstDns.value } : { altNames };
}

/** Names given to issueServerCertificate: IP literals become iPAddress, everything else dNSName. */
export function identifiersOf(names: readonly string[]): SdkIdentifier[] {
  return names.map((value) => ({ type: isIP(value) !== 0 ? 'ip' : 'dns', value }));
}

// ---------------------------------------------------------------- template

const EKU_OIDS = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const; // RFC 5280 §4.2.1.12
const EkuAttribute = z.array(z.enum(['serverAuth', 'clientAuth'])).min(1).optional();

/**
 * RFC 5280 §4.2.1.12 purposes from the template attribute `extendedKeyUsages` (a list of
 * 'serverAuth' | 'clientAuth'); absent means serverAuth alone. A bad value is our config's fault.
 */
export function extendedKeyUsages(template: TemplateRef): string[] {
  const parsed = EkuAttribute.safeParse(template.attributes['extendedKeyUsages']);
  if (!parsed.success) {
    throw new ConnectorError('misconfigured', `template "${template.name}": attribute extendedKeyUsages must be a non-empty list of serverAuth, clientAuth`);
  }
  const names = parsed.data ?? ['serverAuth'];
  return [...new Set(names)].map((n) => EKU_OIDS[n]);
}
