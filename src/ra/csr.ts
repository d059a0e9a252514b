/**
 * Finalize's CSR checks (RFC 8555 §7.4): a valid PKCS#10 signature, a key type the profile allows,
 * and exactly the order's identifiers as names. Anything else is badCSR, naming what is wrong.
 */
import { problem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';
import { CsrError, readCsr } from '../sdk/csr.js';
import { canonicalIp } from './identifiers.js';
import { thumbprintOfJwk } from './thumbprint.js';

export interface CheckedCsr {
  der: Uint8Array;
  keyType: string;
  /** The names the CSR asks for, normalised, sorted, de-duplicated. */
  identifiers: Identifier[];
}

function sameSet(a: readonly Identifier[], b: readonly Identifier[]): boolean {
  const key = (i: Identifier) => `${i.type}:${i.value}`;
  const sa = new Set(a.map(key));
  const sb = new Set(b.map(key));
  return sa.size === sb.size && [...sa].every((k) => sb.has(k));
}

export async function checkCsr(
  der: Uint8Array,
  orderIdentifiers: readonly Identifier[],
  allowedKeyTypes: readonly string[],
  accountKeyThumbprint?: string,
): Promise<CheckedCsr> {
  let csr;
  try {
    csr = readCsr(der);
  } catch (e) {
    throw problem.badCSR(e instanceof CsrError ? `the CSR cannot be read: ${e.message}` : 'the CSR is not a DER-encoded PKCS#10 request');
  }
  if (!csr.signatureValid) throw problem.badCSR('the CSR signature does not verify');
  const keyType = csr.keyType;
  if (!allowedKeyTypes.includes(keyType)) {
    throw problem.badCSR(`key type ${keyType} is not allowed by this profile (allowed: ${allowedKeyTypes.join(', ')})`);
  }
  // RFC 8555 §11.1: the server "MUST verify that the public key in a CSR is not the same as the public
  // key of the account key pair".
  if (accountKeyThumbprint !== undefined) {
    const jwk = csr.key.export({ format: 'jwk' });
    if (thumbprintOfJwk(jwk as Record<string, unknown>) === accountKeyThumbprint) {
      throw problem.badCSR('the CSR public key is the account key; the certificate needs a key of its own (RFC 8555 §11.1)');
    }
  }

  if (csr.otherNames.length > 0) throw problem.badCSR('the CSR asks for names other than DNS names and IP addresses; only those are issued');
  const names: Identifier[] = [
    ...csr.dnsNames.map((v): Identifier => ({ type: 'dns', value: v.toLowerCase().replace(/\.$/, '') })),
    ...csr.ipAddresses.map((v): Identifier => ({ type: 'ip', value: canonicalIp(v) ?? v })),
  ];
  // §7.4: the CSR's names must match the order's identifiers; a subject CN, if any, must be one of them.
  for (const cn of csr.commonNames) {
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
