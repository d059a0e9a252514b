/**
 * The built-in CA connector: issues from a local two-level CA, keeps its own records in SQLite,
 * publishes a CRL and its CA certificates. The default backend of a fresh installation.
 */
import {
  ConnectorError,
  type CertificateStatus,
  type Connector,
  type ConnectorDeps,
  type ConnectorFactory,
  type CrlPublisher,
  type Health,
  type HealthProbe,
  type IssueRequest,
  type Issued,
  type OcspResponder,
  type RequestRef,
  type RevocationStatusSource,
  type RevokeRequest,
  type TrustAnchors,
} from '../../src/sdk/index.js';
import { mkdir } from 'node:fs/promises';
import { caDirectory, loadOrCreateCa, signCrl, type CertificateAuthority } from './ca.js';
import { signLeaf } from './leaf.js';
import { EmbeddedConfigSchema, type EmbeddedConfig } from './config.js';
import { canonicalDn, extendedKeyUsages, normalizeSerial, parseCsr, randomSerial, subjectNames } from './mapping.js';
import { EmbeddedStore, SerialTakenError, type IssuedRecord } from './store.js';
import { answerOcsp } from './ocsp.js';
import { createOcspSigner, loadOrCreateOcspSigner, needsRenewal, type OcspSigner } from './ocsp-signer.js';

export { EmbeddedConfigSchema, CA_KEY_TYPES, type EmbeddedConfig, type CaKeyType } from './config.js';
export {
  CA_FILES,
  caDirectory,
  trustBundlePath,
  issueServerCertificate,
  loadOrCreateCa,
  type CaSettings,
  type CertificateAuthority,
} from './ca.js';

/** HTTP path of the issuing CA's CRL (DER, application/pkix-crl), as named in every leaf's CRLDP. */
export const crlPath = (name: string): string => `/crl/${name}.crl`;
/**
 * HTTP path of the OCSP responder, as named in every leaf's AIA (RFC 6960 Appendix A.1): POST a
 * DER OCSPRequest to it, or GET `${ocspPath(name)}/{url-encoded base64 request}`.
 */
export const ocspPath = (name: string): string => `/ocsp/${name}`;
/** HTTP path of the issuing CA certificate (DER, application/pkix-cert), as named in every leaf's AIA. */
export const caIssuersPath = (name: string): string => `/ca/${name}/issuing.crt`;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const SERIAL_ATTEMPTS = 4;

export type EmbeddedConnector = Connector & CrlPublisher & TrustAnchors & HealthProbe & RevocationStatusSource & OcspResponder;

function checkSignal(signal: AbortSignal, op: string): void {
  if (signal.aborted) throw new ConnectorError('timeout', `${op} was aborted before it ran`, { cause: signal.reason });
}

class Embedded implements EmbeddedConnector {
  readonly type = 'embedded';
  private crlCache?: { version: string; refreshAt: number; der: Uint8Array };
  private crlInFlight?: { version: string; der: Promise<Uint8Array> };
  private renewing?: Promise<OcspSigner>;
  private renewFailedAt?: number;

  constructor(
    private readonly config: EmbeddedConfig,
    private readonly deps: ConnectorDeps,
    private readonly ca: CertificateAuthority,
    private readonly store: EmbeddedStore,
    private ocspSigner: OcspSigner,
  ) {}

  private get issuer(): string {
    return this.ca.issuing.cert.subject;
  }

  private issued(rec: IssuedRecord): Issued {
    return { serial: rec.serial, issuer: this.issuer, leafPem: rec.pem, chainPem: [this.ca.issuing.pem] };
  }

  private openStore(): EmbeddedStore {
    if (!this.store.isOpen) throw new ConnectorError('unavailable', 'embedded CA connector is closed');
    return this.store;
  }

  private ours(serial: string, issuer: string): IssuedRecord {
    const rec = this.openStore().bySerial(normalizeSerial(serial));
    if (rec === undefined || canonicalDn(issuer) !== this.issuer) {
      throw new ConnectorError('not-found', `no certificate with serial ${serial} from "${issuer}" in embedded CA ${this.deps.name}`);
    }
    return rec;
  }

  private urls(): { caIssuersUrl: string; crlUrl: string; ocspUrl: string } {
    const base = this.deps.baseUrl().replace(/\/+$/, '');
    const name = this.deps.name;
    return { caIssuersUrl: base + caIssuersPath(name), crlUrl: base + crlPath(name), ocspUrl: base + ocspPath(name) };
  }

  private validity(req: IssueRequest): { notBefore: Date; notAfter: Date } {
    if (req.validity !== undefined) {
      const { notBefore, notAfter } = req.validity;
      if (!(notBefore.getTime() < notAfter.getTime())) {
        throw new ConnectorError('bad-request', `notBefore ${notBefore.toISOString()} is not before notAfter ${notAfter.toISOString()}`);
      }
      return { notBefore, notAfter };
    }
    const now = this.deps.clock.now();
    return { notBefore: now, notAfter: new Date(now.getTime() + this.config.defaultValidityDays * DAY_MS) };
  }

  async issue(req: IssueRequest, signal: AbortSignal): Promise<Issued> {
    checkSignal(signal, 'issue');
    // Same request id, same certificate: checked before the CSR, which a retry need not resend intact.
    const earlier = this.openStore().byRequestId(req.requestId);
    if (earlier !== undefined) return this.issued(earlier);

    const { spki, key } = parseCsr(req.csr);
    const names = subjectNames(req.identifiers);
    const ekus = extendedKeyUsages(req.template);
    const { notBefore, notAfter } = this.validity(req);
    if (notAfter.getTime() > this.ca.issuing.cert.notAfter.getTime()) {
      this.deps.log.warn({ requestId: req.requestId, issuingNotAfter: this.ca.issuing.cert.notAfter }, 'notAfter cut to the issuing CA expiry');
    }
    for (let attempt = 1; ; attempt++) {
      const serial = randomSerial(this.deps.random);
      const leaf = await signLeaf(this.ca, {
        spki,
        serial,
        names,
        extendedKeyUsages: ekus,
        isRsaKey: key.kind === 'rsa',
        notBefore,
        notAfter,
        ...this.urls(),
      });
      try {
        // Recorded before returning, so a lost response is found again by status() or a retry.
        const rec = this.openStore().insertIssued({ requestId: req.requestId, serial, pem: leaf.pem, notAfter: leaf.notAfter });
        if (rec.serial === serial) this.deps.log.debug({ requestId: req.requestId, serial }, 'certificate issued');
        return this.issued(rec);
      } catch (e) {
        if (!(e instanceof SerialTakenError) || attempt >= SERIAL_ATTEMPTS) throw e;
        this.deps.log.warn({ requestId: req.requestId, serial }, 'serial collision; drawing another');
      }
    }
  }

  async status(ref: RequestRef, signal: AbortSignal): Promise<Issued> {
    checkSignal(signal, 'status');
    const rec = this.openStore().byRequestId(ref.requestId);
    if (rec === undefined) throw new ConnectorError('not-found', `no certificate for request ${ref.requestId} in embedded CA ${this.deps.name}`);
    return this.issued(rec);
  }

  async revoke(req: RevokeRequest, signal: AbortSignal): Promise<void> {
    checkSignal(signal, 'revoke');
    // RFC 5280 §5.3.1: removeFromCRL "is for use with delta CRLs" only, which this CA does not publish.
    if (req.reason === 8) throw new ConnectorError('bad-request', 'reason 8 (removeFromCRL) is only used in delta CRLs');
    const rec = this.ours(req.serial, req.issuer);
    const outcome = this.openStore().revoke(rec.serial, this.deps.clock.now(), req.reason);
    if (outcome === 'already-revoked') throw new ConnectorError('already-revoked', `certificate ${rec.serial} is already revoked`);
    if (outcome === 'not-found') throw new ConnectorError('not-found', `no certificate with serial ${rec.serial}`);
    this.deps.log.info({ serial: rec.serial, reason: req.reason }, 'certificate revoked');
  }

  async certificateStatus(serial: string, issuer: string, signal: AbortSignal): Promise<CertificateStatus> {
    checkSignal(signal, 'certificateStatus');
    const rec = this.ours(serial, issuer);
    if (rec.revokedAt === undefined) return { revoked: false };
    return { revoked: true, revokedAt: rec.revokedAt, ...(rec.reason === undefined ? {} : { reason: rec.reason }) };
  }

  /** A fresh CRL when a revocation was recorded since the last one or half its lifetime passed. */
  async crl(signal: AbortSignal): Promise<Uint8Array> {
    checkSignal(signal, 'crl');
    const version = this.openStore().revocationVersion();
    const now = this.deps.clock.now();
    const cached = this.crlCache;
    if (cached !== undefined && cached.version === version && now.getTime() < cached.refreshAt) return cached.der;
    if (this.crlInFlight?.version === version) return this.crlInFlight.der;
    const der = this.makeCrl(version, now).finally(() => {
      if (this.crlInFlight?.der === der) this.crlInFlight = undefined;
    });
    this.crlInFlight = { version, der };
    return der;
  }

  private async makeCrl(version: string, now: Date): Promise<Uint8Array> {
    const validityMs = this.config.crlValidityHours * HOUR_MS;
    const store = this.openStore();
    // RFC 5280 §3.3: an entry stays until one regular CRL issued after the certificate expired.
    const entries = store.revokedExpiringAfter(new Date(now.getTime() - validityMs));
    const der = await signCrl(this.ca, {
      number: store.nextCrlNumber(),
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + validityMs),
      entries,
    });
    this.crlCache = { version, refreshAt: now.getTime() + validityMs / 2, der };
    return der;
  }

  /** RFC 6960: every request gets an OCSPResponse, error statuses included; see ocsp.ts. */
  async ocsp(requestDer: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    checkSignal(signal, 'ocsp');
    const store = this.openStore();
    const signer = await this.currentOcspSigner();
    const answer = await answerOcsp(requestDer, {
      ca: this.ca,
      signer,
      now: this.deps.clock.now(),
      validityMs: this.config.ocspValidityHours * HOUR_MS,
      lookup: (serial) => {
        const rec = store.bySerial(serial);
        if (rec === undefined) return undefined;
        return rec.revokedAt === undefined ? {} : { revokedAt: rec.revokedAt, ...(rec.reason === undefined ? {} : { reason: rec.reason }) };
      },
    });
    if (answer.status !== 'successful') this.deps.log.debug({ status: answer.status, detail: answer.detail }, 'ocsp request refused');
    else this.deps.log.debug({ certificates: answer.certificates }, 'ocsp answered');
    return answer.der;
  }

  /**
   * The responder, renewed in place (once, however many requests wait) when a third of its life is
   * left. A failed renewal keeps the current one while it is valid and is retried a minute later.
   */
  private async currentOcspSigner(): Promise<OcspSigner> {
    const now = this.deps.clock.now().getTime();
    const current = this.ocspSigner;
    const stillValid = now < current.cert.notAfter.getTime();
    if (!needsRenewal(current, this.ca, new Date(now))) return current;
    if (stillValid && this.renewFailedAt !== undefined && now - this.renewFailedAt < MINUTE_MS) return current;
    this.renewing ??= createOcspSigner(this.ca, { validityDays: this.config.ocspResponderValidityDays })
      .then((signer) => {
        this.deps.log.info({ serial: signer.cert.serialNumber, notAfter: signer.cert.notAfter }, 'ocsp responder certificate renewed');
        this.ocspSigner = signer;
        this.renewFailedAt = undefined;
        return signer;
      })
      .finally(() => {
        this.renewing = undefined;
      });
    try {
      return await this.renewing;
    } catch (e) {
      this.renewFailedAt = now;
      if (!stillValid) throw new ConnectorError('unavailable', 'the OCSP responder certificate expired and cannot be renewed', { cause: e });
      this.deps.log.warn({ err: e, notAfter: current.cert.notAfter }, 'ocsp responder renewal failed; answering with the current one');
      return current;
    }
  }

  caCertificatesPem(): string[] {
    return [this.ca.root.pem, this.ca.issuing.pem];
  }

  async health(_signal: AbortSignal): Promise<Health> {
    if (!this.store.isOpen) return { ok: false, detail: 'connector is closed' };
    try {
      this.store.ping();
    } catch (e) {
      return { ok: false, detail: `store does not answer: ${e instanceof Error ? e.message : String(e)}` };
    }
    const notAfter = this.ca.issuing.cert.notAfter;
    if (this.deps.clock.now().getTime() >= notAfter.getTime()) {
      return { ok: false, detail: `issuing CA expired at ${notAfter.toISOString()}` };
    }
    return { ok: true, detail: `issuing CA "${this.issuer}" valid until ${notAfter.toISOString()}` };
  }

  async close(): Promise<void> {
    this.store.close();
  }
}

export const embeddedConnector = {
  type: 'embedded',
  configSchema: EmbeddedConfigSchema,
  /** Loads (or on first start creates) the CA in `${dataDir}/connectors/${name}` and opens the store. */
  async create(config: EmbeddedConfig, deps: ConnectorDeps): Promise<EmbeddedConnector> {
    const dir = caDirectory(deps.dataDir, deps.name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const ca = await loadOrCreateCa(dir, config, deps.clock, deps.random);
    if (ca.keyType !== config.keyType) {
      deps.log.warn({ onDisk: ca.keyType, configured: config.keyType }, 'CA exists with another key type; using the one on disk');
    }
    const { signer, replaced } = await loadOrCreateOcspSigner(ca, { validityDays: config.ocspResponderValidityDays });
    if (replaced !== undefined) {
      deps.log.info({ reason: replaced, notAfter: signer.cert.notAfter }, 'ocsp responder certificate issued');
    }
    const store = new EmbeddedStore(dir);
    deps.log.info({ issuer: ca.issuing.cert.subject, dir }, 'embedded CA ready');
    return new Embedded(config, deps, ca, store, signer);
  },
} satisfies ConnectorFactory<EmbeddedConfig>;
