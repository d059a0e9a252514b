/**
 * tls-alpn-01 (RFC 8737), for DNS names and, per RFC 8738 §6, IP addresses. Never for wildcards.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { problem, type AcmeProblem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';
import { keyAuthorizationDigest } from './key-authorization.js';
import { formatHostPort, NetError, type NetClient } from './net.js';
import { isNetError, problemFromNetError } from './net-problem.js';
import type { ChallengeValidator, ValidationInput, ValidationRecord, ValidationResult } from './validator.js';

/** RFC 8737 §6.1: id-pe-acmeIdentifier, { id-pe 31 }. */
export const ID_PE_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';
const ID_CE_SUBJECT_ALT_NAME = '2.5.29.17';

let cryptoProviderSet = false;

export function createTlsAlpn01Validator(net: NetClient): ChallengeValidator {
  if (!cryptoProviderSet) {
    x509.cryptoProvider.set(globalThis.crypto);
    cryptoProviderSet = true;
  }
  return {
    type: 'tls-alpn-01',
    // Not for wildcards: RFC 8555 leaves it to policy; the CA/Browser Forum Baseline Requirements
    // accept only DNS-based methods for a wildcard, so dns-01 is the one (RFC 8555 §7.1.3 on wildcards).
    accepts: (_identifier: Identifier, wildcard: boolean) => !wildcard,
    validate: (input, signal) => validate(net, input, signal),
  };
}

async function validate(net: NetClient, input: ValidationInput, signal: AbortSignal): Promise<ValidationResult> {
  const { identifier } = input;
  const isAddress = identifier.type === 'ip';
  const subject = `${identifier.type === 'ip' ? 'address' : 'name'} ${identifier.value}`;
  // RFC 8738 §6: an IP is not allowed in SNI, so "the server MUST instead use the IN-ADDR.ARPA or
  // IP6.ARPA reverse mapping of the IP address as the HostName field value".
  const servername = isAddress ? reverseDnsName(identifier.value) : identifier.value;
  if (servername === undefined) return invalid(problem.malformed(`tls-alpn-01: ${identifier.value} is not an IP address`), []);
  const record: ValidationRecord = { hostname: identifier.value, port: String(net.ports.tlsAlpn01) };

  let der: Uint8Array | undefined;
  try {
    // RFC 8737 §3 step 2 (RFC 8738 §4: skipped for an IP, the address is the identifier).
    if (isAddress) {
      record.addressesResolved = [identifier.value];
    } else {
      record.resolver = net.resolverName;
      record.addressesResolved = await net.resolveAddresses(identifier.value, signal);
      if (record.addressesResolved.length === 0) {
        return invalid(problem.dns(`tls-alpn-01: no A or AAAA records for ${identifier.value} (resolver ${net.resolverName})`), [record]);
      }
    }
    // Step 3: one address is enough; the next is tried only when one cannot be reached.
    let lastError: NetError | undefined;
    for (const address of record.addressesResolved) {
      try {
        record.addressUsed = address;
        der = await net.tlsAlpnCertificate(address, servername, signal);
        break;
      } catch (e) {
        if (!(e instanceof NetError && e.kind === 'connection')) throw e;
        lastError = e;
      }
    }
    if (der === undefined) throw lastError ?? new NetError('connection', 'no address to connect to');
  } catch (e) {
    if (isNetError(e)) return invalid(problemFromNetError(e, `tls-alpn-01 for ${subject}: ${e.message}`), [record]);
    throw e;
  }

  const refusal = checkCertificate(der, identifier, keyAuthorizationDigest(input.keyAuthorization), `tls-alpn-01: the certificate from ${formatHostPort(record.addressUsed ?? '', net.ports.tlsAlpn01)}`);
  return refusal === undefined ? { status: 'valid', records: [record] } : invalid(refusal, [record]);
}

/** RFC 8737 §3 step 4 (RFC 8738 §6 for IPs); undefined when the certificate proves control. */
function checkCertificate(der: Uint8Array, identifier: Identifier, digest: Uint8Array, from: string): AcmeProblem | undefined {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch {
    return problem.unauthorized(`${from} could not be parsed as X.509`);
  }
  const want = identifier.type === 'ip' ? `a single iPAddress ${identifier.value}` : `a single dNSName ${identifier.value}`;

  // "a subjectAltName extension containing the dNSName being validated and no other entries"
  const sanExtensions = cert.extensions.filter((e) => e.type === ID_CE_SUBJECT_ALT_NAME);
  const [sanExtension] = sanExtensions;
  if (sanExtension === undefined || sanExtensions.length > 1) {
    return problem.unauthorized(`${from} has ${sanExtensions.length} subjectAltName extensions; RFC 8737 §3 requires one with ${want}`);
  }
  let names: { type: string; value: string }[];
  try {
    names = new x509.SubjectAlternativeNameExtension(sanExtension.rawData).names.items.map((n) => ({ type: n.type, value: n.value }));
  } catch {
    return problem.unauthorized(`${from} has a subjectAltName extension that could not be parsed`);
  }
  const [only] = names;
  if (only === undefined || names.length !== 1 || !sameIdentifier(only, identifier)) {
    const listed = names.map((n) => `${n.type}:${n.value}`).join(', ') || 'no entries';
    return problem.unauthorized(`${from} has subjectAltName ${listed}; RFC 8737 §3 requires ${want} and no other entries`);
  }

  // "a critical acmeIdentifier extension containing the expected SHA-256 digest"
  const acmeExtensions = cert.extensions.filter((e) => e.type === ID_PE_ACME_IDENTIFIER);
  const [acme] = acmeExtensions;
  if (acme === undefined || acmeExtensions.length > 1) {
    return problem.unauthorized(`${from} has ${acmeExtensions.length} acmeIdentifier extensions (${ID_PE_ACME_IDENTIFIER}); RFC 8737 §3 requires one`);
  }
  if (!acme.critical) {
    return problem.unauthorized(`${from} has an acmeIdentifier extension that is not critical; RFC 8737 §3: it "MUST be critical"`);
  }
  // extnValue is the DER of Authorization ::= OCTET STRING (SIZE (32)): tag 0x04, length 0x20, digest.
  const expected = Buffer.concat([Buffer.from([0x04, digest.length]), digest]);
  if (!Buffer.from(acme.value).equals(expected)) {
    return problem.incorrectResponse(`${from} has an acmeIdentifier extension that is not the DER OCTET STRING of SHA-256 of the key authorization`);
  }
  return undefined;
}

function sameIdentifier(name: { type: string; value: string }, identifier: Identifier): boolean {
  if (identifier.type === 'ip') {
    if (name.type !== 'ip') return false;
    const a = ipBytes(name.value);
    const b = ipBytes(identifier.value);
    return a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));
  }
  // RFC 8737 §3: "The comparison of dNSNames MUST be case insensitive [RFC4343]."
  return name.type === 'dns' && name.value.toLowerCase() === identifier.value.toLowerCase();
}

/** RFC 8738 §6: `1.0.0.127.in-addr.arpa`, or the nibble form under `ip6.arpa` (RFC 3596 §2.5). */
export function reverseDnsName(ip: string): string | undefined {
  const bytes = ipBytes(ip);
  if (bytes === undefined) return undefined;
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles = [...bytes].flatMap((b) => [b >> 4, b & 0x0f]).map((n) => n.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

/** 4 or 16 bytes for a textual IPv4 or IPv6 address (embedded IPv4 allowed), else undefined. */
function ipBytes(ip: string): Uint8Array | undefined {
  const family = isIP(ip);
  if (family === 4) return new Uint8Array(ip.split('.').map(Number));
  if (family !== 6) return undefined;
  const [head = '', tail] = ip.split('::');
  const groups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return new Uint8Array(all.flatMap((g) => [g >> 8, g & 0xff]));
}

function invalid(p: AcmeProblem, records: ValidationRecord[]): ValidationResult {
  return { status: 'invalid', problem: p, records };
}
