/**
 * Pure mapping between the SDK and EJBCA's web-service vocabulary: usernames from the naming
 * schemes, identifiers to subjectAltName and back, validity to EJBCA time strings, the ACME context
 * as custom data, the double-base64 certificate fields, DNs in EJBCA's string form, and every
 * EJBCA fault or transport failure to one ConnectorError. No I/O.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import * as x509 from '@peculiar/x509';
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { ConnectorError, type AccountSummary, type IssueRequest, type SdkIdentifier } from '../../src/sdk/index.js';
import { EjbcaWsFault, EjbcaWsTransportError, type UserMatchWs } from './client.js';

/** @peculiar/x509 works on WebCrypto; Node's is global since v19. Called by create(), not at import. */
export function useWebCrypto(): void {
  x509.cryptoProvider.set(globalThis.crypto);
}

// ---------------------------------------------------------------- usernames

export const MATCH_USERNAME = 0;
export const MATCH_EQUALS = 0;
export const MATCH_CONTAINS = 2;

export type SchemeValues = Partial<Record<'accountId' | 'orderId' | 'profile', string>>;

/** Fills {accountId}, {orderId}, {profile} in a username scheme (config.ts checked the placeholders). */
export function fillScheme(scheme: string, values: SchemeValues): string {
  return scheme.replace(/\{(accountId|orderId|profile)\}/g, (_m, k: keyof SchemeValues) => {
    const v = values[k];
    if (v === undefined || v === '') throw new ConnectorError('misconfigured', `username scheme "${scheme}" needs {${k}}, which this call does not know`);
    return v;
  });
}

export const registrationUsername = (scheme: string, account: Pick<AccountSummary, 'accountId' | 'profile'>): string =>
  fillScheme(scheme, { accountId: account.accountId, profile: account.profile });

/** {orderId} is the request id: the idempotency key the gateway passes, which is the ACME order id. */
export const issuingUsername = (scheme: string, req: Pick<IssueRequest, 'requestId' | 'acme'>): string =>
  fillScheme(scheme, { accountId: req.acme.accountId, orderId: req.requestId, profile: req.acme.profile });

/**
 * How status() finds an order's issuing end entity knowing only the request id: by username EQUALS
 * when the scheme needs nothing else, otherwise CONTAINS the request id, then filtered by the
 * scheme with the other placeholders as wildcards.
 */
export function issuingLookup(scheme: string, requestId: string): { match: UserMatchWs; accepts(username: string): boolean } {
  if (!/\{(accountId|profile)\}/.test(scheme)) {
    const username = fillScheme(scheme, { orderId: requestId });
    return { match: { matchwith: MATCH_USERNAME, matchtype: MATCH_EQUALS, matchvalue: username }, accepts: (u) => u === username };
  }
  const pattern = scheme
    .split(/(\{(?:accountId|orderId|profile)\})/)
    .map((part) => (part === '{orderId}' ? escapeRegExp(requestId) : part.startsWith('{') ? '.+' : escapeRegExp(part)))
    .join('');
  const re = new RegExp(`^${pattern}$`);
  return { match: { matchwith: MATCH_USERNAME, matchtype: MATCH_CONTAINS, matchvalue: requestId }, accepts: (u) => re.test(u) };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The enrolment password of an end entity: derived, so a restarted gateway can finish an approved request. */
export function enrollmentPassword(secret: Uint8Array, username: string): string {
  return createHmac('sha256', secret).update(`ejbca-ws enrolment:${username}`).digest('base64url').slice(0, 32);
}

// ---------------------------------------------------------------- names

const normalizeIdentifier = (id: SdkIdentifier) => (id.type === 'dns' ? id.value.toLowerCase().replace(/\.$/, '') : id.value);

/** EJBCA's subjectAltName string from the order's identifiers: "dNSName=a.example, iPAddress=192.0.2.1". */
export function subjectAltName(identifiers: readonly SdkIdentifier[]): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const id of identifiers) {
    const value = normalizeIdentifier(id);
    const part = `${id.type === 'dns' ? 'dNSName' : 'iPAddress'}=${value}`;
    if (seen.has(part)) continue;
    seen.add(part);
    parts.push(part);
  }
  if (parts.length === 0) throw new ConnectorError('bad-request', 'the request names no identifier');
  return parts.join(', ');
}

/** The names a registration end entity's subjectAltName lists (dNSName and iPAddress; other fields are ignored). */
export function allowedNamesOf(san: string | undefined): string[] | undefined {
  if (san === undefined) return undefined;
  const names = san
    .split(',')
    .map((p) => /^\s*(dnsname|ipaddress)\s*=\s*(.+?)\s*$/i.exec(p)?.[2])
    .filter((v): v is string => v !== undefined && v !== '');
  return names.length > 0 ? names : undefined;
}

/**
 * The gateway's rule (src/ra/registrations.ts nameAllowed): `example.com` covers that name only,
 * `*.example.com` every name below it (any depth, wildcards included) but not example.com itself;
 * IP addresses match exactly.
 */
export function refusedIdentifiers(identifiers: readonly SdkIdentifier[], allowed: readonly string[]): SdkIdentifier[] {
  return identifiers.filter((id) => {
    const value = normalizeIdentifier(id);
    return !allowed.some((raw) => {
      const entry = raw.trim().toLowerCase().replace(/\.$/, '');
      if (entry === value) return true;
      if (id.type !== 'dns' || !entry.startsWith('*.')) return false;
      const suffix = entry.slice(1);
      const base = value.startsWith('*.') ? value.slice(1) : `.${value}`;
      return base.endsWith(suffix) && base.length > suffix.length;
    });
  });
}

const escapeDnValue = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1');

/** The issuing end entity's subject: CN= the first DNS name that fits ub-common-name (64), else the first IP, else the username. */
export function subjectDn(identifiers: readonly SdkIdentifier[], username: string): string {
  const dns = identifiers.map((i) => ({ ...i, value: normalizeIdentifier(i) })).find((i) => i.type === 'dns' && i.value.length <= 64);
  const ip = identifiers.find((i) => i.type === 'ip' && isIP(i.value) !== 0);
  return `CN=${escapeDnValue(dns?.value ?? ip?.value ?? username)}`;
}

/** EJBCA's validity override format (UserDataVOWS startTime/endTime): "yyyy-MM-dd HH:mm:ss+00:00", in UTC. */
export function ejbcaTime(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}+00:00`;
}

// ---------------------------------------------------------------- custom data

export const CUSTOM = { orderUrl: 'ACME_ORDER_URL', accountUrl: 'ACME_ACCOUNT_URL', profile: 'ACME_PROFILE', requestId: 'ACME_REQUEST_ID', csr: 'ACME_CSR', contact: 'ACME_CONTACT', thumbprint: 'ACME_JWK_THUMBPRINT' } as const;

/** What the RA officer sees on an issuing end entity: who asked (order and account URLs) and the CSR to finish with after approval. */
export function issuingCustomData(prefix: string, req: IssueRequest): { name: string; value: string }[] {
  return [
    { name: prefix + CUSTOM.orderUrl, value: req.acme.orderUrl },
    { name: prefix + CUSTOM.accountUrl, value: req.acme.accountUrl },
    { name: prefix + CUSTOM.profile, value: req.acme.profile },
    { name: prefix + CUSTOM.requestId, value: req.requestId },
    { name: prefix + CUSTOM.csr, value: Buffer.from(req.csr).toString('base64') },
  ];
}

export function registrationCustomData(prefix: string, account: AccountSummary): { name: string; value: string }[] {
  const data = [
    { name: prefix + CUSTOM.accountUrl, value: account.accountUrl },
    { name: prefix + CUSTOM.profile, value: account.profile },
    { name: prefix + CUSTOM.thumbprint, value: account.jwkThumbprint },
  ];
  if (account.contact.length > 0) data.push({ name: prefix + CUSTOM.contact, value: account.contact.join(', ') });
  return data;
}

/** The CSR kept in an issuing end entity's custom data, if EJBCA returned it. */
export function storedCsr(prefix: string, ext: readonly { name: string; value: string }[]): Uint8Array | undefined {
  const value = ext.find((e) => e.name === prefix + CUSTOM.csr)?.value;
  if (value === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  return new Uint8Array(Buffer.from(value, 'base64'));
}

// ---------------------------------------------------------------- certificates

const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}\s*$/;

/**
 * A certificateData / certificateResponse.data field: xs:base64Binary whose decoded bytes are the
 * base64 text of the DER (NOTES.md: "base64 twice"). A field holding the DER directly is taken too.
 */
export function decodeCertificateData(field: string): Uint8Array {
  if (!BASE64.test(field)) throw new ConnectorError('unavailable', 'EJBCA sent certificate data that is not base64');
  const once = Buffer.from(field, 'base64');
  const text = once.toString('latin1');
  const der = BASE64.test(text) ? Buffer.from(text, 'base64') : once;
  if (der[0] !== 0x30) throw new ConnectorError('unavailable', 'EJBCA sent certificate data that is not a DER certificate');
  return new Uint8Array(der);
}

/** EJBCA's attribute names for @peculiar/x509's JSON names. */
const EJBCA_ATTRS: Record<string, string> = { SN: 'SURNAME', G: 'GIVENNAME', I: 'INITIALS', '2.5.4.5': 'SN', '0.9.2342.19200300.100.1.1': 'UID' };

/** A Name as EJBCA writes DNs: most specific first (the reverse of the ASN.1 order), comma-separated, no spaces. */
export function ejbcaDn(name: x509.Name): string {
  return name
    .toJSON()
    .slice()
    .reverse()
    .map((rdn) => Object.entries(rdn).map(([type, values]) => values.map((v) => `${EJBCA_ATTRS[type] ?? type}=${escapeDnValue(v)}`).join('+')).join('+'))
    .join(',');
}

export interface ParsedCertificate {
  cert: x509.X509Certificate;
  der: Uint8Array;
  pem: string;
  /** Lower-case hex of the serial, as the DER INTEGER holds it. */
  serial: string;
  /** The issuer DN in EJBCA's form: what revokeCert and checkRevokationStatus take. */
  issuerDn: string;
  subjectDn: string;
}

export function parseCertificate(der: Uint8Array): ParsedCertificate {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch (cause) {
    throw new ConnectorError('unavailable', 'EJBCA sent bytes that do not parse as an X.509 certificate', { cause });
  }
  return { cert, der, pem: cert.toString('pem'), serial: cert.serialNumber.toLowerCase(), issuerDn: ejbcaDn(cert.issuerName), subjectDn: ejbcaDn(cert.subjectName) };
}

/**
 * The chain for a leaf from getLastCAChain's answer (issuing CA first): the leaf must be signed by
 * the first certificate. Returned without a self-signed root, as SDK Issued.chainPem wants.
 * undefined when the leaf does not chain (the caller fetches the chain again once).
 */
export async function chainFor(leaf: ParsedCertificate, chain: readonly ParsedCertificate[]): Promise<string[] | undefined> {
  const [issuing] = chain;
  if (!issuing || issuing.subjectDn !== leaf.issuerDn) return undefined;
  const signed = await leaf.cert.verify({ publicKey: issuing.cert.publicKey, signatureOnly: true }).catch(() => false);
  if (!signed) return undefined;
  const withoutRoot = chain.filter((c, i) => i === 0 || c.subjectDn !== ejbcaDn(c.cert.issuerName));
  return withoutRoot.map((c) => c.pem);
}

// ---------------------------------------------------------------- errors

const BAD_REQUEST_CODES = new Set(['ILLEGAL_KEY', 'INVALID_KEY', 'INVALID_KEY_SPEC', 'BAD_REQUEST_SIGNATURE', 'SIGNATURE_ERROR', 'CERT_REQ_INVALID', 'FIELD_VALUE_NOT_VALID', 'CERT_COULD_NOT_BE_PARSED']);
const MISCONFIGURED_CODES = new Set(['CA_NOT_EXISTS', 'EE_PROFILE_NOT_EXISTS', 'CERT_PROFILE_NOT_EXISTS', 'CA_OFFLINE', 'LOGIN_ERROR', 'AUTH_CERT_NOT_RECEIVED', 'NOT_SUPPORTED_REQUEST_TYPE', 'NOT_SUPPORTED_RESPONSE_TYPE', 'NOT_AUTHORIZED']);

export interface ErrorContext {
  identifiers?: readonly SdkIdentifier[];
  ticket?: string;
  approvalRetryAfterSeconds?: number;
}

/** Identifiers a UserDoesntFullfillEndEntityProfile message names; all of them when it names none. */
function namedIdentifiers(message: string, identifiers: readonly SdkIdentifier[]): SdkIdentifier[] {
  const lower = message.toLowerCase();
  const named = identifiers.filter((i) => lower.includes(normalizeIdentifier(i)));
  return named.length > 0 ? named : [...identifiers];
}

/** The one place an EJBCA failure becomes a ConnectorError (NOTES.md §2.4: the ACME mapping). */
export function toConnectorError(e: unknown, ctx: ErrorContext = {}): ConnectorError {
  if (e instanceof ConnectorError) return e;
  const withTicket = ctx.ticket === undefined ? {} : { ticket: ctx.ticket };
  if (e instanceof EjbcaWsTransportError) {
    const where = `EJBCA ${e.operation}`;
    switch (e.kind) {
      case 'timeout':
        return new ConnectorError('timeout', `${where} did not answer before the deadline`, { ...withTicket, cause: e });
      case 'connection':
        return new ConnectorError('unavailable', `${where}: cannot reach EJBCA (${e.code ?? 'connection failed'})`, { ...withTicket, cause: e });
      case 'tls':
        return new ConnectorError('misconfigured', `${where}: TLS with EJBCA failed; check clientCert, clientKey and caCert (${e.code ?? ''})`, { ...withTicket, cause: e });
      case 'http':
        return e.status !== undefined && e.status >= 500
          ? new ConnectorError('unavailable', `${where}: HTTP ${e.status} from EJBCA`, { ...withTicket, cause: e })
          : new ConnectorError('misconfigured', `${where}: HTTP ${e.status ?? '?'} from EJBCA; is the Web Service protocol enabled and the url right?`, { ...withTicket, cause: e });
      case 'protocol':
        return new ConnectorError('unavailable', `${where}: ${e.message}`, { ...withTicket, cause: e });
    }
  }
  if (e instanceof EjbcaWsFault) {
    const msg = `EJBCA ${e.operation}: ${e.element ?? 'SOAP fault'}${e.errorCode ? ` ${e.errorCode}` : ''}: ${e.message}`;
    switch (e.element) {
      case 'WaitingForApprovalException':
        return new ConnectorError('pending-approval', `EJBCA queued ${e.operation} for approval (request ${e.requestId ?? '?'})`, {
          ...(e.requestId !== undefined ? { ticket: e.requestId } : withTicket),
          retryAfterSeconds: ctx.approvalRetryAfterSeconds ?? 60,
          cause: e,
        });
      case 'ApprovalException':
        // An approval request for the same action exists already: still pending (NOTES.md §2.4).
        return new ConnectorError('pending-approval', `${msg} (an approval request for it is already waiting)`, { ...withTicket, retryAfterSeconds: ctx.approvalRetryAfterSeconds ?? 60, cause: e });
      case 'ApprovalRequestExpiredException':
        return new ConnectorError('rejected', `EJBCA approval request ${ctx.ticket ?? ''} expired`.replace('  ', ' '), { ...withTicket, cause: e });
      case 'UserDoesntFullfillEndEntityProfile':
        return new ConnectorError('rejected', msg, { ...withTicket, ...(ctx.identifiers ? { identifiers: namedIdentifiers(e.message, ctx.identifiers) } : {}), cause: e });
      case 'AuthorizationDeniedException':
        return new ConnectorError('unauthorized', msg, { ...withTicket, cause: e });
      case 'AlreadyRevokedException':
        return new ConnectorError('already-revoked', msg, { ...withTicket, cause: e });
      case 'NotFoundException':
        return new ConnectorError('not-found', msg, { ...withTicket, cause: e });
      case 'CADoesntExistsException':
      case 'EndEntityProfileNotFoundException':
      case 'CertificateProfileDoesNotExistException':
      case 'IllegalQueryException':
      case 'UnknownProfileTypeException': // getProfile with a type other than "eep" or "cp"
        return new ConnectorError('misconfigured', msg, { ...withTicket, cause: e });
      case 'EjbcaException':
      case 'CesecoreException':
        if (e.errorCode === 'USER_NOT_FOUND') return new ConnectorError('not-found', msg, { ...withTicket, cause: e });
        if (e.errorCode !== undefined && BAD_REQUEST_CODES.has(e.errorCode)) return new ConnectorError('bad-request', msg, { ...withTicket, cause: e });
        if (e.errorCode !== undefined && MISCONFIGURED_CODES.has(e.errorCode)) return new ConnectorError('misconfigured', msg, { ...withTicket, cause: e });
        return new ConnectorError('unavailable', msg, { ...withTicket, cause: e });
      default:
        // No (known) detail: soap:Client means our request did not fit this server, soap:Server an EJBCA in trouble.
        return /client/i.test(e.faultcode)
          ? new ConnectorError('misconfigured', msg, { ...withTicket, cause: e })
          : new ConnectorError('unavailable', msg, { ...withTicket, cause: e });
    }
  }
  return new ConnectorError('unavailable', `EJBCA call failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`, { ...withTicket, cause: e });
}

/** True for the fault EJBCA gives a certificate request on an end entity that is not NEW (e.g. already GENERATED). */
export const isWrongStatus = (e: unknown): boolean => e instanceof EjbcaWsFault && e.errorCode === 'USER_WRONG_STATUS';
