/**
 * The connector SDK: what every backend (built-in CA, EJBCA, cfssl, ...) implements.
 * Self-contained: it imports nothing from the rest of the gateway except zod types, so a
 * connector outside this repository can depend on it alone. A connector never sees Koa,
 * HTTP requests or ACME problem documents.
 */
import type { ZodType } from 'zod';

export interface SdkIdentifier {
  type: 'dns' | 'ip';
  value: string;
}

/** RFC 5280 §5.3.1 CRLReason code. */
export type SdkRevocationReason = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 8 | 9 | 10;

/** Where the certificate comes from in the backend: the profile's issuing template and fixed attributes. */
export interface TemplateRef {
  /** The template's name in the backend (a certificate profile, a cfssl profile, ...). */
  name: string;
  /** Fixed issuance attributes from config (CA name, end entity profile, key usages, ...). */
  attributes: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

/** A registration (end entity) in the legacy system that an ACME account maps to. */
export interface RegistrationRef {
  id: string;
}

/** The ACME side of the request, so the backend can record who asked. */
export interface AcmeContext {
  accountId: string;
  accountUrl: string;
  orderId: string;
  orderUrl: string;
  profile: string;
}

export interface IssueRequest {
  /** Idempotency key (the order id): the same id yields the same certificate, never a second one. */
  requestId: string;
  template: TemplateRef;
  /** DER PKCS#10, already checked by the gateway (signature, names, key type). */
  csr: Uint8Array;
  identifiers: readonly SdkIdentifier[];
  registration?: RegistrationRef;
  /** Omitted: the template decides. */
  validity?: { notBefore: Date; notAfter: Date };
  acme: AcmeContext;
}

export interface Issued {
  /** Lower-case hex, no leading zeros stripped beyond what the DER INTEGER holds. */
  serial: string;
  /** Issuer DN as RFC 4514 text. */
  issuer: string;
  leafPem: string;
  /** Intermediates up to (not necessarily including) the root, leaf excluded. */
  chainPem: string[];
}

export interface RequestRef {
  requestId: string;
  /** The backend's own id for a pending request, from ConnectorError info.ticket. */
  ticket?: string;
  /**
   * The DER CSR of the original request, when the caller still has it. A backend that approves the
   * registration step but needs the CSR again to finish (EJBCA: pkcs10Request after an approved
   * editUser) uses it; connectors that keep the request themselves ignore it.
   */
  csr?: Uint8Array;
}

export interface RevokeRequest {
  serial: string;
  issuer: string;
  reason: SdkRevocationReason;
}

export interface Connector {
  /** "embedded", "ejbca-ws", "cfssl", ... */
  readonly type: string;
  /** Issue a certificate. Resolves with it, or throws ConnectorError (pending-approval, rejected, ...). */
  issue(req: IssueRequest, signal: AbortSignal): Promise<Issued>;
  /** Poll or reconcile a request made earlier with issue(); same outcomes as issue(). */
  status(ref: RequestRef, signal: AbortSignal): Promise<Issued>;
  /** Revoke in the backend so its publishing and OCSP see it. Throws already-revoked, not-found. */
  revoke(req: RevokeRequest, signal: AbortSignal): Promise<void>;
  /** Release sockets and timers; called once at shutdown. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- optional capabilities

export interface AccountSummary {
  accountId: string;
  accountUrl: string;
  profile: string;
  contact: readonly string[];
  jwkThumbprint: string;
}

export interface RegistrationState {
  enabled: boolean;
  /** Names and wildcards (`*.example.com`) the registration may order; undefined: no limit. */
  allowedNames?: readonly string[];
}

/** A connector whose backend keeps registrations that ACME accounts map to. */
export interface RegistrationSync {
  /** Called at newAccount on an `open` profile: creates (or finds) the account's registration. */
  ensureRegistration(account: AccountSummary, signal: AbortSignal): Promise<RegistrationRef>;
  /** Called on requests, behind a cache: is the registration enabled, and what may it order. */
  registration(ref: RegistrationRef, signal: AbortSignal): Promise<RegistrationState>;
}

export interface CertificateStatus {
  revoked: boolean;
  reason?: SdkRevocationReason;
  revokedAt?: Date;
}

/** A connector that can say whether a certificate was revoked in the backend (ARI, RFC 9773). */
export interface RevocationStatusSource {
  certificateStatus(serial: string, issuer: string, signal: AbortSignal): Promise<CertificateStatus>;
}

export interface TemplateInfo {
  name: string;
  keyTypes?: readonly string[];
  maxValiditySeconds?: number;
}

export interface TemplateCatalog {
  templates(signal: AbortSignal): Promise<TemplateInfo[]>;
}

export interface ProxyUpstream {
  prefix: string;
  target: string;
  methods: readonly string[];
}

export interface ProxyUpstreams {
  upstreams(): ProxyUpstream[];
}

/** A connector that publishes a CRL itself (the built-in CA). */
export interface CrlPublisher {
  /** DER-encoded X.509 CRL, current as of now. */
  crl(signal: AbortSignal): Promise<Uint8Array>;
}

/** A connector that answers OCSP itself (RFC 6960), like the built-in CA. */
export interface OcspResponder {
  /**
   * Called with the DER OCSPRequest of a GET or POST (RFC 6960 Appendix A.1). Resolves with a DER
   * OCSPResponse for every request, including the unsigned error statuses (malformedRequest,
   * unauthorized, ...), which the HTTP layer sends with status 200 like any other. Throws
   * ConnectorError only when it cannot answer at all (closed, aborted).
   */
  ocsp(requestDer: Uint8Array, signal: AbortSignal): Promise<Uint8Array>;
}

/** The CA certificates a client should trust for certificates of this connector. */
export interface TrustAnchors {
  caCertificatesPem(): string[];
}

export interface Health {
  ok: boolean;
  detail?: string;
}

export interface HealthProbe {
  health(signal: AbortSignal): Promise<Health>;
}

// Type guards: capabilities are found by shape, never by optional methods that throw.
export const hasRegistrationSync = (c: Connector): c is Connector & RegistrationSync =>
  typeof (c as Partial<RegistrationSync>).ensureRegistration === 'function' &&
  typeof (c as Partial<RegistrationSync>).registration === 'function';
export const hasRevocationStatus = (c: Connector): c is Connector & RevocationStatusSource =>
  typeof (c as Partial<RevocationStatusSource>).certificateStatus === 'function';
export const hasTemplateCatalog = (c: Connector): c is Connector & TemplateCatalog =>
  typeof (c as Partial<TemplateCatalog>).templates === 'function';
export const hasProxyUpstreams = (c: Connector): c is Connector & ProxyUpstreams =>
  typeof (c as Partial<ProxyUpstreams>).upstreams === 'function';
export const hasCrlPublisher = (c: Connector): c is Connector & CrlPublisher =>
  typeof (c as Partial<CrlPublisher>).crl === 'function';
export const hasOcspResponder = (c: Connector): c is Connector & OcspResponder =>
  typeof (c as Partial<OcspResponder>).ocsp === 'function';
export const hasTrustAnchors = (c: Connector): c is Connector & TrustAnchors =>
  typeof (c as Partial<TrustAnchors>).caCertificatesPem === 'function';
export const hasHealthProbe = (c: Connector): c is Connector & HealthProbe =>
  typeof (c as Partial<HealthProbe>).health === 'function';

// ---------------------------------------------------------------- factories

/** Structural logger and clock, so the gateway's implementations fit without an import. */
export interface SdkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
export interface SdkClock {
  now(): Date;
}
export interface SdkRandom {
  bytes(n: number): Uint8Array;
}

export interface ConnectorDeps {
  log: SdkLogger;
  clock: SdkClock;
  random: SdkRandom;
  /** The gateway's data directory; a connector that keeps files keeps them below `${dataDir}/connectors/<name>`. */
  dataDir: string;
  /** The connector's name in config (`connectors.<name>`). */
  name: string;
  /** The gateway's public base URL, for AIA and CRL distribution points. */
  baseUrl: () => string;
}

export interface ConnectorFactory<C> {
  type: string;
  /** Checks the connector's config section at startup; problems are reported with their key path. */
  configSchema: ZodType<C>;
  create(config: C, deps: ConnectorDeps): Promise<Connector>;
}
