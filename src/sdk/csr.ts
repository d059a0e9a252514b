/**
 * Reads a PKCS#10 request (RFC 2986) with the DER walker and checks its signature with node:crypto:
 * what the gateway's finalize checks and what connectors need (the key, the names). About a hundred
 * times cheaper than a schema library; anything unexpected throws CsrError.
 */
import { verify, type KeyObject } from 'node:crypto';
import { bytesOf, childrenOf, contentOf, oidText, readNode, type Der, type Node } from './der.js';
import { keyTypeOf, readSpki, type KeyDescription } from './spki.js';

export { keyTypeOf };

export class CsrError extends Error {
  override readonly name = 'CsrError';
}

export interface ReadCsr {
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  key: KeyObject;
  /** What the key is, read off the SPKI. */
  keyDescription: KeyDescription;
  /** "ec-p256", "rsa-2048", "ed25519", ... */
  keyType: string;
  /** The signature algorithm's OID. */
  signatureAlgorithm: string;
  /** Whether the request's signature verifies with its own key, under an algorithm that fits the key. */
  signatureValid: boolean;
  /** Every CN in the subject, in order (a subject may hold several). */
  commonNames: string[];
  dnsNames: string[];
  /** IPv4 dotted, IPv6 as eight hex groups (canonicalise before comparing). */
  ipAddresses: string[];
  /** Other SAN kinds present (email, URI, ...), by GeneralName tag number. */
  otherNames: number[];
}

const OID_CN = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SAN = '2.5.29.17';

/** Signature algorithms a CSR may use: the hash node:crypto verifies under (null: the key decides) and the key kind it needs. */
const SIGNATURES: Record<string, { hash: string | null; kind: 'ec' | 'rsa' | 'ed25519' }> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', kind: 'ec' }, // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': { hash: 'sha384', kind: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', kind: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', kind: 'rsa' }, // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': { hash: 'sha384', kind: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', kind: 'rsa' },
  '1.3.101.112': { hash: null, kind: 'ed25519' }, // Ed25519
};

const fits = (kind: 'ec' | 'rsa' | 'ed25519', key: KeyDescription, keyType: string) =>
  kind === 'ed25519' ? keyType === 'ed25519' : key.kind === kind;

const STRING_TAGS = new Set([0x0c, 0x13, 0x16, 0x14, 0x1e]);

function text(buf: Der, node: Node): string {
  const bytes = contentOf(buf, node);
  if (node.tag === 0x1e) return Buffer.from(bytes).swap16().toString('utf16le'); // BMPString is UTF-16BE
  return Buffer.from(bytes).toString(node.tag === 0x0c ? 'utf8' : 'latin1');
}

function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) return Array.from({ length: 8 }, (_, i) => (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16)).join(':');
  throw new CsrError(`an iPAddress name of ${bytes.length} bytes`);
}

/**
 * The gateway reads a CSR at finalize and the connector reads the same bytes again at issue; the
 * second read (a signature check, a key import) is answered from this small cache of results,
 * keyed by the bytes themselves. Results are frozen, so sharing them is safe.
 */
const CACHE_MAX = 256;
const cache = new Map<string, ReadCsr>();

/** Reads and checks a DER PKCS#10 request; throws CsrError for anything that is not one. */
export function readCsr(csr: Uint8Array): ReadCsr {
  const cacheKey = Buffer.from(csr.buffer, csr.byteOffset, csr.byteLength).toString('latin1');
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  const read = readUncached(csr);
  for (const list of [read.commonNames, read.dnsNames, read.ipAddresses, read.otherNames]) Object.freeze(list);
  Object.freeze(read);
  cache.set(cacheKey, read);
  if (cache.size > CACHE_MAX) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  return read;
}

function readUncached(csr: Uint8Array): ReadCsr {
  try {
    const root = readNode(csr, 0);
    if (root.end !== csr.length) throw new CsrError('trailing bytes after the request');
    const [info, alg, sig] = childrenOf(csr, root, 0x30);
    if (!info || !alg || sig?.tag !== 0x03) throw new CsrError('not a CertificationRequest');
    const [version, subject, spkiNode, attributes] = childrenOf(csr, info, 0x30);
    if (version?.tag !== 0x02 || !subject || !spkiNode) throw new CsrError('not a CertificationRequestInfo');

    const spki = bytesOf(csr, spkiNode).slice();
    let read: ReturnType<typeof readSpki>;
    try {
      read = readSpki(spki);
    } catch (e) {
      throw new CsrError(`the request's public key cannot be read (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    const [algOid] = childrenOf(csr, alg, 0x30);
    if (!algOid) throw new CsrError('no signature algorithm');
    const algorithm = oidText(csr, algOid);
    if (!(algorithm in SIGNATURES)) throw new CsrError(`signature algorithm ${algorithm} is not accepted (ECDSA, RSA PKCS#1 v1.5 with SHA-2, Ed25519)`);
    const sigBits = contentOf(csr, sig);
    if (sigBits[0] !== 0) throw new CsrError('unused bits in the signature');
    const scheme = SIGNATURES[algorithm];
    let signatureValid = false;
    if (scheme && fits(scheme.kind, read.key, read.keyType)) {
      try {
        signatureValid = verify(scheme.hash, bytesOf(csr, info), read.keyObject, sigBits.subarray(1));
      } catch {
        signatureValid = false; // a signature OpenSSL cannot even decode is one that does not verify
      }
    }

    const commonNames: string[] = [];
    for (const rdn of childrenOf(csr, subject, 0x30)) {
      for (const atv of childrenOf(csr, rdn, 0x31)) {
        const [type, value] = childrenOf(csr, atv, 0x30);
        if (type && value && oidText(csr, type) === OID_CN) {
          if (!STRING_TAGS.has(value.tag)) throw new CsrError('the common name is not a string');
          commonNames.push(text(csr, value));
        }
      }
    }

    const dnsNames: string[] = [];
    const ipAddresses: string[] = [];
    const otherNames: number[] = [];
    if (attributes && attributes.tag === 0xa0) {
      for (const attr of childrenOf(csr, attributes)) {
        const [type, values] = childrenOf(csr, attr, 0x30);
        if (!type || !values || oidText(csr, type) !== OID_EXTENSION_REQUEST) continue;
        for (const exts of childrenOf(csr, values, 0x31)) {
          for (const ext of childrenOf(csr, exts, 0x30)) {
            const parts = childrenOf(csr, ext, 0x30);
            const id = parts[0];
            const value = parts[parts.length - 1];
            if (!id || value?.tag !== 0x04 || oidText(csr, id) !== OID_SAN) continue;
            const inner = contentOf(csr, value);
            const names = readNode(inner, 0);
            for (const gn of childrenOf(inner, names, 0x30)) {
              if (gn.tag === 0x82) dnsNames.push(Buffer.from(contentOf(inner, gn)).toString('latin1'));
              else if (gn.tag === 0x87) ipAddresses.push(ipText(contentOf(inner, gn)));
              else otherNames.push(gn.tag & 0x1f);
            }
          }
        }
      }
    }
    return { spki, key: read.keyObject, keyDescription: read.key, keyType: read.keyType, signatureAlgorithm: algorithm, signatureValid, commonNames, dnsNames, ipAddresses, otherNames };
  } catch (e) {
    if (e instanceof CsrError) throw e;
    throw new CsrError(`not a DER PKCS#10 request (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}
