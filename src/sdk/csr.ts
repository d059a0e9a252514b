/**
 * Reads a PKCS#10 request (RFC 2986) with the DER walker and checks its signature with node:crypto:
 * what the gateway's finalize checks and what connectors need (the key, the names). About a hundred
 * times cheaper than a schema library; anything unexpected throws CsrError.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { bytesOf, childrenOf, contentOf, oidText, readNode, type Der, type Node } from './der.js';

export class CsrError extends Error {
  override readonly name = 'CsrError';
}

export interface ReadCsr {
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  key: KeyObject;
  /** "ec-p256", "rsa-2048", "ed25519", ... */
  keyType: string;
  /** Whether the request's signature verifies with its own key. */
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

/** Signature algorithms a CSR may use, with the hash node:crypto verifies under (null: the key decides). */
const SIGNATURES: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null, // Ed25519
};

export function keyTypeOf(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `rsa-${d.modulusLength ?? 0}`;
  if (key.asymmetricKeyType === 'ec') return `ec-${{ prime256v1: 'p256', secp384r1: 'p384', secp521r1: 'p521' }[d.namedCurve ?? ''] ?? d.namedCurve}`;
  return key.asymmetricKeyType ?? 'unknown';
}

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

export function readCsr(csr: Uint8Array): ReadCsr {
  try {
    const root = readNode(csr, 0);
    if (root.end !== csr.length) throw new CsrError('trailing bytes after the request');
    const [info, alg, sig] = childrenOf(csr, root, 0x30);
    if (!info || !alg || sig?.tag !== 0x03) throw new CsrError('not a CertificationRequest');
    const [version, subject, spkiNode, attributes] = childrenOf(csr, info, 0x30);
    if (version?.tag !== 0x02 || !subject || !spkiNode) throw new CsrError('not a CertificationRequestInfo');

    const spki = bytesOf(csr, spkiNode).slice();
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    const [algOid] = childrenOf(csr, alg, 0x30);
    if (!algOid) throw new CsrError('no signature algorithm');
    const algorithm = oidText(csr, algOid);
    if (!(algorithm in SIGNATURES)) throw new CsrError(`signature algorithm ${algorithm} is not accepted (ECDSA, RSA PKCS#1 v1.5 with SHA-2, Ed25519)`);
    const sigBits = contentOf(csr, sig);
    if (sigBits[0] !== 0) throw new CsrError('unused bits in the signature');
    let signatureValid = false;
    try {
      signatureValid = verify(SIGNATURES[algorithm] ?? null, bytesOf(csr, info), key, sigBits.subarray(1));
    } catch {
      signatureValid = false; // an algorithm that does not fit the key
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
    return { spki, key, keyType: keyTypeOf(key), signatureValid, commonNames, dnsNames, ipAddresses, otherNames };
  } catch (e) {
    if (e instanceof CsrError) throw e;
    throw new CsrError(`not a DER PKCS#10 request (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}
