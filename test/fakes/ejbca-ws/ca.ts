/**
 * Certificates of the EJBCA double, made at start with @peculiar/x509 (EC P-256, fast):
 * - "ManagementCA", which, as in a fresh EJBCA, issues the TLS server certificate and the RA
 *   administrator's client certificate (mutual TLS);
 * - "DoubleRootCA" → "DoubleIssuingCA", the CA the double issues end-entity certificates from;
 * - "Stray CA", which nothing trusts: the double signs with it when told to return an unchained leaf.
 * DNs are encoded the way EJBCA encodes them (C first in the ASN.1 sequence), so their EJBCA string
 * form is "CN=…,O=…,C=SE".
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import type { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(globalThis.crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface KeyedCert {
  cert: x509.X509Certificate;
  pem: string;
  keys: webcrypto.CryptoKeyPair;
  /** The DN as EJBCA writes it (most specific first, no spaces): what revokeCert and friends take. */
  dn: string;
}

export interface DoubleCa {
  management: KeyedCert;
  server: KeyedCert & { keyPem: string };
  admin: KeyedCert & { keyPem: string };
  root: KeyedCert;
  issuing: KeyedCert;
  stray: KeyedCert;
}

/** EJBCA's DN attribute names, in the order it prints them (CertTools' default DN order). */
const DN_ORDER = ['E', 'UID', 'CN', 'SN', 'GIVENNAME', 'INITIALS', 'SURNAME', 'T', 'OU', 'O', 'L', 'ST', 'DC', 'C'];
const DN_ALIASES: Record<string, string> = { EMAILADDRESS: 'E', EMAIL: 'E', SERIALNUMBER: 'SN', G: 'GIVENNAME', I: 'INITIALS' };
/** EJBCA names → @peculiar/x509 names or OIDs. */
const X509_NAMES: Record<string, string> = { SN: '2.5.4.5', SURNAME: 'SN', GIVENNAME: 'G', INITIALS: 'I', UID: '0.9.2342.19200300.100.1.1' };

/** Splits "CN=a\,b, O=x" into attribute/value pairs, honouring backslash escapes. */
export function dnPairs(dn: string): { type: string; value: string }[] {
  const pairs: { type: string; value: string }[] = [];
  let current = '';
  const flush = () => {
    const text = current.trim();
    current = '';
    if (text === '') return;
    const eq = text.indexOf('=');
    if (eq < 1) throw new Error(`not a DN component: "${text}"`);
    const raw = text.slice(0, eq).trim().toUpperCase();
    pairs.push({ type: DN_ALIASES[raw] ?? raw, value: text.slice(eq + 1).trim().replace(/\\(.)/g, '$1') });
  };
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i];
    if (ch === '\\' && i + 1 < dn.length) {
      current += ch + dn[i + 1];
      i++;
    } else if (ch === ',') flush();
    else current += ch;
  }
  flush();
  return pairs;
}

const escapeValue = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');

/** EJBCA's canonical DN string (CertTools.stringToBCDNString): known attributes in its order, no spaces. */
export function normalizeDn(dn: string): string {
  const pairs = dnPairs(dn);
  const rank = (t: string) => {
    const i = DN_ORDER.indexOf(t);
    return i === -1 ? DN_ORDER.length : i;
  };
  return pairs
    .map((p, i) => ({ ...p, i }))
    .sort((a, b) => rank(a.type) - rank(b.type) || a.i - b.i)
    .map((p) => `${p.type}=${escapeValue(p.value)}`)
    .join(',');
}

/** The x509 Name for an EJBCA DN string, encoded least specific first (C, O, …, CN) as EJBCA does. */
export function encodeDn(dn: string): x509.Name {
  const pairs = dnPairs(normalizeDn(dn)).reverse();
  return new x509.Name(pairs.map((p) => ({ [X509_NAMES[p.type] ?? p.type]: [p.value] })));
}

async function selfSigned(dn: string, days: number, now: Date): Promise<KeyedCert> {
  const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: encodeDn(dn),
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, pem: cert.toString('pem'), keys, dn: normalizeDn(dn) };
}

interface IssueOptions {
  dn: string;
  publicKey: webcrypto.CryptoKey | x509.PublicKey;
  serialHex?: string;
  notBefore: Date;
  notAfter: Date;
  altNames?: { type: 'dns' | 'ip'; value: string }[];
  ca?: boolean;
  usages?: ('serverAuth' | 'clientAuth')[];
  keyEncipherment?: boolean;
}

const EKU = { serverAuth: x509.ExtendedKeyUsage.serverAuth, clientAuth: x509.ExtendedKeyUsage.clientAuth };

/** Signs a certificate with `issuer`; leaves get keyUsage digitalSignature and the given EKUs. */
export async function issueWith(issuer: KeyedCert, o: IssueOptions): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.ca === true, o.ca === true ? 0 : undefined, true),
    new x509.KeyUsagesExtension(
      o.ca === true
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | (o.keyEncipherment ? x509.KeyUsageFlags.keyEncipherment : 0),
      true,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
    await x509.SubjectKeyIdentifierExtension.create(o.publicKey),
  ];
  if (o.usages && o.usages.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(o.usages.map((u) => EKU[u])));
  if (o.altNames && o.altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(o.altNames));
  return x509.X509CertificateGenerator.create({
    serialNumber: o.serialHex ?? randomSerialHex(),
    subject: encodeDn(o.dn),
    issuer: issuer.cert.subjectName,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey: o.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: SIGN,
    extensions,
  });
}

async function keyed(issuer: KeyedCert, dn: string, now: Date, days: number, extra: Omit<IssueOptions, 'dn' | 'publicKey' | 'notBefore' | 'notAfter'>): Promise<KeyedCert & { keyPem: string }> {
  const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await issueWith(issuer, { ...extra, dn, publicKey: keys.publicKey, notBefore: new Date(now.getTime() - DAY_MS), notAfter: new Date(now.getTime() + days * DAY_MS) });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  return { cert, pem: cert.toString('pem'), keys, keyPem, dn: normalizeDn(dn) };
}

/** 8 random octets, top bit clear and first octet non-zero: EJBCA's default 64-bit serials. */
export function randomSerialHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  b[0] = ((b[0] ?? 1) & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

export interface DoubleCaOptions {
  /** Real time: TLS checks validity against the system clock, whatever the test clock says. */
  now?: Date;
  hostNames?: string[];
  adminCommonName?: string;
}

/** Makes every certificate and key the double needs. About 30 ms. */
export async function createDoubleCa(opts: DoubleCaOptions = {}): Promise<DoubleCa> {
  const now = opts.now ?? new Date();
  const management = await selfSigned('CN=ManagementCA,O=EJBCA Double,C=SE', 3650, now);
  const hostNames = opts.hostNames ?? ['localhost', '127.0.0.1', '::1'];
  const server = await keyed(management, `CN=${hostNames[0] ?? 'localhost'},O=EJBCA Double,C=SE`, now, 365, {
    usages: ['serverAuth'],
    altNames: hostNames.map((value) => ({ type: isIP(value) !== 0 ? 'ip' : 'dns', value })),
  });
  const admin = await keyed(management, `CN=${opts.adminCommonName ?? 'gateway-ra-admin'},O=EJBCA Double,C=SE`, now, 365, { usages: ['clientAuth'] });
  const root = await selfSigned('CN=Double Root CA,O=EJBCA Double,C=SE', 36_500, now);
  const issuingKeys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const issuingCert = await issueWith(root, {
    dn: 'CN=Double Issuing CA,O=EJBCA Double,C=SE',
    publicKey: issuingKeys.publicKey,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 18_250 * DAY_MS),
    ca: true,
  });
  const issuing: KeyedCert = { cert: issuingCert, pem: issuingCert.toString('pem'), keys: issuingKeys, dn: normalizeDn('CN=Double Issuing CA,O=EJBCA Double,C=SE') };
  const stray = await selfSigned('CN=Stray CA,O=Elsewhere,C=SE', 36_500, now);
  return { management, server, admin, root, issuing, stray };
}

/** Parses an EJBCA subjectAltName string ("dNSName=a.example, iPAddress=192.0.2.1"). */
export function parseAltNames(san: string | undefined): { type: 'dns' | 'ip'; value: string }[] {
  if (san === undefined || san.trim() === '') return [];
  return san.split(',').map((part) => {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (eq < 1 || value === '') throw new Error(`not a subjectAltName component: "${part.trim()}"`);
    if (key === 'dnsname') return { type: 'dns' as const, value };
    if (key === 'ipaddress') return { type: 'ip' as const, value };
    throw new Error(`subjectAltName field "${part.slice(0, eq).trim()}" is not allowed here`);
  });
}
