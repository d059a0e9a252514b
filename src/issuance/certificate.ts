/** Facts read off an issued certificate when it is stored, with the SDK's DER walker (no schema library on the hot path). */
import { base64url } from '../lib/base64url.js';
import { bytesOf, childrenOf, contentOf, oidText, readNode, type Der, type Node } from '../sdk/der.js';

const OID_AKI = '2.5.29.35';

/** The base64url AKI keyIdentifier of a certificate (half of the RFC 9773 certID), or null. */
export function authorityKeyIdOf(certDer: Uint8Array): string | null {
  const root = readNode(certDer, 0);
  const [tbs] = childrenOf(certDer, root, 0x30);
  if (!tbs) return null;
  // RFC 5280 §4.1: extensions are the [3] EXPLICIT member of TBSCertificate.
  const extensions = childrenOf(certDer, tbs, 0x30).find((n) => n.tag === 0xa3);
  if (!extensions) return null;
  const [list] = childrenOf(certDer, extensions);
  if (!list) return null;
  for (const ext of childrenOf(certDer, list, 0x30)) {
    const parts = childrenOf(certDer, ext, 0x30);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (!id || value?.tag !== 0x04 || oidText(certDer, id) !== OID_AKI) continue;
    const inner = contentOf(certDer, value);
    const aki = readNode(inner, 0);
    const keyId = childrenOf(inner, aki, 0x30).find((n) => n.tag === 0x80); // [0] IMPLICIT KeyIdentifier
    return keyId ? base64url.encode(contentOf(inner, keyId)) : null;
  }
  return null;
}

/** The DER of the first PEM block in `pem` (RFC 7468 §2: base64 between the encapsulation lines). */
export function derOfPem(pem: string): Uint8Array {
  const match = /-----BEGIN [^-]+-----([A-Za-z0-9+/=\s]+)-----END [^-]+-----/.exec(pem);
  if (!match?.[1]) throw new RangeError('PEM: no encapsulated block');
  return new Uint8Array(Buffer.from(match[1].replace(/\s+/g, ''), 'base64'));
}

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ (50–99 → 19xx) or GeneralizedTime YYYYMMDDHHMMSSZ. */
function timeOf(buf: Der, node: Node): Date {
  const text = Buffer.from(contentOf(buf, node)).toString('latin1');
  const m = node.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : node.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!m) throw new RangeError(`certificate: a validity time that is not RFC 5280 UTCTime/GeneralizedTime (${JSON.stringify(text)})`);
  let year = Number(m[1]);
  if (node.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const date = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(date.getTime())) throw new RangeError(`certificate: invalid time ${text}`);
  return date;
}

export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
}

/** Validity and subject key of an X.509 certificate (RFC 5280 §4.1), read with the DER walker. */
export function certificateFacts(certDer: Uint8Array): CertificateFacts {
  const root = readNode(certDer, 0);
  if (root.end !== certDer.length) throw new RangeError('certificate: trailing bytes');
  const [tbs] = childrenOf(certDer, root, 0x30);
  if (!tbs) throw new RangeError('certificate: no TBSCertificate');
  const fields = childrenOf(certDer, tbs, 0x30);
  const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields; // [0] EXPLICIT version, absent for v1
  const [, , , validity, , spki] = rest; // serial, signature, issuer, validity, subject, subjectPublicKeyInfo
  if (!validity || !spki || spki.tag !== 0x30) throw new RangeError('certificate: TBSCertificate is missing fields');
  const [notBefore, notAfter] = childrenOf(certDer, validity, 0x30);
  if (!notBefore || !notAfter) throw new RangeError('certificate: incomplete validity');
  return { notBefore: timeOf(certDer, notBefore), notAfter: timeOf(certDer, notAfter), spki: bytesOf(certDer, spki) };
}
