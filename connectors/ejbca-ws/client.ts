/**
 * The only file that touches `soap`: a minimal typed interface over the EJBCA web-service
 * operations the connector uses, over mutual TLS, with a deadline on every call and retries for
 * connection errors. Replies are `unknown` until checked here; failures leave as EjbcaWsFault (a
 * SOAP fault, named by its WSDL fault element) or EjbcaWsTransportError (everything below SOAP).
 * Turning those into ConnectorErrors is mapping.ts's job.
 */
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import soap from 'soap';
import { z, type SdkLogger } from '../../src/sdk/index.js';

/** ejbcaws.wsdl userDataVOWS. Optional fields are left out, never sent as nil (NOTES.md §2.1). */
export interface UserDataWs {
  username: string;
  password?: string;
  clearPwd: boolean;
  caName: string;
  certificateProfileName: string;
  endEntityProfileName: string;
  subjectDN: string;
  subjectAltName?: string;
  email?: string;
  /** EndEntityConstants: NEW=10, GENERATED=40, REVOKED=50, HISTORICAL=60, … */
  status: number;
  tokenType: string;
  keyRecoverable: boolean;
  sendNotification: boolean;
  startTime?: string;
  endTime?: string;
  extendedInformation: { name: string; value: string }[];
}

/** ejbcaws.wsdl userMatch: matchwith USERNAME=0 …, matchtype EQUALS=0, BEGINSWITH=1, CONTAINS=2. */
export interface UserMatchWs {
  matchwith: number;
  matchtype: number;
  matchvalue: string;
}

export interface RevokeStatusWs {
  certificateSN?: string;
  issuerDN?: string;
  /** -1: not revoked; otherwise the RFC 5280 reason code. */
  reason: number;
  revocationDate?: Date;
}

/** ejbcaws.wsdl nameAndId: an end entity or certificate profile (or CA) by id and name. */
export interface NameAndIdWs {
  id: number;
  name: string;
}

export interface EjbcaWsClient {
  editUser(user: UserDataWs, signal: AbortSignal): Promise<void>;
  /** At most 100 end entities; an empty list when none match. */
  findUser(match: UserMatchWs, signal: AbortSignal): Promise<UserDataWs[]>;
  /** ejbcaws.wsdl pkcs10Request(arg0 username, arg1 password, arg2 pkcs10, arg4 "CERTIFICATE"): certificateResponse.data as sent. */
  pkcs10Request(username: string, password: string, pkcs10Base64: string, signal: AbortSignal): Promise<string>;
  /** certificate.certificateData fields as sent (base64 of the base64 text of the DER). */
  findCerts(username: string, onlyValid: boolean, signal: AbortSignal): Promise<string[]>;
  /** The issuing CA first, then its parents; certificateData fields as sent. */
  getLastCAChain(caName: string, signal: AbortSignal): Promise<string[]>;
  revokeCert(issuerDn: string, serialHex: string, reason: number, signal: AbortSignal): Promise<void>;
  /** undefined: EJBCA does not know the certificate. */
  checkRevokationStatus(issuerDn: string, serialHex: string, signal: AbortSignal): Promise<RevokeStatusWs | undefined>;
  /** >0 approvals still needed, 0 approved, <0 rejected or expired (ApprovalDataVO states). */
  getRemainingNumberOfApprovals(requestId: number, signal: AbortSignal): Promise<number>;
  getEjbcaVersion(signal: AbortSignal): Promise<string>;
  /** The end entity profiles the administrator may create end entities in. */
  getAuthorizedEndEntityProfiles(signal: AbortSignal): Promise<NameAndIdWs[]>;
  /** The certificate profiles an end entity profile offers; empty for an unknown profile id. */
  getAvailableCertificateProfiles(endEntityProfileId: number, signal: AbortSignal): Promise<NameAndIdWs[]>;
  /** getProfile(arg0 id, arg1 "eep" | "cp"): the profile as XML, the xs:base64Binary field as sent. */
  getProfile(profileId: number, profileType: 'eep' | 'cp', signal: AbortSignal): Promise<string>;
  close(): Promise<void>;
}

/** A SOAP fault. `element` is the WSDL fault element in `detail` (WaitingForApprovalException, …), if any. */
export class EjbcaWsFault extends Error {
  override readonly name = 'EjbcaWsFault';
  constructor(
    readonly operation: string,
    readonly faultcode: string,
    message: string,
    readonly element?: string,
    readonly errorCode?: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

export type TransportKind =
  | 'connection' // refused, reset, unreachable, DNS: the server was not reached or dropped us
  | 'tls' // handshake or certificate problem: our trust or our client certificate
  | 'http' // an HTTP status without a SOAP envelope (proxy error page, protocol switched off)
  | 'protocol' // an answer that is not the SOAP we expect
  | 'timeout'; // the caller's deadline or timeoutMs passed

export class EjbcaWsTransportError extends Error {
  override readonly name = 'EjbcaWsTransportError';
  constructor(
    readonly operation: string,
    readonly kind: TransportKind,
    message: string,
    readonly status?: number,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ClientOptions {
  url: string;
  wsdlPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  clientKeyPassphrase?: string;
  caCertPath: string;
  timeoutMs: number;
  retries: number;
  retryBackoffMs: number;
  log: SdkLogger;
}

// ---------------------------------------------------------------- reply shapes

const text = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const int = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform(Number);
const bool = z.union([z.boolean(), z.enum(['true', 'false'])]).transform((v) => v === true || v === 'true');
const many = <T extends z.ZodType>(item: T) => z.union([z.array(item), item.transform((v) => [v])]).optional().transform((v) => v ?? []);

const UserDataReply = z.object({
  username: text,
  password: text.optional(),
  clearPwd: bool.optional().default(false),
  caName: text.optional().default(''),
  certificateProfileName: text.optional().default(''),
  endEntityProfileName: text.optional().default(''),
  subjectDN: text.optional().default(''),
  subjectAltName: text.optional(),
  email: text.optional(),
  status: int,
  tokenType: text.optional().default('USERGENERATED'),
  keyRecoverable: bool.optional().default(false),
  sendNotification: bool.optional().default(false),
  startTime: text.optional(),
  endTime: text.optional(),
  extendedInformation: many(z.object({ name: text.optional().default(''), value: text.optional().default('') })),
});
const Envelope = <T extends z.ZodType>(ret: T) => z.object({ return: ret }).nullish();
const CertificateReply = z.object({ certificateData: z.string() });
const NameAndIdReply = z.object({ id: int, name: text.optional().default('') });
const FaultShape = z.object({
  faultcode: text.optional().default('soap:Server'),
  faultstring: text.optional().default(''),
  detail: z.record(z.string(), z.unknown()).optional(),
});
const DetailShape = z.object({ message: text.optional(), requestId: text.optional(), errorCode: z.object({ internalErrorCode: text.optional() }).optional() });

// ---------------------------------------------------------------- errors

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

function field(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const k of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

/** What soap/axios threw, as a typed error. Exported for the unit tests. */
export function classify(operation: string, e: unknown, signal: AbortSignal): EjbcaWsFault | EjbcaWsTransportError {
  if (e instanceof EjbcaWsFault || e instanceof EjbcaWsTransportError) return e;
  if (signal.aborted) return new EjbcaWsTransportError(operation, 'timeout', `${operation}: no answer before the deadline`, undefined, undefined, { cause: e });
  const fault = FaultShape.safeParse(field(e, 'root', 'Envelope', 'Body', 'Fault'));
  if (fault.success && field(e, 'root', 'Envelope', 'Body', 'Fault') !== undefined) {
    const [element, body] = Object.entries(fault.data.detail ?? {})[0] ?? [];
    const d = DetailShape.safeParse(body ?? {});
    const detail = d.success ? d.data : {};
    return new EjbcaWsFault(operation, fault.data.faultcode, detail.message ?? fault.data.faultstring, element, detail.errorCode?.internalErrorCode, detail.requestId);
  }
  const code = String(field(e, 'code') ?? '');
  const message = e instanceof Error ? e.message : String(e);
  const status = Number(field(e, 'response', 'status'));
  if (Number.isInteger(status) && status >= 300) return new EjbcaWsTransportError(operation, 'http', `${operation}: HTTP ${status} without a SOAP answer`, status, code, { cause: e });
  if (REFUSED.has(code) || DROPPED.has(code) || /socket hang up/i.test(message)) return new EjbcaWsTransportError(operation, 'connection', `${operation}: ${code || message}`, undefined, code || 'ECONNRESET', { cause: e });
  if (/^ERR_SSL|^ERR_TLS|CERT|SELF_SIGNED|UNABLE_TO/.test(code)) return new EjbcaWsTransportError(operation, 'tls', `${operation}: TLS failed (${code}): ${message}`, undefined, code, { cause: e });
  if (code === 'ERR_CANCELED') return new EjbcaWsTransportError(operation, 'timeout', `${operation}: cancelled`, undefined, code, { cause: e });
  return new EjbcaWsTransportError(operation, 'protocol', `${operation}: ${message}`, undefined, code || undefined, { cause: e });
}

/** Resending is safe when the request surely never left, or when the operation is idempotent. */
function retryable(err: EjbcaWsFault | EjbcaWsTransportError, idempotent: boolean): boolean {
  if (!(err instanceof EjbcaWsTransportError) || err.kind !== 'connection') return false;
  return idempotent || REFUSED.has(err.code ?? '');
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---------------------------------------------------------------- the client

/** Loads the WSDL and the TLS material; no network call. */
export async function createEjbcaWsClient(o: ClientOptions): Promise<EjbcaWsClient> {
  const [cert, key, ca] = await Promise.all([readFile(o.clientCertPath), readFile(o.clientKeyPath), readFile(o.caCertPath)]);
  // One agent for every call: keep-alive saves a TLS handshake per operation; idle sockets close after 5 s.
  const agent = new https.Agent({ cert, key, ca, keepAlive: true, timeout: 5_000, ...(o.clientKeyPassphrase ? { passphrase: o.clientKeyPassphrase } : {}) });
  // NOTES.md: "Always override the endpoint": the WSDL names the lab host it was saved from.
  const client = await soap.createClientAsync(o.wsdlPath, { endpoint: o.url });
  const methods = client as unknown as Record<string, unknown>;

  async function call(operation: string, args: object, signal: AbortSignal, idempotent: boolean): Promise<unknown> {
    const method = methods[`${operation}Async`];
    if (typeof method !== 'function') throw new EjbcaWsTransportError(operation, 'protocol', `the WSDL has no operation ${operation}`);
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]);
    for (let attempt = 0; ; attempt++) {
      try {
        const reply: unknown = await (method as (a: object, opts: object) => Promise<unknown>).call(client, args, { httpsAgent: agent, signal: deadline });
        return Array.isArray(reply) ? reply[0] : undefined;
      } catch (e) {
        const err = classify(operation, e, deadline);
        if (attempt >= o.retries || deadline.aborted || !retryable(err, idempotent)) throw err;
        const waitMs = o.retryBackoffMs * 2 ** attempt;
        o.log.warn({ operation, attempt: attempt + 1, waitMs, code: err instanceof EjbcaWsTransportError ? err.code : undefined }, 'EJBCA connection failed; retrying');
        await pause(waitMs, deadline);
      }
    }
  }

  function parse<T extends z.ZodType>(operation: string, schema: T, reply: unknown): z.output<T> {
    const r = schema.safeParse(reply);
    if (!r.success) throw new EjbcaWsTransportError(operation, 'protocol', `${operation}: unexpected reply shape: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return r.data;
  }

  const certificates = (operation: string, reply: unknown) => parse(operation, Envelope(many(CertificateReply)), reply)?.return.map((c) => c.certificateData) ?? [];

  return {
    async editUser(user, signal) {
      const { extendedInformation, ...rest } = user;
      // soap puts fields into xs:sequence order itself; an empty list is left out entirely.
      await call('editUser', { arg0: { ...rest, ...(extendedInformation.length > 0 ? { extendedInformation } : {}) } }, signal, true);
    },
    async findUser(match, signal) {
      const reply = await call('findUser', { arg0: match }, signal, true);
      return (parse('findUser', Envelope(many(UserDataReply)), reply)?.return ?? []).map((u) => dropUndefined(u));
    },
    async pkcs10Request(username, password, pkcs10Base64, signal) {
      const reply = await call('pkcs10Request', { arg0: username, arg1: password, arg2: pkcs10Base64, arg4: 'CERTIFICATE' }, signal, false);
      const data = parse('pkcs10Request', Envelope(z.object({ data: z.string(), responseType: text.optional() })), reply)?.return.data;
      if (data === undefined) throw new EjbcaWsTransportError('pkcs10Request', 'protocol', 'pkcs10Request: the reply has no certificate data');
      return data;
    },
    async findCerts(username, onlyValid, signal) {
      return certificates('findCerts', await call('findCerts', { arg0: username, arg1: onlyValid }, signal, true));
    },
    async getLastCAChain(caName, signal) {
      return certificates('getLastCAChain', await call('getLastCAChain', { arg0: caName }, signal, true));
    },
    async revokeCert(issuerDn, serialHex, reason, signal) {
      await call('revokeCert', { arg0: issuerDn, arg1: serialHex, arg2: reason }, signal, false);
    },
    async checkRevokationStatus(issuerDn, serialHex, signal) {
      const reply = await call('checkRevokationStatus', { arg0: issuerDn, arg1: serialHex }, signal, true);
      const shape = z.object({ certificateSN: text.optional(), issuerDN: text.optional(), reason: int, revocationDate: z.union([z.date(), z.string()]).optional() });
      const status = parse('checkRevokationStatus', Envelope(shape), reply)?.return;
      if (status === undefined) return undefined;
      const date = status.revocationDate === undefined ? undefined : new Date(status.revocationDate);
      return dropUndefined({ ...status, revocationDate: date && !Number.isNaN(date.getTime()) ? date : undefined });
    },
    async getRemainingNumberOfApprovals(requestId, signal) {
      const reply = await call('getRemainingNumberOfApprovals', { arg0: requestId }, signal, true);
      const r = parse('getRemainingNumberOfApprovals', Envelope(int), reply);
      if (r === undefined || r === null) throw new EjbcaWsTransportError('getRemainingNumberOfApprovals', 'protocol', 'getRemainingNumberOfApprovals: empty reply');
      return r.return;
    },
    async getEjbcaVersion(signal) {
      return parse('getEjbcaVersion', Envelope(text), await call('getEjbcaVersion', {}, signal, true))?.return ?? '';
    },
    async getAuthorizedEndEntityProfiles(signal) {
      const reply = await call('getAuthorizedEndEntityProfiles', {}, signal, true);
      return parse('getAuthorizedEndEntityProfiles', Envelope(many(NameAndIdReply)), reply)?.return ?? [];
    },
    async getAvailableCertificateProfiles(endEntityProfileId, signal) {
      const reply = await call('getAvailableCertificateProfiles', { arg0: endEntityProfileId }, signal, true);
      return parse('getAvailableCertificateProfiles', Envelope(many(NameAndIdReply)), reply)?.return ?? [];
    },
    async getProfile(profileId, profileType, signal) {
      const reply = await call('getProfile', { arg0: profileId, arg1: profileType }, signal, true);
      const data = parse('getProfile', Envelope(z.string()), reply)?.return;
      if (data === undefined) throw new EjbcaWsTransportError('getProfile', 'protocol', `getProfile: no profile in the reply for ${profileType} ${profileId}`);
      return data;
    },
    async close() {
      agent.destroy();
    },
  };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
