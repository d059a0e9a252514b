/**
 * The delegated OCSP responder of the built-in CA (RFC 6960 §4.2.2.2): a certificate issued
 * directly by the issuing CA with id-kp-OCSPSigning and id-pkix-ocsp-nocheck, so the issuing key
 * never signs OCSP responses and clients need no revocation check for the responder itself. It
 * lives next to the CA as one file (certificate, then PKCS#8 key; mode 0600), written in one
 * rename so a crash never leaves a certificate without its key. Short-lived on purpose
 * (§4.2.2.2.1: "issue this type of certificate with a very short lifetime and renew it
 * frequently"); renewed when a third of its lifetime is left.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill
import * as x509 from '@peculiar/x509';
import { createHash, type webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CA_BACKDATE_MS,
  CA_FILES,
  algorithmsFor,
  certificatePem,
  generateKeys,
  importSigningKey,
  pemBody,
  privateKeyPem,
  writeAtomic,
  type CertificateAuthority,
} from './ca.js';
import * as der from './der.js';
import { randomSerial, useWebCrypto } from './mapping.js';

const DAY_MS = 86_400_000;
/** RFC 6960 §4.2.2.2: "id-kp-OCSPSigning OBJECT IDENTIFIER ::= {id-kp 9}". */
export const OID_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
/** RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck; "The value of the extension SHALL be NULL." */
export const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
/** RFC 5280 ub-common-name. */
const MAX_CN = 64;

export interface OcspSigner {
  cert: x509.X509Certificate;
  /** DER of the certificate, for the certs field of BasicOCSPResponse. */
  der: Uint8Array;
  privateKey: webcrypto.CryptoKey;
  signingAlgorithm: webcrypto.Algorithm;
  /** DER AlgorithmIdentifier of signingAlgorithm. */
  signatureAlgorithmDer: Uint8Array;
  /** RFC 6960 §4.2.1 KeyHash: SHA-1 of the subjectPublicKey BIT STRING's value, for ResponderID byKey. */
  keyHash: Uint8Array;
}

export interface OcspSignerSettings {
  /** Days the responder certificate is valid (cut to the issuing CA's notAfter). */
  validityDays: number;
}

/** The subjectPublicKey bits of a DER SubjectPublicKeyInfo, without the unused-bits octet. */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const [, bits] = der.childrenOf(spki, der.readNode(spki, 0), 0x30);
  if (bits === undefined || bits.tag !== 0x03) throw new RangeError('SPKI without a subjectPublicKey BIT STRING');
  return der.contentOf(spki, bits).subarray(1);
}

function keyHashOf(cert: x509.X509Certificate): Uint8Array {
  return new Uint8Array(createHash('sha1').update(subjectPublicKeyBits(new Uint8Array(cert.publicKey.rawData))).digest());
}

/** True when the signer is missing, not from the current issuing CA, or has a third of its lifetime left. */
export function needsRenewal(signer: OcspSigner | undefined, ca: CertificateAuthority, now: Date): boolean {
  if (signer === undefined) return true;
  const { notBefore, notAfter } = signer.cert;
  if (signer.cert.issuer !== ca.issuing.cert.subject) return true;
  const akid = signer.cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  if (akid !== ca.issuing.keyId) return true;
  const renewAt = notAfter.getTime() - (notAfter.getTime() - notBefore.getTime()) / 3;
  return now.getTime() >= renewAt;
}

/** O and CN of the issuing CA, with " OCSP Responder" after the CN. */
function responderName(ca: CertificateAuthority): x509.Name {
  const subject = ca.issuing.cert.subjectName;
  const cn = `${subject.getField('CN')[0] ?? 'Issuing CA'} OCSP Responder`.slice(0, MAX_CN);
  const org = subject.getField('O')[0];
  return new x509.Name([...(org === undefined ? [] : [{ O: [org] }]), { CN: [cn] }]);
}

/** Issues a fresh responder certificate and key from the issuing CA and writes them to the connector directory. */
export async function createOcspSigner(ca: CertificateAuthority, settings: OcspSignerSettings): Promise<OcspSigner> {
  useWebCrypto();
  const algs = algorithmsFor(ca.keyType);
  const keys = await generateKeys(algs);
  const now = ca.clock.now().getTime();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(ca.random),
    subject: responderName(ca),
    issuer: ca.issuing.cert.subjectName,
    notBefore: new Date(now - CA_BACKDATE_MS),
    notAfter: new Date(Math.min(now + settings.validityDays * DAY_MS, ca.issuing.cert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: ca.issuing.privateKey,
    signingAlgorithm: ca.issuing.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      // RFC 6960 §4.2.2.2: delegation "SHALL be designated by the inclusion of id-kp-OCSPSigning".
      new x509.ExtendedKeyUsageExtension([OID_OCSP_SIGNING], false),
      // §4.2.2.2.1: "This SHOULD be a non-critical extension. The value of the extension SHALL be NULL."
      new x509.Extension(OID_OCSP_NOCHECK, false, new Uint8Array([0x05, 0x00])),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(ca.issuing.keyId),
    ],
  });
  const text = certificatePem(cert) + (await privateKeyPem(keys.privateKey));
  await writeAtomic(join(ca.dir, CA_FILES.ocspResponder), text, 0o600);
  return signerOf(cert, keys.privateKey, ca);
}

function signerOf(cert: x509.X509Certificate, privateKey: webcrypto.CryptoKey, ca: CertificateAuthority): OcspSigner {
  const algs = algorithmsFor(ca.keyType);
  return {
    cert,
    der: new Uint8Array(cert.rawData),
    privateKey,
    signingAlgorithm: algs.sign,
    signatureAlgorithmDer: algs.signatureAlgorithmDer,
    keyHash: keyHashOf(cert),
  };
}

/** The responder in the CA directory, or why a new one must be issued instead (never a failed start). */
async function loadOcspSigner(ca: CertificateAuthority): Promise<OcspSigner | { replace: string }> {
  const file = join(ca.dir, CA_FILES.ocspResponder);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { replace: 'no responder certificate yet' };
    return { replace: `${CA_FILES.ocspResponder} cannot be read (${e instanceof Error ? e.message : String(e)})` };
  }
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pemBody(text, 'CERTIFICATE', CA_FILES.ocspResponder));
  } catch (e) {
    return { replace: `${CA_FILES.ocspResponder} holds no certificate that parses (${e instanceof Error ? e.message : String(e)})` };
  }
  if (!(await cert.verify({ publicKey: ca.issuing.cert, signatureOnly: true }))) {
    return { replace: 'responder certificate is not signed by the current issuing CA' };
  }
  const algs = algorithmsFor(ca.keyType);
  let privateKey: webcrypto.CryptoKey;
  try {
    privateKey = await importSigningKey(pemBody(text, 'PRIVATE KEY', CA_FILES.ocspResponder), algs, CA_FILES.ocspResponder);
  } catch (e) {
    return { replace: e instanceof Error ? e.message : String(e) };
  }
  const probe = new TextEncoder().encode('ocsp responder key probe');
  const signature = await crypto.subtle.sign(algs.sign, privateKey, probe);
  const publicKey = await cert.publicKey.export(algs.import, ['verify']).catch(() => undefined);
  if (publicKey === undefined || !(await crypto.subtle.verify(algs.sign, publicKey, signature, probe))) {
    return { replace: 'responder key does not belong to its certificate' };
  }
  return signerOf(cert, privateKey, ca);
}

/**
 * The responder on disk when it is still good for this CA, else a new one; `replaced` says why a
 * new one was issued, for the caller's log line.
 */
export async function loadOrCreateOcspSigner(
  ca: CertificateAuthority,
  settings: OcspSignerSettings,
): Promise<{ signer: OcspSigner; replaced?: string }> {
  useWebCrypto();
  const loaded = await loadOcspSigner(ca);
  if ('replace' in loaded) return { signer: await createOcspSigner(ca, settings), replaced: loaded.replace };
  if (needsRenewal(loaded, ca, ca.clock.now())) {
    return { signer: await createOcspSigner(ca, settings), replaced: `responder certificate expires at ${loaded.cert.notAfter.toISOString()}` };
  }
  return { signer: loaded };
}
