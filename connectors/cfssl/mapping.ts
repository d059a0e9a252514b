/**
 * Pure mapping between the SDK and cfssl's vocabulary: identifiers to `hosts`, the names cfssl
 * would sign but a certificate must not carry, certificates in and out of PEM, decimal serials of
 * the certdb, certdb rows to revocation status, the AKI quirk, and every cfssl failure to one
 * ConnectorError. No I/O.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { ConnectorError, type CertificateStatus, type SdkIdentifier, type SdkRevocationReason } from '../../src/sdk/index.js';
import { CfsslApiError, CfsslTransportError } from './client.js';

/** @peculiar/x509 works on WebCrypto; Node's is global since v19. Called by create(), not at import. */
export function useWebCrypto(): void {
  x509.cryptoProvider.set(globalThis.crypto);
}

// ---------------------------------------------------------------- names

const normalize = (id: SdkIdentifier) => (id.type === 'dns' ? id.value.toLowerCase().replace(/\.$/, '') : id.value);

/** RFC 1034 §3.5 preferred name syntax (letters, digits, hyphen), with one leading `*.` label (RFC 6125 §6.4.3). */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
function validDnsName(name: string): boolean {
  const bare = name.startsWith('*.') ? name.slice(2) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  return bare.split('.').every((l) => LABEL.test(l));
}

/**
 * Identifiers that must not go into a certificate. cfssl 1.2.0 signs any string in `hosts` (an
 * underscore, a space) as a dNSName, so the connector checks what RFC 5280 §4.2.1.6 asks of a
 * dNSName ("preferred name syntax") and that an `ip` identifier is an address.
 */
export function refusedIdentifiers(identifiers: readonly SdkIdentifier[]): SdkIdentifier[] {
  return identifiers.filter((id) => (id.type === 'ip' ? isIP(id.value) === 0 : !validDnsName(normalize(id))));
}

/** The sign request's `hosts`: every identifier once, lower-case, no trailing dot. cfssl makes IPs iPAddress SANs. */
export function hostsOf(identifiers: readonly SdkIdentifier[]): string[] {
  const hosts = [...new Set(identifiers.map(normalize))];
  if (hosts.length === 0) throw new ConnectorError('bad-request', 'the request names no identifier');
  return hosts;
}

// ---------------------------------------------------------------- PEM, serials

export function pemOf(der: Uint8Array, label: 'CERTIFICATE' | 'CERTIFICATE REQUEST'): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

/** Lower-case hex without leading zeros beyond one pair, as Issued.serial and the local store keep it. */
export function normalizeSerial(serial: string): string {
  const digits = serial.toLowerCase().replace(/[:\s]/g, '').replace(/^0x/, '').replace(/^0+/, '');
  if (!/^[0-9a-f]*$/.test(digits)) throw new ConnectorError('not-found', `"${serial}" is not a hexadecimal serial number`);
  if (digits === '') return '00';
  return digits.length % 2 === 1 ? `0${digits}` : digits;
}

/** The certdb keeps serials as decimal strings (NOTES.md quirk 1); the REST revoke takes the same. */
export const serialToDecimal = (hex: string): string => BigInt(`0x${normalizeSerial(hex)}`).toString(10);

export const serialFromDecimal = (decimal: string): string => {
  if (!/^\d+$/.test(decimal)) throw new ConnectorError('unavailable', `certdb serial "${decimal}" is not a decimal number`);
  return normalizeSerial(BigInt(decimal).toString(16));
};

export interface ParsedCertificate {
  cert: x509.X509Certificate;
  pem: string;
  /** normalizeSerial() form. */
  serial: string;
  /** RFC 4514 text, as @peculiar/x509 prints it. */
  issuer: string;
  subject: string;
  /** keyIdentifier of the AuthorityKeyIdentifier extension, lower-case hex; '' when absent. */
  aki: string;
  /** keyIdentifier of the SubjectKeyIdentifier extension, lower-case hex; '' when absent. */
  ski: string;
}

/** A PEM (or DER) certificate from cfssl; `what` names it in the error, since a bad one is cfssl's fault. */
export function parseCertificate(data: string | Uint8Array, what: string): ParsedCertificate {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(typeof data === 'string' ? data.trim() : data);
  } catch (cause) {
    throw new ConnectorError('unavailable', `cfssl sent ${what} that does not parse as an X.509 certificate`, { cause });
  }
  return {
    cert,
    pem: cert.toString('pem'),
    serial: normalizeSerial(cert.serialNumber),
    issuer: cert.issuer,
    subject: cert.subject,
    aki: (cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId ?? '').toLowerCase(),
    ski: (cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '').toLowerCase(),
  };
}

/** True when `issuer` signed `leaf` (names and signature). */
export async function issuedBy(leaf: ParsedCertificate, issuer: ParsedCertificate): Promise<boolean> {
  if (leaf.issuer !== issuer.subject) return false;
  return leaf.cert.verify({ publicKey: issuer.cert.publicKey, signatureOnly: true }).catch(() => false);
}

/** DN texts compare equal when they name the same attributes in the same order (spacing and case of types aside). */
export function sameDn(a: string, b: string): boolean {
  const canon = (dn: string) => {
    try {
      return new x509.Name(dn).toString();
    } catch {
      return dn.trim();
    }
  };
  return canon(a) === canon(b);
}

// ---------------------------------------------------------------- certdb

/** One row of cfssl's `certificates` table, as certdb.ts reads it. */
export interface CertRow {
  serial: string;
  aki: string;
  caLabel: string;
  status: string;
  reason: number;
  expiry: string;
  revokedAt: string;
  pem: string;
}

const REASONS: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);

/**
 * A certdb timestamp: `CURRENT_TIMESTAMP` text ("2026-11-23 08:13:12", UTC) or Go's time format
 * ("2027-02-21 18:43:00+00:00", "…05.123456789-07:00"). undefined for Go's zero time (year 1),
 * which cfssl writes as revoked_at of a certificate that is not revoked.
 */
export function certdbTime(text: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?/.exec(text.trim());
  if (m === null || m[1] === '0001') return undefined;
  const zone = m[8] === undefined || m[8] === 'Z' ? 'Z' : `${m[8].slice(0, 3)}:${m[8].slice(-2)}`;
  const fraction = m[7] === undefined ? '' : m[7].slice(0, 4);
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${fraction}${zone}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** certdb status 'revoked' (cfssl writes nothing else but 'good'), with reason and time. */
export function statusOfRow(row: CertRow): CertificateStatus {
  if (row.status !== 'revoked') return { revoked: false };
  const revokedAt = certdbTime(row.revokedAt);
  const reason = REASONS.has(row.reason) ? (row.reason as SdkRevocationReason) : 0;
  return { revoked: true, reason, ...(revokedAt ? { revokedAt } : {}) };
}

/**
 * The authority_key_id values to try in a REST revoke, in order (NOTES.md quirk 2): the real AKI
 * first, then "" for this build, which stores an empty AKI; the row's own value first when it is
 * neither (another cfssl version, another CA).
 */
export function akiCandidates(realAki: string, rowAki: string | undefined): string[] {
  const list = rowAki !== undefined && rowAki !== realAki && rowAki !== '' ? [rowAki, realAki, ''] : [realAki, ''];
  return [...new Set(list)];
}

/** ocspsign's revoked_at: cfssl 1.2.0 parses "2006-01-02" only, so the day (UTC) of the revocation. */
export const ocspRevokedAt = (d: Date): string => d.toISOString().slice(0, 10);

// ---------------------------------------------------------------- errors

export interface ErrorContext {
  identifiers?: readonly SdkIdentifier[];
}

/** cfssl error code categories (cfssl errors/error.go: category × 1000 + reason). */
const CSR_ERROR = 9;
const CERT_STORE_ERROR = 11;
const POLICY_INVALID_REQUEST = 5300;
const RECORD_NOT_FOUND = 11200;

/** Messages cfssl sends with the HTTP-like code 400, and what they say about our settings. */
const AUTH_HINTS: Readonly<Record<string, string>> = {
  'authentication required': 'the cfssl profile has an auth_key; use endpoint: authsign with its key',
  'invalid token': 'the HMAC key does not match the profile\'s auth_key in cfssl\'s config',
  'no authentication provider': 'the cfssl profile has no auth_key; give it one, or use endpoint: sign',
};

/** The one place a cfssl failure becomes a ConnectorError (README.md has the table). */
export function toConnectorError(e: unknown, ctx: ErrorContext = {}): ConnectorError {
  if (e instanceof ConnectorError) return e;
  if (e instanceof CfsslTransportError) {
    const where = `cfssl ${e.endpoint}`;
    switch (e.kind) {
      case 'timeout':
        return new ConnectorError('timeout', `${where} did not answer before the deadline`, { cause: e });
      case 'connection':
        return new ConnectorError('unavailable', `${e.message}`, { cause: e });
      case 'http':
        if (e.status !== undefined && e.status >= 500) return new ConnectorError('unavailable', `${where}: HTTP ${e.status}`, { cause: e });
        return new ConnectorError('misconfigured', `${where}: HTTP ${e.status ?? '?'}; is the url right, and is the endpoint enabled (revoke needs -db-config, ocspsign -responder)?`, { cause: e });
      case 'protocol':
        return new ConnectorError('unavailable', `${where}: ${e.message}`, { cause: e });
    }
  }
  if (e instanceof CfsslApiError) {
    const msg = `cfssl ${e.endpoint}: error ${e.code}: ${e.detail}`;
    const category = Math.floor(e.code / 1000);
    if (e.code === RECORD_NOT_FOUND) return new ConnectorError('not-found', msg, { cause: e });
    if (category === CSR_ERROR || e.code === 1300) return new ConnectorError('bad-request', msg, { cause: e });
    if (e.code === POLICY_INVALID_REQUEST) {
      return new ConnectorError('rejected', `${msg} (the cfssl profile's policy refuses this request)`, { ...(ctx.identifiers ? { identifiers: ctx.identifiers } : {}), cause: e });
    }
    if (category === 5 || category === 1 || category === 2 || category === 8) return new ConnectorError('misconfigured', msg, { cause: e });
    if (e.code === 400) {
      const hint = Object.entries(AUTH_HINTS).find(([m]) => e.detail.includes(m))?.[1];
      if (e.detail.includes('Invalid reason code')) return new ConnectorError('bad-request', msg, { cause: e });
      return new ConnectorError('misconfigured', hint ? `${msg}: ${hint}` : msg, { cause: e });
    }
    if (category === CERT_STORE_ERROR) return new ConnectorError('unavailable', `${msg} (cfssl's certificate database failed)`, { cause: e });
    return new ConnectorError('unavailable', msg, { cause: e });
  }
  return new ConnectorError('unavailable', `cfssl call failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** cfssl's code 11200 "certificate not found" from revoke: the AKI did not match, or the serial is unknown. */
export const isRecordNotFound = (e: unknown): boolean => e instanceof CfsslApiError && e.code === RECORD_NOT_FOUND;
