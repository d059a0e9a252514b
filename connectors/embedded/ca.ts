/**
 * The built-in CA's material and everything it signs: a self-signed root, an issuing CA under it
 * (pathLen 0), leaves, the gateway's own TLS certificate and CRLs. Keys live as PKCS#8 PEM files
 * (mode 0600) below the connector directory; only the issuing key is loaded after the first start.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill
import * as x509 from '@peculiar/x509';
import { mkdir, readFile, rename, writeFile, access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { webcrypto } from 'node:crypto';
import { ConnectorError, type SdkClock, type SdkRandom, type SdkRevocationReason } from '../../src/sdk/index.js';
import type { CaKeyType } from './config.js';
import * as der from './der.js';
import { signLeaf } from './leaf.js';
import { derInteger, identifiersOf, readSpki, randomSerial, subjectNames, useWebCrypto } from './mapping.js';

type CryptoKey = webcrypto.CryptoKey;
type Algorithm = webcrypto.Algorithm;

const DAY_MS = 86_400_000;
/** CA certificates start an hour early, so a client whose clock lags a little still accepts them. */
export const CA_BACKDATE_MS = 3_600_000;

/** File names inside the connector directory. `root.pem` is the trust bundle clients install. */
export const CA_FILES = {
  rootCert: 'root.pem',
  rootKey: 'root.key.pem',
  issuingCert: 'issuing.pem',
  issuingKey: 'issuing.key.pem',
  /** The delegated OCSP responder's certificate and PKCS#8 key in one file (0600), see ocsp-signer.ts. */
  ocspResponder: 'ocsp-responder.pem',
} as const;

/** Where a connector named `name` keeps its files: `${dataDir}/connectors/${name}`. */
export function caDirectory(dataDir: string, name: string): string {
  return join(dataDir, 'connectors', name);
}

/** The file clients and operators install as the trust anchor: the root CA certificate alone. */
export function trustBundlePath(dataDir: string, name: string): string {
  return join(caDirectory(dataDir, name), CA_FILES.rootCert);
}

/** What loadOrCreateCa needs from the connector config (EmbeddedConfig fits). */
export interface CaSettings {
  keyType: CaKeyType;
  organization: string;
  rootCommonName: string;
  issuingCommonName: string;
  /** Days. */
  rootValidity: number;
  /** Days. */
  issuingValidity: number;
}

export interface CaCertificate {
  cert: x509.X509Certificate;
  pem: string;
  /** Hex SubjectKeyIdentifier, the AuthorityKeyIdentifier of what this CA signs. */
  keyId: string;
}

export interface SigningCa extends CaCertificate {
  privateKey: CryptoKey;
  signingAlgorithm: Algorithm;
  /** DER AlgorithmIdentifier of `signingAlgorithm`, for what this CA signs (RFC 5280 §4.1.1.2). */
  signatureAlgorithmDer: Uint8Array;
  /** The certificate's subject Name exactly as encoded, the issuer of what this CA signs. */
  subjectDer: Uint8Array;
}

export interface CertificateAuthority {
  readonly dir: string;
  readonly keyType: CaKeyType;
  readonly root: CaCertificate;
  readonly issuing: SigningCa;
  readonly clock: SdkClock;
  readonly random: SdkRandom;
}

// ---------------------------------------------------------------- algorithms

export interface KeyAlgorithms {
  generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams;
  import: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  sign: Algorithm;
  /** RFC 3279 §2.2.3 ecdsa-with-SHA*, no parameters; RFC 4055 §5 sha256WithRSAEncryption, NULL. */
  signatureAlgorithmDer: Uint8Array;
}

const ECDSA_SHA256 = der.sequence(der.oid('1.2.840.10045.4.3.2'));
const ECDSA_SHA384 = der.sequence(der.oid('1.2.840.10045.4.3.3'));
const RSA_SHA256 = der.sequence(der.oid('1.2.840.113549.1.1.11'), new Uint8Array([0x05, 0x00]));

export function algorithmsFor(keyType: CaKeyType): KeyAlgorithms {
  switch (keyType) {
    case 'ec-p256':
      return { generate: { name: 'ECDSA', namedCurve: 'P-256' }, import: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams, signatureAlgorithmDer: ECDSA_SHA256 };
    case 'ec-p384':
      return { generate: { name: 'ECDSA', namedCurve: 'P-384' }, import: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams, signatureAlgorithmDer: ECDSA_SHA384 };
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096': {
      const modulusLength = Number(keyType.slice(4));
      const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      return { generate: { ...rsa, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) }, import: rsa, sign: rsa, signatureAlgorithmDer: RSA_SHA256 };
    }
  }
}

/** The CA key type of a certificate on disk, which wins over the configured one after first start. */
function keyTypeOf(cert: x509.X509Certificate): CaKeyType {
  const { key } = readSpki(new Uint8Array(cert.publicKey.rawData));
  if (key.kind === 'ec' && key.curve === 'P-256') return 'ec-p256';
  if (key.kind === 'ec' && key.curve === 'P-384') return 'ec-p384';
  if (key.kind === 'rsa' && key.bits === 2048) return 'rsa-2048';
  if (key.kind === 'rsa' && key.bits === 3072) return 'rsa-3072';
  if (key.kind === 'rsa' && key.bits === 4096) return 'rsa-4096';
  throw new ConnectorError('misconfigured', `CA certificate ${cert.subject} has a key the embedded CA does not use`);
}

// ---------------------------------------------------------------- files

function pem(der: ArrayBuffer, label: string): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** RFC 7468 text with a final newline; x509's toString('pem') has none. */
export function certificatePem(cert: x509.X509Certificate): string {
  return pem(cert.rawData, 'CERTIFICATE');
}

export function pemBody(text: string, label: string, file: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(text);
  if (!m) throw new ConnectorError('misconfigured', `${file} holds no ${label} block`);
  return new Uint8Array(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
}

let tmpCounter = 0;
/** Write-then-rename, so a crash never leaves a half-written file under the final name. */
export async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${tmpCounter++}.tmp`;
  await writeFile(tmp, text, { mode, flag: 'wx' });
  await rename(tmp, path);
}

const exists = (path: string) => access(path).then(() => true, () => false);

// ---------------------------------------------------------------- create and load

export async function generateKeys(algs: KeyAlgorithms): Promise<webcrypto.CryptoKeyPair> {
  // WebCrypto key generation takes no seed; the only randomness not drawn from deps.random.
  return crypto.subtle.generateKey(algs.generate, true, ['sign', 'verify']);
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return pem(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function importSigningKey(der: Uint8Array, algs: KeyAlgorithms, file: string): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey('pkcs8', der, algs.import, false, ['sign']);
  } catch (cause) {
    throw new ConnectorError('misconfigured', `${file} is not a PKCS#8 key of the CA certificate's type`, { cause });
  }
}

function caExtensions(ski: x509.SubjectKeyIdentifierExtension, issuerKeyId: string, pathLength: number | undefined): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true), // RFC 5280 §4.2.1.9: MUST be critical in CA certs
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), // §4.2.1.3
    ski, // §4.2.1.2: MUST appear in conforming CA certificates
    new x509.AuthorityKeyIdentifierExtension(issuerKeyId), // §4.2.1.1
  ];
}

async function createCa(dir: string, settings: CaSettings, clock: SdkClock, random: SdkRandom): Promise<CertificateAuthority> {
  const algs = algorithmsFor(settings.keyType);
  const now = clock.now().getTime();
  const notBefore = new Date(now - CA_BACKDATE_MS);

  const rootKeys = await generateKeys(algs);
  const rootName = new x509.Name([{ O: [settings.organization] }, { CN: [settings.rootCommonName] }]);
  const rootSki = await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey);
  const root = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(random),
    subject: rootName,
    issuer: rootName,
    notBefore,
    notAfter: new Date(now + settings.rootValidity * DAY_MS),
    publicKey: rootKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: algs.sign,
    extensions: caExtensions(rootSki, rootSki.keyId, undefined),
  });

  const issuingKeys = await generateKeys(algs);
  const issuingSki = await x509.SubjectKeyIdentifierExtension.create(issuingKeys.publicKey);
  const issuing = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(random),
    subject: new x509.Name([{ O: [settings.organization] }, { CN: [settings.issuingCommonName] }]),
    issuer: root.subjectName,
    notBefore,
    notAfter: new Date(Math.min(now + settings.issuingValidity * DAY_MS, root.notAfter.getTime())),
    publicKey: issuingKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: algs.sign,
    extensions: caExtensions(issuingSki, rootSki.keyId, 0), // pathLen 0: it signs leaves only
  });

  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(dir, CA_FILES.rootKey), await privateKeyPem(rootKeys.privateKey), 0o600);
  await writeAtomic(join(dir, CA_FILES.issuingKey), await privateKeyPem(issuingKeys.privateKey), 0o600);
  await writeAtomic(join(dir, CA_FILES.issuingCert), certificatePem(issuing), 0o644);
  // root.pem last: its presence says the set is complete (see loadOrCreateCa).
  await writeAtomic(join(dir, CA_FILES.rootCert), certificatePem(root), 0o644);
  return loadCa(dir, clock, random);
}

async function loadCa(dir: string, clock: SdkClock, random: SdkRandom): Promise<CertificateAuthority> {
  const read = async (file: string) => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (cause) {
      throw new ConnectorError('misconfigured', `CA file ${join(dir, file)} cannot be read`, { cause });
    }
  };
  const rootPem = await read(CA_FILES.rootCert);
  const issuingPem = await read(CA_FILES.issuingCert);
  const keyPem = await read(CA_FILES.issuingKey);
  let root: x509.X509Certificate;
  let issuing: x509.X509Certificate;
  try {
    root = new x509.X509Certificate(pemBody(rootPem, 'CERTIFICATE', CA_FILES.rootCert));
    issuing = new x509.X509Certificate(pemBody(issuingPem, 'CERTIFICATE', CA_FILES.issuingCert));
  } catch (cause) {
    if (cause instanceof ConnectorError) throw cause;
    throw new ConnectorError('misconfigured', `CA certificates in ${dir} do not parse`, { cause });
  }
  if (!(await issuing.verify({ publicKey: root, signatureOnly: true }))) {
    throw new ConnectorError('misconfigured', `${CA_FILES.issuingCert} in ${dir} is not signed by ${CA_FILES.rootCert}`);
  }
  const keyType = keyTypeOf(issuing);
  const algs = algorithmsFor(keyType);
  const privateKey = await importSigningKey(pemBody(keyPem, 'PRIVATE KEY', CA_FILES.issuingKey), algs, CA_FILES.issuingKey);
  // The key must belong to the certificate: sign a probe and check it with the certificate's key.
  const probe = new TextEncoder().encode('embedded-ca key probe');
  const signature = await crypto.subtle.sign(algs.sign, privateKey, probe);
  const publicKey = await issuing.publicKey.export(algs.import, ['verify']);
  if (!(await crypto.subtle.verify(algs.sign, publicKey, signature, probe))) {
    throw new ConnectorError('misconfigured', `${CA_FILES.issuingKey} in ${dir} does not match ${CA_FILES.issuingCert}`);
  }
  const keyId = async (cert: x509.X509Certificate) =>
    cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? Buffer.from(await cert.publicKey.getKeyIdentifier()).toString('hex');
  return {
    dir,
    keyType,
    root: { cert: root, pem: certificatePem(root), keyId: await keyId(root) },
    issuing: {
      cert: issuing,
      pem: certificatePem(issuing),
      keyId: await keyId(issuing),
      privateKey,
      signingAlgorithm: algs.sign,
      signatureAlgorithmDer: algs.signatureAlgorithmDer,
      subjectDer: subjectDerOf(new Uint8Array(issuing.rawData)),
    },
    clock,
    random,
  };
}

/** Certificate → tbsCertificate → subject: the sixth field, or the fifth when version is absent (v1). */
function subjectDerOf(cert: Uint8Array): Uint8Array {
  const [tbs] = der.childrenOf(cert, der.readNode(cert, 0), 0x30);
  const fields = tbs === undefined ? [] : der.childrenOf(cert, tbs, 0x30);
  const subject = fields[fields[0]?.tag === 0xa0 ? 5 : 4];
  if (subject === undefined) throw new ConnectorError('misconfigured', 'issuing CA certificate has no subject');
  return der.bytesOf(cert, subject).slice();
}

const pending = new Map<string, Promise<CertificateAuthority>>();

/**
 * The CA in `dir`: loaded when `root.pem` is there, created (root, issuing CA, keys) when it is
 * not. Later starts reuse the files, whatever `settings` say now. The app's startup and the
 * connector may both call it for one directory at once; they share one creation.
 */
export function loadOrCreateCa(dir: string, settings: CaSettings, clock: SdkClock, random: SdkRandom): Promise<CertificateAuthority> {
  useWebCrypto();
  const key = resolve(dir);
  const inFlight = pending.get(key);
  if (inFlight) return inFlight;
  const work = (async () => {
    if (await exists(join(key, CA_FILES.rootCert))) return loadCa(key, clock, random);
    return createCa(key, settings, clock, random);
  })().finally(() => pending.delete(key));
  pending.set(key, work);
  return work;
}

// ---------------------------------------------------------------- signing

/**
 * The gateway's own TLS listener certificate, from the issuing CA: a fresh ECDSA P-256 key,
 * dNSName/iPAddress SANs from `names`, serverAuth. chainPem is the issuing CA; clients trust root.pem.
 */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  names: string[],
  validityDays: number,
): Promise<{ certPem: string; keyPem: string; chainPem: string }> {
  useWebCrypto();
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const now = ca.clock.now();
  const leaf = await signLeaf(ca, {
    spki: new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey)),
    serial: randomSerial(ca.random),
    names: subjectNames(identifiersOf(names)),
    extendedKeyUsages: [x509.ExtendedKeyUsage.serverAuth],
    isRsaKey: false,
    notBefore: now,
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
  });
  return { certPem: leaf.pem, keyPem: await privateKeyPem(keys.privateKey), chainPem: ca.issuing.pem };
}

export interface CrlEntry {
  serial: string;
  revokedAt: Date;
  reason: SdkRevocationReason;
}

/**
 * RFC 5280 §5: a v2 CRL from the issuing CA with AKI and CRL number (§5.2.1, §5.2.3, both MUST).
 * Reason 0 gets no reasonCode entry extension, as §5.3.1 asks ("SHOULD be absent").
 */
export async function signCrl(
  ca: CertificateAuthority,
  crl: { number: bigint; thisUpdate: Date; nextUpdate: Date; entries: readonly CrlEntry[] },
): Promise<Uint8Array> {
  const signed = await x509.X509CrlGenerator.create({
    issuer: ca.issuing.cert.subjectName,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    signingKey: ca.issuing.privateKey,
    signingAlgorithm: ca.issuing.signingAlgorithm,
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(ca.issuing.keyId),
      new x509.Extension('2.5.29.20', false, derInteger(crl.number)), // id-ce-cRLNumber
    ],
    entries: crl.entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt, reason: e.reason })),
  });
  return new Uint8Array(signed.rawData);
}
