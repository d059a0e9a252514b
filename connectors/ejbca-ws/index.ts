/**
 * The EJBCA web-service connector: issues through EJBCA's RA SOAP interface over mutual TLS, with
 * ACME accounts as registration end entities that RA officers manage, one issuing end entity per
 * order, and EJBCA approvals reported as pending-approval. README.md explains the convention.
 */
import { readFile } from 'node:fs/promises';
import {
  z,
  ConnectorError,
  type AccountSummary,
  type CertificateStatus,
  type Connector,
  type ConnectorDeps,
  type ConnectorFactory,
  type Health,
  type HealthProbe,
  type IssueRequest,
  type Issued,
  type RegistrationRef,
  type RegistrationState,
  type RegistrationSync,
  type RequestRef,
  type RevocationStatusSource,
  type RevokeRequest,
  type SdkRevocationReason,
  type TemplateCatalog,
  type TemplateInfo,
  type TrustAnchors,
} from '../../src/sdk/index.js';
import { createEjbcaWsClient, EjbcaWsFault, type EjbcaWsClient, type UserDataWs } from './client.js';
import { EjbcaWsConfigSchema, shippedWsdl, type EjbcaWsConfig } from './config.js';
import { certificateProfileLimits } from './certificate-profile.js';
import {
  MATCH_EQUALS,
  MATCH_USERNAME,
  chainFor,
  decodeCertificateData,
  ejbcaTime,
  enrollmentPassword,
  isWrongStatus,
  issuingCustomData,
  issuingLookup,
  issuingUsername,
  allowedNamesOf,
  parseCertificate,
  refusedIdentifiers,
  registrationCustomData,
  registrationUsername,
  storedCsr,
  subjectAltName,
  subjectDn,
  toConnectorError,
  useWebCrypto,
  type ErrorContext,
  type ParsedCertificate,
} from './mapping.js';

export { EjbcaWsConfigSchema, shippedWsdl, type EjbcaWsConfig } from './config.js';
export { createEjbcaWsClient, type EjbcaWsClient } from './client.js';

const STATUS_NEW = 10;
const STATUS_GENERATED = 40;

export type EjbcaWsConnector = Connector & RegistrationSync & RevocationStatusSource & TemplateCatalog & TrustAnchors & HealthProbe;

/** getProfile calls in flight at once while listing templates. */
const PROFILE_READS_AT_ONCE = 4;

/** `fn` over `items`, at most `limit` at a time, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Template attributes that override the connector's defaults for one profile. */
const TemplateAttributes = z.object({ caName: z.string().min(1).optional(), endEntityProfile: z.string().min(1).optional() }).loose();

class EjbcaWs implements EjbcaWsConnector {
  readonly type = 'ejbca-ws';
  /** getLastCAChain per CA name, issuing CA first; fetched again when a leaf does not chain to it. */
  private readonly chains = new Map<string, ParsedCertificate[]>();

  constructor(
    private readonly config: EjbcaWsConfig,
    private readonly deps: ConnectorDeps,
    private readonly client: EjbcaWsClient,
    private readonly secret: Uint8Array,
  ) {}

  private ctx(extra: ErrorContext = {}): ErrorContext {
    return { approvalRetryAfterSeconds: this.config.approvalRetryAfterSeconds, ...extra };
  }

  private get prefix(): string {
    return this.config.customDataPrefix;
  }

  private template(req: IssueRequest): { caName: string; endEntityProfile: string; certificateProfile: string } {
    const attrs = TemplateAttributes.safeParse(req.template.attributes);
    if (!attrs.success) throw new ConnectorError('misconfigured', `template "${req.template.name}": attributes caName and endEntityProfile must be non-empty strings`);
    return {
      caName: attrs.data.caName ?? this.config.caName,
      endEntityProfile: attrs.data.endEntityProfile ?? this.config.endEntityProfile,
      certificateProfile: req.template.name,
    };
  }

  private async findByUsername(username: string, signal: AbortSignal): Promise<UserDataWs | undefined> {
    const found = await this.client.findUser({ matchwith: MATCH_USERNAME, matchtype: MATCH_EQUALS, matchvalue: username }, signal);
    return found.find((u) => u.username === username);
  }

  // ---------------------------------------------------------------- issuance

  async issue(req: IssueRequest, signal: AbortSignal): Promise<Issued> {
    const ctx = this.ctx({ identifiers: req.identifiers });
    try {
      if (req.registration !== undefined) await this.checkRegistration(req, req.registration, signal);
      const t = this.template(req);
      const username = issuingUsername(this.config.issuing.username, req);
      // Same request id, same end entity: an earlier attempt may have got as far as GENERATED.
      const existing = await this.findByUsername(username, signal);
      if (existing !== undefined) return await this.finish(existing, req.csr, signal);
      await this.client.editUser(this.issuingUser(req, username, t), signal);
      this.deps.log.debug({ requestId: req.requestId, username }, 'EJBCA end entity added');
      return await this.enroll(username, t.caName, req.csr, signal);
    } catch (e) {
      const err = toConnectorError(e, ctx);
      if (err.code === 'pending-approval') this.deps.log.info({ requestId: req.requestId, ticket: err.info.ticket }, 'EJBCA request waits for approval');
      throw err;
    }
  }

  private issuingUser(req: IssueRequest, username: string, t: { caName: string; endEntityProfile: string; certificateProfile: string }): UserDataWs {
    return {
      username,
      password: enrollmentPassword(this.secret, username),
      clearPwd: false,
      caName: t.caName,
      certificateProfileName: t.certificateProfile,
      endEntityProfileName: t.endEntityProfile,
      subjectDN: subjectDn(req.identifiers, username),
      subjectAltName: subjectAltName(req.identifiers),
      status: STATUS_NEW,
      tokenType: 'USERGENERATED',
      keyRecoverable: false,
      sendNotification: false,
      ...(req.validity ? { startTime: ejbcaTime(req.validity.notBefore), endTime: ejbcaTime(req.validity.notAfter) } : {}),
      extendedInformation: issuingCustomData(this.prefix, req),
    };
  }

  /** Takes an issuing end entity to its certificate: the one it has (GENERATED), or a new request (NEW). */
  private async finish(user: UserDataWs, csr: Uint8Array | undefined, signal: AbortSignal): Promise<Issued> {
    if (this.config.disabledStatuses.includes(user.status)) {
      throw new ConnectorError('rejected', `EJBCA end entity ${user.username} was set to status ${user.status} by an officer`);
    }
    if (user.status === STATUS_GENERATED) return this.latest(user, signal);
    const request = csr ?? storedCsr(this.prefix, user.extendedInformation);
    if (request === undefined) {
      throw new ConnectorError('not-found', `EJBCA end entity ${user.username} is ready for enrolment but the CSR is not at hand; submit the request again`);
    }
    return this.enroll(user.username, user.caName || this.config.caName, request, signal);
  }

  private async enroll(username: string, caName: string, csr: Uint8Array, signal: AbortSignal): Promise<Issued> {
    let data: string;
    try {
      data = await this.client.pkcs10Request(username, enrollmentPassword(this.secret, username), Buffer.from(csr).toString('base64'), signal);
    } catch (e) {
      // Someone (a racing call, a retry after a lost answer) finished it first: return that certificate.
      if (!isWrongStatus(e)) throw e;
      const now = await this.findByUsername(username, signal);
      if (now?.status !== STATUS_GENERATED) throw e;
      return this.latest(now, signal);
    }
    const issued = await this.issued(decodeCertificateData(data), caName, signal);
    this.deps.log.debug({ username, serial: issued.serial }, 'EJBCA certificate issued');
    return issued;
  }

  /** The newest certificate of a GENERATED end entity (findCerts, valid or not). */
  private async latest(user: UserDataWs, signal: AbortSignal): Promise<Issued> {
    const certs = (await this.client.findCerts(user.username, false, signal)).map((d) => parseCertificate(decodeCertificateData(d)));
    const newest = certs.reduce<ParsedCertificate | undefined>((best, c) => (best === undefined || c.cert.notBefore.getTime() >= best.cert.notBefore.getTime() ? c : best), undefined);
    if (newest === undefined) throw new ConnectorError('unavailable', `EJBCA end entity ${user.username} is GENERATED but findCerts returns no certificate`);
    return this.issued(newest.der, user.caName || this.config.caName, signal);
  }

  private async issued(der: Uint8Array, caName: string, signal: AbortSignal): Promise<Issued> {
    const leaf = parseCertificate(der);
    const chainPem = await this.chainOf(leaf, caName, signal);
    return { serial: leaf.serial, issuer: leaf.issuerDn, leafPem: leaf.pem, chainPem };
  }

  private async fetchChain(caName: string, signal: AbortSignal): Promise<ParsedCertificate[]> {
    const chain = (await this.client.getLastCAChain(caName, signal)).map((d) => parseCertificate(decodeCertificateData(d)));
    if (chain.length > 0) this.chains.set(caName, chain);
    return chain;
  }

  private async chainOf(leaf: ParsedCertificate, caName: string, signal: AbortSignal): Promise<string[]> {
    const cached = this.chains.get(caName);
    const fromCache = cached ? await chainFor(leaf, cached) : undefined;
    if (fromCache) return fromCache;
    const chain = await this.fetchChain(caName, signal); // a CA renewal, or the first call
    const fresh = await chainFor(leaf, chain);
    if (fresh) return fresh;
    throw new ConnectorError('misconfigured', `certificate ${leaf.serial} from EJBCA is issued by "${leaf.issuerDn}", which does not chain to CA "${caName}" (getLastCAChain starts with "${chain[0]?.subjectDn ?? 'nothing'}")`);
  }

  async status(ref: RequestRef, signal: AbortSignal): Promise<Issued> {
    const ctx = this.ctx(ref.ticket === undefined ? {} : { ticket: ref.ticket });
    try {
      if (ref.ticket !== undefined) await this.checkApproval(ref.ticket, signal);
      const lookup = issuingLookup(this.config.issuing.username, ref.requestId);
      const user = (await this.client.findUser(lookup.match, signal)).find((u) => lookup.accepts(u.username));
      if (user === undefined) {
        if (ref.ticket !== undefined) throw new ConnectorError('unavailable', `EJBCA approved request ${ref.ticket} but has no end entity for request ${ref.requestId} yet`);
        throw new ConnectorError('not-found', `EJBCA has no end entity for request ${ref.requestId}`);
      }
      return await this.finish(user, ref.csr, signal);
    } catch (e) {
      throw toConnectorError(e, ctx);
    }
  }

  /** getRemainingNumberOfApprovals: >0 still pending, 0 approved (EJBCA executed the edit), <0 rejected or expired. */
  private async checkApproval(ticket: string, signal: AbortSignal): Promise<void> {
    if (!/^-?\d{1,10}$/.test(ticket)) throw new ConnectorError('not-found', `"${ticket}" is not an EJBCA approval request id`);
    let remaining: number;
    try {
      remaining = await this.client.getRemainingNumberOfApprovals(Number(ticket), signal);
    } catch (e) {
      if (e instanceof EjbcaWsFault && e.element === 'ApprovalException') throw new ConnectorError('not-found', `EJBCA knows no approval request ${ticket}`, { ticket, cause: e });
      throw e;
    }
    if (remaining > 0) {
      throw new ConnectorError('pending-approval', `EJBCA approval request ${ticket} needs ${remaining} more approval(s)`, { ticket, retryAfterSeconds: this.config.approvalRetryAfterSeconds });
    }
    if (remaining < 0) {
      this.deps.log.info({ ticket, state: remaining }, 'EJBCA approval request ended without approval');
      throw new ConnectorError('rejected', `EJBCA approval request ${ticket} was rejected or expired (state ${remaining})`, { ticket });
    }
  }

  // ---------------------------------------------------------------- revocation

  async revoke(req: RevokeRequest, signal: AbortSignal): Promise<void> {
    try {
      // ejbcaws.wsdl revokeCert(arg0 issuerDN as EJBCA reported it, arg1 hex serial without 0x, arg2 RFC 5280 reason).
      await this.client.revokeCert(req.issuer, req.serial.toLowerCase().replace(/^0x/, ''), req.reason, signal);
      this.deps.log.info({ serial: req.serial, reason: req.reason }, 'certificate revoked in EJBCA');
    } catch (e) {
      throw toConnectorError(e, this.ctx());
    }
  }

  async certificateStatus(serial: string, issuer: string, signal: AbortSignal): Promise<CertificateStatus> {
    try {
      const s = await this.client.checkRevokationStatus(issuer, serial.toLowerCase(), signal);
      if (s === undefined) throw new ConnectorError('not-found', `EJBCA knows no certificate ${serial} from "${issuer}"`);
      if (s.reason < 0) return { revoked: false }; // RevokeStatus.NOT_REVOKED = -1
      return { revoked: true, reason: s.reason as SdkRevocationReason, ...(s.revocationDate ? { revokedAt: s.revocationDate } : {}) };
    } catch (e) {
      throw toConnectorError(e, this.ctx());
    }
  }

  // ---------------------------------------------------------------- registrations

  async ensureRegistration(account: AccountSummary, signal: AbortSignal): Promise<RegistrationRef> {
    const username = registrationUsername(this.config.registration.username, account);
    try {
      // Found: never overwritten, since officers edit its status and names.
      if ((await this.findByUsername(username, signal)) !== undefined) return { id: username };
      await this.client.editUser(
        {
          username,
          password: enrollmentPassword(this.secret, username),
          clearPwd: false,
          caName: this.config.caName,
          certificateProfileName: this.config.certificateProfile,
          endEntityProfileName: this.config.registration.endEntityProfile ?? this.config.endEntityProfile,
          subjectDN: this.config.registration.subjectDn.replace(/\{username\}/g, username),
          status: STATUS_NEW,
          tokenType: 'USERGENERATED',
          keyRecoverable: false,
          sendNotification: false,
          extendedInformation: registrationCustomData(this.prefix, account),
        },
        signal,
      );
      this.deps.log.info({ accountId: account.accountId, registration: username }, 'EJBCA registration end entity created');
      return { id: username };
    } catch (e) {
      throw toConnectorError(e, this.ctx());
    }
  }

  async registration(ref: RegistrationRef, signal: AbortSignal): Promise<RegistrationState> {
    let user: UserDataWs | undefined;
    try {
      user = await this.findByUsername(ref.id, signal);
    } catch (e) {
      throw toConnectorError(e, this.ctx());
    }
    if (user === undefined) throw new ConnectorError('not-found', `EJBCA has no end entity "${ref.id}"`);
    const allowedNames = allowedNamesOf(user.subjectAltName);
    return { enabled: !this.config.disabledStatuses.includes(user.status), ...(allowedNames ? { allowedNames } : {}) };
  }

  /** At issue time too, so a registration switched off since the gateway's cache filled is still refused. */
  private async checkRegistration(req: IssueRequest, ref: RegistrationRef, signal: AbortSignal): Promise<void> {
    let state: RegistrationState;
    try {
      state = await this.registration(ref, signal);
    } catch (e) {
      if (e instanceof ConnectorError && e.code === 'not-found') throw new ConnectorError('unauthorized', `registration "${ref.id}" no longer exists in EJBCA`, { cause: e });
      throw e;
    }
    if (!state.enabled) throw new ConnectorError('unauthorized', `registration "${ref.id}" is disabled in EJBCA`);
    if (state.allowedNames === undefined) return;
    const refused = refusedIdentifiers(req.identifiers, state.allowedNames);
    if (refused.length > 0) {
      throw new ConnectorError('rejected', `registration "${ref.id}" may not order ${refused.map((i) => i.value).join(', ')}`, { identifiers: refused });
    }
  }

  // ---------------------------------------------------------------- templates

  /**
   * TemplateCatalog: one entry per certificate profile that an end entity profile the administrator
   * may use offers (getAuthorizedEndEntityProfiles, then getAvailableCertificateProfiles for each),
   * each certificate profile once however many end entity profiles offer it, with the limits its
   * getProfile(id, "cp") XML states (certificate-profile.ts). Every authorized end entity profile
   * counts, not only `endEntityProfile`: a gateway profile's template may name another one in its
   * `endEntityProfile` attribute, which this call does not see. A limit that cannot be read is
   * left out (no limit) and logged at warn.
   */
  async templates(signal: AbortSignal): Promise<TemplateInfo[]> {
    try {
      const eeps = await this.client.getAuthorizedEndEntityProfiles(signal);
      for (const name of new Set([this.config.endEntityProfile, this.config.registration.endEntityProfile ?? this.config.endEntityProfile])) {
        if (!eeps.some((e) => e.name === name)) {
          this.deps.log.warn({ endEntityProfile: name, authorized: eeps.map((e) => e.name) }, 'configured EJBCA end entity profile is not among those the administrator may use');
        }
      }
      const offered = await mapLimited(eeps, PROFILE_READS_AT_ONCE, (eep) => this.client.getAvailableCertificateProfiles(eep.id, signal));
      const profiles = new Map<number, string>(); // id → name, first seen first
      for (const cp of offered.flat()) if (!profiles.has(cp.id)) profiles.set(cp.id, cp.name);
      const now = this.deps.clock.now();
      return await mapLimited([...profiles], PROFILE_READS_AT_ONCE, async ([id, name]) => {
        const limits = certificateProfileLimits(await this.client.getProfile(id, 'cp', signal), now);
        for (const problem of limits.problems) {
          this.deps.log.warn({ certificateProfile: name, problem }, 'EJBCA certificate profile: limit not read; none assumed');
        }
        return { name, ...(limits.keyTypes ? { keyTypes: limits.keyTypes } : {}), ...(limits.maxValiditySeconds !== undefined ? { maxValiditySeconds: limits.maxValiditySeconds } : {}) };
      });
    } catch (e) {
      throw toConnectorError(e, this.ctx());
    }
  }

  // ---------------------------------------------------------------- trust and health

  /** Root first, issuing CA last (as `getLastCAChain` for the configured caName, reversed). */
  caCertificatesPem(): string[] {
    return (this.chains.get(this.config.caName) ?? []).map((c) => c.pem).reverse();
  }

  async health(signal: AbortSignal): Promise<Health> {
    try {
      const version = await this.client.getEjbcaVersion(signal);
      const [issuing] = await this.fetchChain(this.config.caName, signal); // needs RA rights, unlike getEjbcaVersion
      if (issuing === undefined) return { ok: false, detail: `${version}: CA "${this.config.caName}" has no certificate chain` };
      return { ok: true, detail: `${version}; CA "${issuing.subjectDn}" valid until ${issuing.cert.notAfter.toISOString()}` };
    } catch (e) {
      const err = toConnectorError(e, this.ctx());
      return { ok: false, detail: `${err.code}: ${err.message}` };
    }
  }

  /** Loads the CA chain once at start, so caCertificatesPem() has it; a backend that is down only logs. */
  async warmUp(): Promise<void> {
    try {
      await this.fetchChain(this.config.caName, AbortSignal.timeout(Math.min(this.config.timeoutMs, 10_000)));
    } catch (e) {
      const err = toConnectorError(e, this.ctx());
      this.deps.log.warn({ code: err.code, err: err.message }, 'EJBCA CA chain not loaded at start; trying again on first use');
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export const ejbcaWsConnector = {
  type: 'ejbca-ws',
  configSchema: EjbcaWsConfigSchema,
  /** Reads the TLS files and the WSDL, then fetches the CA chain (best effort: EJBCA may be down). */
  async create(config: EjbcaWsConfig, deps: ConnectorDeps): Promise<EjbcaWsConnector> {
    useWebCrypto();
    let client: EjbcaWsClient;
    let secret: Uint8Array;
    try {
      secret = new Uint8Array(await readFile(config.clientKey));
      client = await createEjbcaWsClient({
        url: config.url,
        wsdlPath: config.wsdl ?? shippedWsdl(),
        clientCertPath: config.clientCert,
        clientKeyPath: config.clientKey,
        caCertPath: config.caCert,
        ...(config.clientKeyPassphrase ? { clientKeyPassphrase: config.clientKeyPassphrase } : {}),
        timeoutMs: config.timeoutMs,
        retries: config.retries,
        retryBackoffMs: config.retryBackoffMs,
        log: deps.log,
      });
    } catch (cause) {
      throw new ConnectorError('misconfigured', `ejbca-ws connector ${deps.name}: cannot load the WSDL or TLS files: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    const connector = new EjbcaWs(config, deps, client, secret);
    await connector.warmUp();
    deps.log.info({ url: config.url, caName: config.caName }, 'ejbca-ws connector ready');
    return connector;
  },
} satisfies ConnectorFactory<EjbcaWsConfig>;
