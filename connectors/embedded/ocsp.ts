/**
 * OCSP for the built-in CA (RFC 6960): reads an OCSPRequest, answers each CertID from the
 * connector's records and signs a BasicOCSPResponse with the delegated responder (ocsp-signer.ts).
 * Transport (GET and POST, Appendix A) is the HTTP layer's; this module only sees DER.
 */
import 'reflect-metadata'; // before @peculiar/asn1-schema, like @peculiar/x509
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CRLReason, Extension } from '@peculiar/asn1-x509';
import {
  CertStatus,
  OCSPRequest,
  OCSPResponseStatus,
  ResponderID,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  type CertID,
} from '@peculiar/asn1-ocsp';
import { createHash } from 'node:crypto';
import type { SdkRevocationReason } from '../../src/sdk/index.js';
import type { CertificateAuthority } from './ca.js';
import * as der from './der.js';
import { normalizeSerial, toHex } from './mapping.js';
import { subjectPublicKeyBits, type OcspSigner } from './ocsp-signer.js';

/** Larger requests are refused before parsing; a request for one certificate is about 100 bytes. */
export const MAX_OCSP_REQUEST_BYTES = 16 * 1024;
/** CertIDs answered in one request; more is refused as malformedRequest, so one request cannot make a huge response. */
export const MAX_OCSP_CERT_IDS = 32;
/** RFC 8954 §2.1: a nonce holds at most 32 octets; its DER OCTET STRING then at most 34. */
const MAX_NONCE_EXTN_BYTES = 34;

/** CertID hash algorithms the responder recognises (RFC 6960 §4.1.1; RFC 5019 uses SHA-1). */
const HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export type OcspStatusName = 'successful' | 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';
export type CertStatusName = 'good' | 'revoked' | 'unknown';

/** What the responder knows about one serial of this CA; undefined from lookup(): never issued here. */
export interface OcspRecord {
  revokedAt?: Date;
  reason?: SdkRevocationReason;
}

export interface OcspContext {
  ca: CertificateAuthority;
  signer: OcspSigner;
  now: Date;
  /** nextUpdate − thisUpdate (RFC 6960 §2.4); cut to the responder certificate's notAfter. */
  validityMs: number;
  /** By normalizeSerial() form. */
  lookup(serial: string): OcspRecord | undefined;
}

export interface OcspAnswer {
  der: Uint8Array;
  status: OcspStatusName;
  /** Why the request was refused, for the log (never sent: error responses carry no text). */
  detail?: string;
  certificates: { serial: string; status: CertStatusName }[];
}

/** RFC 6960 §4.2.1: OCSPResponse with only responseStatus, for the unsigned error cases of §2.3. */
export function ocspErrorResponse(status: Exclude<OcspStatusName, 'successful'>): Uint8Array {
  return der.sequence(der.tlv(0x0a, new Uint8Array([OCSPResponseStatus[status]])));
}

const refuse = (status: Exclude<OcspStatusName, 'successful'>, detail: string): OcspAnswer => ({
  der: ocspErrorResponse(status),
  status,
  detail,
  certificates: [],
});

const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
const bytes = (b: ArrayBuffer | ArrayBufferView) =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

/** issuerNameHash and issuerKeyHash of the issuing CA per hash algorithm, computed once per CA. */
const issuerHashes = new WeakMap<CertificateAuthority, Map<string, { name: Uint8Array; key: Uint8Array }>>();
function hashesOf(ca: CertificateAuthority, oid: string): { name: Uint8Array; key: Uint8Array } | undefined {
  const algorithm = HASHES[oid];
  if (algorithm === undefined) return undefined;
  let cache = issuerHashes.get(ca);
  if (cache === undefined) issuerHashes.set(ca, (cache = new Map()));
  let h = cache.get(oid);
  if (h === undefined) {
    // §4.1.1: the hash of the issuer's DN, and of its public key "(excluding the tag and length fields)".
    const keyBits = subjectPublicKeyBits(new Uint8Array(ca.issuing.cert.publicKey.rawData));
    h = {
      name: new Uint8Array(createHash(algorithm).update(ca.issuing.subjectDer).digest()),
      key: new Uint8Array(createHash(algorithm).update(keyBits).digest()),
    };
    cache.set(oid, h);
  }
  return h;
}

function parseRequest(requestDer: Uint8Array): OCSPRequest | string {
  if (requestDer.length > MAX_OCSP_REQUEST_BYTES) return `request of ${requestDer.length} bytes is over ${MAX_OCSP_REQUEST_BYTES}`;
  try {
    // Exactly one DER value: trailing bytes would be ignored by the parser.
    if (der.readNode(requestDer, 0).end !== requestDer.length) return 'trailing bytes after the OCSPRequest';
    return AsnConvert.parse(requestDer, OCSPRequest);
  } catch (e) {
    return `not a DER OCSPRequest: ${e instanceof Error ? e.message : String(e)}`;
  }
}

function statusOf(record: OcspRecord | undefined): CertStatus {
  if (record === undefined) return new CertStatus({ unknown: null });
  if (record.revokedAt === undefined) return new CertStatus({ good: null });
  // RFC 5280 §5.3.1: reason unspecified (0) "SHOULD be absent", as on this CA's CRL.
  const reason = record.reason === undefined || record.reason === 0 ? {} : { revocationReason: new CRLReason(record.reason) };
  return new CertStatus({ revoked: new RevokedInfo({ revocationTime: wholeSeconds(record.revokedAt), ...reason }) });
}

const statusName = (s: CertStatus): CertStatusName => (s.revoked !== undefined ? 'revoked' : s.good === null ? 'good' : 'unknown');

/** The serial a CertID names, in normalizeSerial() form; undefined for a negative INTEGER, which no CA issues. */
function serialOf(id: CertID): string | undefined {
  const raw = bytes(id.serialNumber);
  if (raw.length === 0 || ((raw[0] ?? 0) & 0x80) !== 0) return undefined;
  return normalizeSerial(toHex(raw));
}

/**
 * Answers one DER OCSPRequest (RFC 6960 §4.1) with a DER OCSPResponse (§4.2): successful and
 * signed when every CertID names this CA's issuing certificate, malformedRequest when the bytes
 * are not an OCSPRequest, unauthorized when a CertID names another issuer or a hash algorithm it
 * does not compute (§2.3: "not capable of responding authoritatively").
 */
export async function answerOcsp(requestDer: Uint8Array, ctx: OcspContext): Promise<OcspAnswer> {
  const request = parseRequest(requestDer);
  if (typeof request === 'string') return refuse('malformedRequest', request);
  const { requestList, requestExtensions = [] } = request.tbsRequest;
  if (requestList.length === 0) return refuse('malformedRequest', 'empty requestList');
  if (requestList.length > MAX_OCSP_CERT_IDS) return refuse('malformedRequest', `${requestList.length} CertIDs in one request, over ${MAX_OCSP_CERT_IDS}`);
  // §4.1.2: "Unrecognized extensions MUST be ignored (unless they have the critical flag set and are not understood)."
  const critical = [...requestExtensions, ...requestList.flatMap((r) => r.singleRequestExtensions ?? [])].find(
    (e) => e.critical && e.extnID !== id_pkix_ocsp_nonce,
  );
  if (critical !== undefined) return refuse('malformedRequest', `critical extension ${critical.extnID} is not understood`);

  const now = wholeSeconds(ctx.now);
  const responderNotAfter = ctx.signer.cert.notAfter.getTime();
  const nextUpdate = wholeSeconds(new Date(Math.min(now.getTime() + ctx.validityMs, responderNotAfter)));
  const responses: SingleResponse[] = [];
  const certificates: OcspAnswer['certificates'] = [];
  for (const { reqCert } of requestList) {
    const hashes = hashesOf(ctx.ca, reqCert.hashAlgorithm.algorithm);
    if (hashes === undefined) return refuse('unauthorized', `CertID hash algorithm ${reqCert.hashAlgorithm.algorithm} is not supported`);
    if (!equal(bytes(reqCert.issuerNameHash.buffer), hashes.name) || !equal(bytes(reqCert.issuerKeyHash.buffer), hashes.key)) {
      return refuse('unauthorized', 'a CertID names an issuer this responder does not serve');
    }
    const serial = serialOf(reqCert);
    const certStatus = statusOf(serial === undefined ? undefined : ctx.lookup(serial));
    certificates.push({ serial: serial ?? toHex(bytes(reqCert.serialNumber)), status: statusName(certStatus) });
    // §4.2.2.3: one SingleResponse per certificate in the request; the CertID as the client sent it.
    responses.push(new SingleResponse({ certID: reqCert, certStatus, thisUpdate: now, nextUpdate }));
  }

  // §4.4.1: the nonce "cryptographically binds a request and a response"; echoed as sent.
  const nonce = requestExtensions.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const echo = nonce !== undefined && nonce.extnValue.byteLength > 0 && nonce.extnValue.byteLength <= MAX_NONCE_EXTN_BYTES;
  const tbs = new ResponseData({
    // §4.2.2.3: the ResponderID "MUST correspond to the certificate that was used to sign the response".
    responderID: new ResponderID({ byKey: new OctetString(ctx.signer.keyHash) }),
    producedAt: now,
    responses,
    ...(echo ? { responseExtensions: [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: nonce.extnValue })] } : {}),
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const raw = new Uint8Array(await crypto.subtle.sign(ctx.signer.signingAlgorithm, ctx.signer.privateKey, tbsDer));
  const signature = ctx.signer.signingAlgorithm.name === 'ECDSA' ? der.ecdsaSignatureToDer(raw) : raw;
  // BasicOCSPResponse by hand around the exact tbs bytes that were signed. certs: the responder
  // alone; a client asking about a certificate already holds its issuer (§4.1.1 CertID needs it).
  const basic = der.sequence(tbsDer, ctx.signer.signatureAlgorithmDer, der.bitString(signature), der.contextConstructed(0, der.sequence(ctx.signer.der)));
  const response = der.sequence(
    der.tlv(0x0a, new Uint8Array([OCSPResponseStatus.successful])),
    der.contextConstructed(0, der.sequence(der.oid(id_pkix_ocsp_basic), der.octetString(basic))),
  );
  return { der: response, status: 'successful', certificates };
}
