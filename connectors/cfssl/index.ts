/**
 * The cfssl connector: issues through a running `cfssl serve` (authsign or sign), revokes through
 * its REST revoke endpoint, reads revocation status from cfssl's certificate database, and answers
 * OCSP through cfssl's `ocspsign` per request, so an answer is current the moment a revocation is.
 * cfssl has no request ids; a small SQLite file of the connector's own maps them to certificates.
 * README.md explains what the cfssl side must look like.
 */
import 'reflect-metadata'; // before @peculiar/x509, which resolves its providers through tsyringe
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as x509 from '@peculiar/x509';
import {
  z,
  ConnectorError,
  type CertificateStatus,
  type Connector,
  type ConnectorDeps,
  type ConnectorFactory,
  type Health,
  type HealthProbe,
  type IssueRequest,
  type Issued,
  type OcspResponder,
  type ProxyUpstream,
  type ProxyUpstreams,
  type RequestRef,
  type RevocationStatusSource,
  type RevokeRequest,
  type TrustAnchors,
} from '../../src/sdk/index.js';
import { createCfsslClient, type CfsslClient } from './client.js';
import { CfsslConfigSchema, type CfsslConfig } from './config.js';
import { CertDb } from './certdb.js';
import {
  akiCandidates,
  hostsOf,
  isRecordNotFound,
  issuedBy,
  normalizeSerial,
  ocspRevokedAt,
  parseCertificate,
  pemOf,
  refusedIdentifiers,
  sameDn,
  serialToDecimal,
  statusOfRow,
  toConnectorError,
  useWebCrypto,
  type CertRow,
  type ParsedCertificate,
} from './mapping.js';
import { issuerHashes, ocspErrorResponse, readOcspRequest, type IssuerHashes } from './ocsp.js';
import { CfsslStore, type IssuedRecord } from './store.js';

export { CfsslConfigSchema, type CfsslConfig } from './config.js';
export { createCfsslClient, authenticatedRequest, type CfsslClient } from './client.js';
export { STORE_FILE } from './store.js';

/** Gateway path of the OCSP route (the gateway's own in `ocspsign` mode, a proxy route in `ocspserve` mode). */
export const ocspPath = (name: string): string => `/ocsp/${name}`;
/** Gateway path of the CRL route, when `crlUrl` is set. */
export const crlPath = (name: string): string => `/crl/${name}`;
/** Where the connector keeps its request-id records. */
export const connectorDirectory = (dataDir: string, name: string): string => join(dataDir, 'connectors', name);

export type CfsslConnector = Connector & RevocationStatusSource & TrustAnchors & HealthProbe & ProxyUpstreams;

/** Template attributes that override the connector's settings for one profile. */
const TemplateAttributes = z.object({ label: z.string().min(1).max(200).optional() }).loose();

interface CaState {
  cert: ParsedCertificate;
  hashes: IssuerHashes;
}

function checkSignal(signal: AbortSignal, op: string): void {
  if (signal.aborted) throw new ConnectorError('timeout', `${op} was aborted before it reached cfssl`, { cause: signal.reason });
}

class Cfssl implements CfsslConnector {
  readonly type = 'cfssl';
  private ca?: CaState;
  private caLoading?: Promise<CaState>;
  /** One signing per request id at a time: a racing second call waits for the first. */
  private readonly inFlight = new Map<string, Promise<Issued>>();
  private aiaChecked = false;

  constructor(
    protected readonly config: CfsslConfig,
    protected readonly deps: ConnectorDeps,
    protected readonly client: CfsslClient,
    private readonly store: CfsslStore,
    protected readonly certdb: CertDb,
  ) {}

  private openStore(): CfsslStore {
    if (!this.store.isOpen) throw new ConnectorError('unavailable', `cfssl connector ${this.deps.name} is closed`);
    return this.store;
  }

  private issued(rec: IssuedRecord): Issued {
    const leaf = parseCertificate(rec.pem, 'a stored certificate');
    return { serial: rec.serial, issuer: leaf.issuer, leafPem: rec.pem, chainPem: rec.chainPem };
  }

  // ---------------------------------------------------------------- issuance

  async issue(req: IssueRequest, signal: AbortSignal): Promise<Issued> {
    checkSignal(signal, 'issue');
    // Same request id, same certificate: checked before anything else, a retry need not be intact.
    const earlier = this.openStore().byRequestId(req.requestId);
    if (earlier !== undefined) return this.issued(earlier);
    const running = this.inFlight.get(req.requestId);
    if (running !== undefined) return running;
    const p = this.sign(req, signal).finally(() => this.inFlight.delete(req.requestId));
    this.inFlight.set(req.requestId, p);
    return p;
  }

  private async sign(req: IssueRequest, signal: AbortSignal): Promise<Issued> {
    const refused = refusedIdentifiers(req.identifiers);
    if (refused.length > 0) {
      throw new ConnectorError('rejected', `not a valid host name or address for a certificate: ${refused.map((i) => i.value).join(', ')}`, { identifiers: refused });
    }
    const attrs = TemplateAttributes.safeParse(req.template.attributes);
    if (!attrs.success) throw new ConnectorError('misconfigured', `template "${req.template.name}": attribute label must be a non-empty string`);
    const label = attrs.data.label ?? this.config.label;
    // cfssl 1.2.0's sign API takes no validity: the cfssl profile's expiry decides.
    if (req.validity !== undefined) this.deps.log.debug({ requestId: req.requestId }, 'requested validity ignored; the cfssl profile decides');
    try {
      // The CA first: once cfssl has signed, nothing but the local record should stand between
      // the certificate and the caller (a failure there would make the retry sign a second one).
      await this.loadCa(signal);
      const pem = await this.client.sign(
        { certificate_request: pemOf(req.csr, 'CERTIFICATE REQUEST'), hosts: hostsOf(req.identifiers), profile: req.template.name, ...(label === undefined ? {} : { label }) },
        signal,
      );
      const leaf = parseCertificate(pem, 'a certificate');
      const ca = await this.caFor(leaf, signal);
      // Recorded before returning, so a lost response is found again by status() or a retry.
      const rec = this.openStore().insert({ requestId: req.requestId, serial: leaf.serial, pem: leaf.pem, chainPem: [ca.cert.pem], issuedAt: this.deps.clock.now() });
      this.deps.log.debug({ requestId: req.requestId, serial: rec.serial }, 'cfssl certificate issued');
      this.checkAia(leaf);
      return this.issued(rec);
    } catch (e) {
      throw toConnectorError(e, { identifiers: req.identifiers });
    }
  }

  async status(ref: RequestRef, signal: AbortSignal): Promise<Issued> {
    checkSignal(signal, 'status');
    const rec = this.openStore().byRequestId(ref.requestId);
    if (rec === undefined) throw new ConnectorError('not-found', `cfssl connector ${this.deps.name} issued nothing for request ${ref.requestId}`);
    return this.issued(rec);
  }

  // ---------------------------------------------------------------- the CA

  /** The signer's certificate from `info`, fetched once (and again when `refresh`: a CA renewal). */
  protected async loadCa(signal: AbortSignal, refresh = false): Promise<CaState> {
    if (this.ca !== undefined && !refresh) return this.ca;
    this.caLoading ??= this.client
      .info(signal)
      .then((info) => {
        const cert = parseCertificate(info.certificate, 'a CA certificate');
        const state = { cert, hashes: issuerHashes(cert) };
        this.ca = state;
        return state;
      })
      .finally(() => {
        this.caLoading = undefined;
      });
    return this.caLoading;
  }

  private async caFor(leaf: ParsedCertificate, signal: AbortSignal): Promise<CaState> {
    const cached = await this.loadCa(signal);
    if (await issuedBy(leaf, cached.cert)) return cached;
    const fresh = await this.loadCa(signal, true);
    if (await issuedBy(leaf, fresh.cert)) return fresh;
    throw new ConnectorError('misconfigured', `certificate ${leaf.serial} from cfssl is issued by "${leaf.issuer}", which is not the CA cfssl info reports ("${fresh.cert.subject}")`);
  }

  /** Relying parties should reach OCSP through the gateway: the cfssl profile's ocsp_url is what leaves name. Warned once. */
  private checkAia(leaf: ParsedCertificate): void {
    if (this.aiaChecked || this.config.ocsp.mode === 'none') return;
    this.aiaChecked = true;
    const expected = this.deps.baseUrl().replace(/\/+$/, '') + ocspPath(this.deps.name);
    const urls = (leaf.cert.getExtension(x509.AuthorityInfoAccessExtension)?.ocsp ?? []).map((g) => String(g.value));
    if (!urls.includes(expected)) {
      this.deps.log.warn({ ocspUrls: urls, expected }, 'the cfssl profile\'s ocsp_url does not point at the gateway');
    }
  }

  // ---------------------------------------------------------------- certdb

  /** Runs a certdb read, turning SQLite failures into ConnectorErrors. */
  protected readCertdb<T>(read: () => T): T {
    try {
      return read();
    } catch (e) {
      if (e instanceof ConnectorError) throw e;
      const code = e instanceof Database.SqliteError ? e.code : '';
      const message = e instanceof Error ? e.message : String(e);
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new ConnectorError('unavailable', `cfssl certdb is busy: ${message}`, { cause: e });
      throw new ConnectorError('misconfigured', `cannot read cfssl's certdb at ${this.config.certdb}: ${message}`, { cause: e });
    }
  }

  /** The certdb row of `serial` issued by `issuer`, with the certificate parsed. */
  protected findRow(serial: string, issuer: string): { row: CertRow; leaf: ParsedCertificate } {
    const hex = normalizeSerial(serial);
    const rows = this.readCertdb(() => this.certdb.bySerial(serialToDecimal(hex)));
    for (const row of rows) {
      const leaf = parseCertificate(row.pem, 'a certdb certificate');
      if (sameDn(leaf.issuer, issuer)) return { row, leaf };
    }
    throw new ConnectorError('not-found', `cfssl's certdb has no certificate with serial ${hex} from "${issuer}"`);
  }

  // ---------------------------------------------------------------- revocation

  async revoke(req: RevokeRequest, signal: AbortSignal): Promise<void> {
    checkSignal(signal, 'revoke');
    // RFC 5280 §5.3.1: removeFromCRL "is for use with delta CRLs" only.
    if (req.reason === 8) throw new ConnectorError('bad-request', 'reason 8 (removeFromCRL) is only used in delta CRLs');
    const { row, leaf } = this.findRow(req.serial, req.issuer);
    // cfssl's revoke answers success again for a revoked certificate and overwrites reason and time.
    if (row.status === 'revoked') throw new ConnectorError('already-revoked', `certificate ${leaf.serial} is already revoked in cfssl (reason ${row.reason})`);
    try {
      for (const aki of akiCandidates(leaf.aki, row.aki)) {
        try {
          await this.client.revoke(row.serial, aki, req.reason, signal);
          this.deps.log.info({ serial: leaf.serial, reason: req.reason, aki: aki === '' ? 'empty' : aki }, 'certificate revoked in cfssl');
          return;
        } catch (e) {
          // NOTES.md quirk 2: the certdb row's AKI is empty in this build; 11200 means "try the next one".
          if (!isRecordNotFound(e)) throw e;
        }
      }
    } catch (e) {
      throw toConnectorError(e);
    }
    throw new ConnectorError('not-found', `cfssl revoke found no certificate ${leaf.serial} under any AKI`);
  }

  async certificateStatus(serial: string, issuer: string, signal: AbortSignal): Promise<CertificateStatus> {
    checkSignal(signal, 'certificateStatus');
    return statusOfRow(this.findRow(serial, issuer).row);
  }

  // ---------------------------------------------------------------- routes, trust, health

  upstreams(): ProxyUpstream[] {
    const routes: ProxyUpstream[] = [];
    // NOTES.md quirk 4: ocspserve's GET handler is broken in 1.2.0; POST works.
    if (this.config.ocsp.mode === 'ocspserve') routes.push({ prefix: ocspPath(this.deps.name), target: this.config.ocsp.url, methods: ['POST'] });
    if (this.config.crlUrl !== undefined) routes.push({ prefix: crlPath(this.deps.name), target: this.config.crlUrl, methods: ['GET', 'HEAD'] });
    return routes;
  }

  /** The signer's certificate as `info` reports it; empty until cfssl has answered once. */
  caCertificatesPem(): string[] {
    return this.ca === undefined ? [] : [this.ca.cert.pem];
  }

  async health(signal: AbortSignal): Promise<Health> {
    if (!this.store.isOpen) return { ok: false, detail: 'connector is closed' };
    let ca: CaState;
    try {
      ca = await this.loadCa(signal, true);
      this.readCertdb(() => this.certdb.ping());
      this.store.ping();
    } catch (e) {
      const err = toConnectorError(e);
      return { ok: false, detail: `${err.code}: ${err.message}` };
    }
    const notAfter = ca.cert.cert.notAfter;
    if (this.deps.clock.now().getTime() >= notAfter.getTime()) return { ok: false, detail: `cfssl CA "${ca.cert.subject}" expired at ${notAfter.toISOString()}` };
    return { ok: true, detail: `cfssl CA "${ca.cert.subject}" valid until ${notAfter.toISOString()}; certdb readable` };
  }

  /** Loads the CA certificate once at start; a cfssl that is down only logs. */
  async warmUp(): Promise<void> {
    try {
      await this.loadCa(AbortSignal.timeout(Math.min(this.config.timeoutMs, 10_000)));
    } catch (e) {
      const err = toConnectorError(e);
      this.deps.log.warn({ code: err.code, err: err.message }, 'cfssl CA certificate not loaded at start; trying again on first use');
    }
  }

  async close(): Promise<void> {
    this.store.close();
    this.certdb.close();
    await this.client.close();
  }
}

/**
 * `ocsp.mode: ocspsign`: the gateway answers OCSP itself, from the certdb status at the moment of
 * the request, signed by cfssl's responder (`ocspsign`). ocspserve would serve a file made at its
 * start (NOTES.md quirk 3), so a revocation would show only after refresh, dump and restart.
 */
class CfsslWithOcsp extends Cfssl implements OcspResponder {
  async ocsp(requestDer: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    checkSignal(signal, 'ocsp');
    let ca: CaState;
    try {
      ca = await this.loadCa(signal);
    } catch (e) {
      throw toConnectorError(e);
    }
    const question = readOcspRequest(requestDer, ca.hashes);
    if (question.kind === 'refuse') {
      this.deps.log.debug({ status: question.status, detail: question.detail }, 'ocsp request refused');
      return ocspErrorResponse(question.status);
    }
    let found: { row: CertRow; leaf: ParsedCertificate };
    try {
      found = this.findRow(question.serial, ca.cert.subject);
    } catch (e) {
      if (!(e instanceof ConnectorError) || e.code !== 'not-found') throw e;
      // As ocspserve does (NOTES.md quirk 6): no certificate, nothing to sign a status for.
      this.deps.log.debug({ serial: question.serial }, 'ocsp request for a certificate cfssl does not know');
      return ocspErrorResponse('unauthorized');
    }
    const status = statusOfRow(found.row);
    try {
      const der = await this.client.ocspSign(
        status.revoked
          ? { certificate: found.row.pem, status: 'revoked', reason: status.reason ?? 0, revoked_at: ocspRevokedAt(status.revokedAt ?? this.deps.clock.now()) }
          : { certificate: found.row.pem, status: 'good' },
        signal,
      );
      this.deps.log.debug({ serial: question.serial, revoked: status.revoked }, 'ocsp answered through cfssl ocspsign');
      return der;
    } catch (e) {
      throw toConnectorError(e);
    }
  }
}

async function authKeyOf(config: CfsslConfig): Promise<Uint8Array | undefined> {
  if (config.endpoint === 'sign') return undefined;
  let hex = config.authKey;
  if (hex === undefined && config.authKeyFile !== undefined) {
    try {
      hex = (await readFile(config.authKeyFile, 'utf8')).trim();
    } catch (cause) {
      throw new ConnectorError('misconfigured', `cannot read authKeyFile ${config.authKeyFile}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  }
  if (hex === undefined || !/^(?:[0-9a-fA-F]{2}){16,}$/.test(hex)) {
    throw new ConnectorError('misconfigured', 'the cfssl auth key must be hex (at least 32 digits), as in cfssl\'s auth_keys entry');
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export const cfsslConnector = {
  type: 'cfssl',
  configSchema: CfsslConfigSchema,
  /** Reads the auth key, opens the request-id store, then fetches the CA certificate (best effort: cfssl may be down). */
  async create(config: CfsslConfig, deps: ConnectorDeps): Promise<CfsslConnector> {
    useWebCrypto();
    const authKey = await authKeyOf(config);
    const dir = connectorDirectory(deps.dataDir, deps.name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new CfsslStore(dir);
    const certdb = new CertDb(config.certdb);
    const client = createCfsslClient({ url: config.url, timeoutMs: config.timeoutMs, ...(authKey ? { authKey } : {}) });
    const connector = config.ocsp.mode === 'ocspsign' ? new CfsslWithOcsp(config, deps, client, store, certdb) : new Cfssl(config, deps, client, store, certdb);
    await connector.warmUp();
    deps.log.info({ url: config.url, endpoint: config.endpoint, ocsp: config.ocsp.mode }, 'cfssl connector ready');
    return connector;
  },
} satisfies ConnectorFactory<CfsslConfig>;
