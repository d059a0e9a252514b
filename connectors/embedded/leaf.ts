/**
 * End-entity certificates, encoded directly (RFC 5280 §4.1) and signed with the issuing CA's key
 * through WebCrypto. This is the connector's hot path: about a tenth of what @peculiar/x509's
 * generator costs, so issuance keeps up with hundreds of orders per second.
 */
import { createHash } from 'node:crypto';
import type { CertificateAuthority } from './ca.js';
import * as der from './der.js';
import type { SubjectNames } from './mapping.js';

const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  caIssuers: '1.3.6.1.5.5.7.48.2',
  ocsp: '1.3.6.1.5.5.7.48.1',
} as const;

export interface LeafSpec {
  /** DER SubjectPublicKeyInfo of the subject key, copied as is (from the CSR). */
  spki: Uint8Array;
  /** Hex, from randomSerial. */
  serial: string;
  names: SubjectNames;
  /** Dotted OIDs (RFC 5280 §4.2.1.12). */
  extendedKeyUsages: readonly string[];
  /** RSA subject keys also get keyEncipherment (RSA key transport in TLS 1.2). */
  isRsaKey: boolean;
  notBefore: Date;
  notAfter: Date;
  /** AIA caIssuers URL; omitted (with ocspUrl): no AIA. */
  caIssuersUrl?: string;
  /** AIA OCSP URL (RFC 6960 §3.1); omitted (with caIssuersUrl): no AIA. */
  ocspUrl?: string;
  /** CRL distribution point URL; omitted: no CRLDP. */
  crlUrl?: string;
}

export interface SignedLeaf {
  der: Uint8Array;
  pem: string;
  /** As encoded: whole seconds, cut to the issuing CA's notAfter. */
  notBefore: Date;
  notAfter: Date;
}

const ascii = (text: string) => new TextEncoder().encode(text);
const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? der.sequence(der.oid(id), der.booleanTrue, der.octetString(value)) : der.sequence(der.oid(id), der.octetString(value));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const [, bits] = der.childrenOf(spki, der.readNode(spki, 0), 0x30);
  if (bits === undefined || bits.tag !== 0x03) throw new RangeError('SPKI without a subjectPublicKey BIT STRING');
  return new Uint8Array(createHash('sha1').update(der.contentOf(spki, bits).subarray(1)).digest());
}

function generalNames(names: SubjectNames['altNames']): Uint8Array {
  return der.sequence(
    ...names.map((n) => (n.type === 'ip' ? der.contextPrimitive(7, der.ipBytes(n.value)) : der.contextPrimitive(2, ascii(n.value)))),
  );
}

function extensions(ca: CertificateAuthority, spec: LeafSpec): Uint8Array[] {
  // KeyUsage BIT STRING, named bits from the left; DER drops trailing zero bits (X.690 §11.2.2).
  const keyUsage = spec.isRsaKey ? der.bitString(new Uint8Array([0xa0]), 5) : der.bitString(new Uint8Array([0x80]), 7);
  const out = [
    extension(OID.basicConstraints, true, der.sequence()), // cA FALSE, the DEFAULT, is left out
    extension(OID.keyUsage, true, keyUsage), // digitalSignature (+ keyEncipherment)
    extension(OID.extKeyUsage, false, der.sequence(...spec.extendedKeyUsages.map(der.oid))),
    extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(spec.spki))),
    extension(OID.authorityKeyIdentifier, false, der.sequence(der.contextPrimitive(0, Buffer.from(ca.issuing.keyId, 'hex')))),
    // RFC 5280 §4.2.1.6: with an empty subject the CA "MUST mark the subjectAltName extension as critical".
    extension(OID.subjectAltName, spec.names.commonName === undefined, generalNames(spec.names.altNames)),
  ];
  // RFC 5280 §4.2.2.1: AccessDescription { accessMethod, accessLocation uniformResourceIdentifier [6] }.
  const access = [
    ...(spec.ocspUrl === undefined ? [] : [der.sequence(der.oid(OID.ocsp), der.contextPrimitive(6, ascii(spec.ocspUrl)))]),
    ...(spec.caIssuersUrl === undefined ? [] : [der.sequence(der.oid(OID.caIssuers), der.contextPrimitive(6, ascii(spec.caIssuersUrl)))]),
  ];
  if (access.length > 0) out.push(extension(OID.authorityInfoAccess, false, der.sequence(...access)));
  if (spec.crlUrl !== undefined) {
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    const point = der.contextConstructed(0, der.contextConstructed(0, der.contextPrimitive(6, ascii(spec.crlUrl))));
    out.push(extension(OID.crlDistributionPoints, false, der.sequence(der.sequence(point))));
  }
  return out;
}

/** An end-entity certificate signed by the issuing CA. notAfter is cut to the issuing CA's. */
export async function signLeaf(ca: CertificateAuthority, spec: LeafSpec): Promise<SignedLeaf> {
  const notBefore = wholeSeconds(spec.notBefore);
  const notAfter = wholeSeconds(new Date(Math.min(spec.notAfter.getTime(), ca.issuing.cert.notAfter.getTime())));
  const subject = spec.names.commonName === undefined
    ? der.sequence()
    : der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(spec.names.commonName))));
  const tbs = der.sequence(
    der.contextConstructed(0, der.unsignedInteger(new Uint8Array([2]))), // version v3
    der.unsignedInteger(Buffer.from(spec.serial, 'hex')),
    ca.issuing.signatureAlgorithmDer,
    ca.issuing.subjectDer, // byte for byte the issuing CA's subject, so chain building matches
    der.sequence(der.time(notBefore), der.time(notAfter)),
    subject,
    spec.spki,
    der.contextConstructed(3, der.sequence(...extensions(ca, spec))),
  );
  const raw = new Uint8Array(await crypto.subtle.sign(ca.issuing.signingAlgorithm, ca.issuing.privateKey, tbs));
  const signature = ca.issuing.signingAlgorithm.name === 'ECDSA' ? der.ecdsaSignatureToDer(raw) : raw;
  const cert = der.sequence(tbs, ca.issuing.signatureAlgorithmDer, der.bitString(signature));
  const lines = Buffer.from(cert).toString('base64').match(/.{1,64}/g) ?? [];
  return { der: cert, pem: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`, notBefore, notAfter };
}
