/**
 * Finalize's CSR checks (RFC 8555 §7.4): a valid PKCS#10 signature, a key type the profile allows,
 * and exactly the order's identifiers as names. Anything else is badCSR, naming what is wrong.
 */
import { createPublicKey } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { problem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';
import { canonicalIp } from './identifiers.js';
import { thumbprintOfJwk } from './thumbprint.js';

x509.cryptoProvider.set(globalThis.crypto);

const SAN_OID = '2.5.29.17';

export interface CheckedCsr {
  der: Uint8Array;
  keyType: string;
  /** The names the CSR asks for, normalised, sorted, de-duplicated. */
  identifiers: Identifier[];
}

/** "ec-p256", "rsa-2048", "ed25519", ...: the names profiles use in `csrKeyTypes`. */
export function keyTypeOfSpki(spkiDer: Uint8Array): string {
  const key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return `rsa-${details.modulusLength ?? 0}`;
    case 'ec': {
      const curve = { prime256v1: 'p256', secp384r1: 'p384', secp521r1: 'p521' }[details.namedCurve ?? ''] ?? details.namedCurve;
      return `ec-${curve}`;
    }
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

function sameSet(a: readonly Identifier[], b: readonly Identifier[]): boolean {
  const key = (i: Identifier) => `${i.type}:${i.value}`;
  const sa = new Set(a.map(key));
  const sb = new Set(b.map(key));
  return sa.size === sb.size && [...sa].every((k) => sb.has(k));
}

/** `accountKeyThumbprint`: the RFC 7638 thumbprint of the account key, which the CSR must not use (§11.1). */
export async function checkCsr(
  der: Uint8Array,
  orderIdentifiers: readonly Identifier[],
  allowedKeyTypes: readonly string[],
  accountKeyThumbprint?: string,
): Promise<CheckedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(der));
  } catch {
    throw problem.badCSR('the CSR is not a DER-encoded PKCS#10 request');
  }
  let signatureOk = false;
  try {
    signatureOk = await csr.verify();
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) throw problem.badCSR('the CSR signature does not verify');

  let keyType: string;
  try {
    keyType = keyTypeOfSpki(new Uint8Array(csr.publicKey.rawData));
  } catch {
    throw problem.badCSR('the CSR public key cannot be read');
  }
  if (!allowedKeyTypes.includes(keyType)) {
    throw problem.badCSR(`key type ${keyType} is not allowed by this profile (allowed: ${allowedKeyTypes.join(', ')})`);
  }
  // RFC 8555 §11.1: the server "MUST verify that the public key in a CSR is not the same as the public
  // key of the account key pair".
  if (accountKeyThumbprint !== undefined) {
    const jwk = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    if ((await thumbprintOfJwk(jwk as Record<string, unknown>)) === accountKeyThumbprint) {
      throw problem.badCSR('the CSR public key is the account key; the certificate needs a key of its own (RFC 8555 §11.1)');
    }
  }

  const names: Identifier[] = [];
  for (const ext of csr.extensions.filter((e) => e.type === SAN_OID)) {
    const san = ext instanceof x509.SubjectAlternativeNameExtension ? ext : new x509.SubjectAlternativeNameExtension(ext.rawData);
    for (const n of san.names.items) {
      if (n.type === 'dns') names.push({ type: 'dns', value: n.value.toLowerCase().replace(/\.$/, '') });
      else if (n.type === 'ip') names.push({ type: 'ip', value: canonicalIp(n.value) ?? n.value });
      else throw problem.badCSR(`the CSR asks for a ${n.type} name; only DNS names and IP addresses are issued`);
    }
  }
  // §7.4: the CSR's names must match the order's identifiers; a subject CN, if any, must be one of them.
  const cn = csr.subjectName.getField('CN')[0];
  if (cn !== undefined) {
    const cnValue = cn.toLowerCase().replace(/\.$/, '');
    const cnId: Identifier = canonicalIp(cnValue) ? { type: 'ip', value: canonicalIp(cnValue) ?? cnValue } : { type: 'dns', value: cnValue };
    if (!orderIdentifiers.some((i) => i.type === cnId.type && i.value === cnId.value)) {
      throw problem.badCSR(`the CSR's common name "${cn}" is not one of the order's identifiers`);
    }
    if (!names.some((n) => n.type === cnId.type && n.value === cnId.value)) names.push(cnId);
  }
  if (!sameSet(names, orderIdentifiers)) {
    const want = orderIdentifiers.map((i) => i.value).join(', ');
    const got = [...new Set(names.map((i) => i.value))].join(', ') || 'none';
    throw problem.badCSR(`the CSR names (${got}) do not equal the order's identifiers (${want})`);
  }
  return { der, keyType, identifiers: [...orderIdentifiers] };
}
