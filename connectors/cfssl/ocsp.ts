/**
 * The OCSP side of the `ocspsign` mode (RFC 6960): reads an OCSPRequest, checks it asks about this
 * CA in a form cfssl can answer, and builds the unsigned error responses. The signed answer itself
 * comes from cfssl's `ocspsign` (index.ts), so this module holds no key. Pure, no I/O.
 */
import 'reflect-metadata'; // before @peculiar/asn1-schema, like @peculiar/x509
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { OCSPRequest, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { createHash } from 'node:crypto';
import { normalizeSerial, type ParsedCertificate } from './mapping.js';

/** Larger requests are refused before parsing; a request for one certificate is about 100 bytes. */
export const MAX_OCSP_REQUEST_BYTES = 16 * 1024;
/** The only CertID hash cfssl 1.2.0's ocspsign writes (its issuer_hash field is ignored; checked against the binary). */
const OID_SHA1 = '1.3.14.3.2.26';

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';

/** RFC 6960 §4.2.1: OCSPResponse with only responseStatus, for the unsigned error cases of §2.3. */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  return new Uint8Array([0x30, 0x03, 0x0a, 0x01, OCSPResponseStatus[status]]);
}

export interface IssuerHashes {
  /** SHA-1 of the issuer's DER subject (RFC 6960 §4.1.1 issuerNameHash). */
  name: Uint8Array;
  /** SHA-1 of the issuer's public key BIT STRING value "(excluding the tag and length fields)". */
  key: Uint8Array;
}

export function issuerHashes(ca: ParsedCertificate): IssuerHashes {
  const spki = AsnConvert.parse(ca.cert.publicKey.rawData, SubjectPublicKeyInfo);
  return {
    name: new Uint8Array(createHash('sha1').update(new Uint8Array(ca.cert.subjectName.toArrayBuffer())).digest()),
    key: new Uint8Array(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest()),
  };
}

export type OcspQuestion =
  | { kind: 'certificate'; serial: string }
  | { kind: 'refuse'; status: OcspErrorStatus; detail: string };

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
const bytes = (b: ArrayBuffer | ArrayBufferView) => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));

/**
 * What a DER OCSPRequest asks, when cfssl can answer it: one CertID (RFC 5019 §2.1.1: "MUST include
 * only one Request"; ocspsign signs one certificate per response), SHA-1, this CA. Anything else is
 * refused the way RFC 6960 §2.3 names: malformedRequest, or unauthorized for a CertID the responder
 * cannot answer "authoritatively". docs/rfc-divergences.md lists what this leaves out.
 */
export function readOcspRequest(requestDer: Uint8Array, issuer: IssuerHashes): OcspQuestion {
  if (requestDer.length === 0) return { kind: 'refuse', status: 'malformedRequest', detail: 'empty request' };
  if (requestDer.length > MAX_OCSP_REQUEST_BYTES) return { kind: 'refuse', status: 'malformedRequest', detail: `request of ${requestDer.length} bytes` };
  let request: OCSPRequest;
  try {
    request = AsnConvert.parse(requestDer, OCSPRequest);
  } catch (e) {
    return { kind: 'refuse', status: 'malformedRequest', detail: `not a DER OCSPRequest: ${e instanceof Error ? e.message : String(e)}` };
  }
  const list = request.tbsRequest.requestList;
  if (list.length !== 1) return { kind: 'refuse', status: 'malformedRequest', detail: `${list.length} CertIDs; cfssl answers one per request` };
  const [only] = list;
  if (only === undefined) return { kind: 'refuse', status: 'malformedRequest', detail: 'no CertID' };
  const id = only.reqCert;
  if (id.hashAlgorithm.algorithm !== OID_SHA1) return { kind: 'refuse', status: 'unauthorized', detail: `CertID hash ${id.hashAlgorithm.algorithm}; cfssl answers SHA-1 CertIDs only` };
  if (!equal(bytes(id.issuerNameHash.buffer), issuer.name) || !equal(bytes(id.issuerKeyHash.buffer), issuer.key)) {
    return { kind: 'refuse', status: 'unauthorized', detail: 'the CertID names another issuer' };
  }
  const serial = bytes(id.serialNumber);
  if (serial.length === 0 || ((serial[0] ?? 0) & 0x80) !== 0) return { kind: 'refuse', status: 'unauthorized', detail: 'negative serial number' };
  return { kind: 'certificate', serial: normalizeSerial(Buffer.from(serial).toString('hex')) };
}
