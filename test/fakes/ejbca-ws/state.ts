/**
 * What the EJBCA double keeps and how it behaves, operation by operation, with the wire left to
 * server.ts: end entities with EJBCA's status machine (NEW=10 → GENERATED=40 on issuance,
 * USER_WRONG_STATUS on a second request, REVOKED=50/HISTORICAL=60 set by an officer), end entity
 * profiles with name rules and an approval count, certificate profiles (profiles.ts: key types and
 * validity, applied at issuance and exported as XML), approval requests, the certificates it issued
 * from its own CA, and revocations. Faults are thrown as EjbcaFault, named after the WSDL fault
 * element they become.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import type { webcrypto } from 'node:crypto';
import { type DoubleCa, type KeyedCert, issueWith, normalizeDn, parseAltNames, dnPairs, randomSerialHex } from './ca.js';
import { EC_BITS, certificateProfileXml, defaultCertificateProfiles, profileEnd, refusedKey, type CertificateProfile } from './profiles.js';

export const STATUS = { NEW: 10, FAILED: 11, INITIALIZED: 20, INPROCESS: 30, GENERATED: 40, REVOKED: 50, HISTORICAL: 60, KEYRECOVERY: 70 } as const;
/** Statuses from which EJBCA accepts a certificate request (EndEntityConstants / AuthenticationSession). */
const ENROLLABLE: readonly number[] = [STATUS.NEW, STATUS.FAILED, STATUS.INITIALIZED, STATUS.INPROCESS, STATUS.KEYRECOVERY];
const MATCH_WITH = { USERNAME: 0, EMAIL: 1, STATUS: 2, ENDENTITYPROFILE: 3, CERTIFICATEPROFILE: 4, CA: 5, DN: 7 } as const;
const MATCH_TYPE = { EQUALS: 0, BEGINSWITH: 1, CONTAINS: 2 } as const;
const MAX_QUERY_ROWS = 100;

export type FaultName =
  | 'AlreadyRevokedException'
  | 'ApprovalException'
  | 'AuthorizationDeniedException'
  | 'CADoesntExistsException'
  | 'EjbcaException'
  | 'IllegalQueryException'
  | 'NotFoundException'
  | 'UnknownProfileTypeException'
  | 'UserDoesntFullfillEndEntityProfile'
  | 'WaitingForApprovalException';

export class EjbcaFault extends Error {
  constructor(
    readonly element: FaultName,
    message: string,
    readonly fields: { errorCode?: string; requestId?: number } = {},
  ) {
    super(message);
  }
}

export interface EndEntity {
  username: string;
  password?: string;
  clearPwd: boolean;
  caName: string;
  certificateProfileName: string;
  endEntityProfileName: string;
  subjectDN: string;
  subjectAltName?: string;
  email?: string;
  status: number;
  tokenType: string;
  keyRecoverable: boolean;
  sendNotification: boolean;
  startTime?: string;
  endTime?: string;
  extendedInformation: { name: string; value: string }[];
}

export interface EndEntityProfile {
  /** EJBCA's id of the profile; default: one the double picks. */
  id?: number;
  /** Names of the certificate profiles it offers; each must be one of the double's certificate profiles. */
  certificateProfiles: string[];
  caNames: string[];
  /** Approvals needed to add or edit an end entity of this profile; 0: none. */
  approvalsRequired: number;
  /** Names the profile's DNS validator refuses (UserDoesntFullfillEndEntityProfile). */
  refuseNames?: RegExp;
}

export interface StoredCert {
  serial: string; // lower-case hex, no leading zeros
  issuerDn: string;
  username: string;
  der: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  revocation?: { reason: number; date: Date };
}

export interface Approval {
  id: number;
  username: string;
  action: EndEntity;
  required: number;
  approvedBy: number;
  state: 'waiting' | 'approved' | 'rejected';
}

export type ReplyFault = 'garbage' | 'unchained';

export interface UserMatch {
  matchwith: number;
  matchtype: number;
  matchvalue: string;
}

const hexSerial = (s: string) => BigInt(`0x${s.replace(/^0x/i, '').replace(/[:\s]/g, '') || '0'}`).toString(16);
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

function validDnsName(name: string): boolean {
  const labels = name.split('.');
  const rest = labels[0] === '*' ? labels.slice(1) : labels;
  return name.length <= 253 && rest.length >= 1 && rest.every((l) => LABEL.test(l));
}

/** EJBCA's validity override formats: "yyyy-MM-dd HH:mm[:ss][zone]" or relative "days:hours:minutes". */
function parseTime(value: string, from: Date): Date {
  const rel = /^(\d+):(\d+):(\d+)$/.exec(value);
  if (rel) return new Date(from.getTime() + (Number(rel[1]) * 1440 + Number(rel[2]) * 60 + Number(rel[3])) * 60_000);
  const abs = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}(?::\d{2})?)(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  const d = abs ? new Date(`${abs[1]}T${abs[2]}${abs[3] ?? 'Z'}`) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new EjbcaFault('EjbcaException', `Invalid date "${value}"; use "yyyy-MM-dd HH:mm:ssZZ" or "days:hours:minutes"`, { errorCode: 'FIELD_VALUE_NOT_VALID' });
  return d;
}

export interface DoubleStateOptions {
  ca: DoubleCa;
  clock: { now(): Date };
  caName?: string;
  /** Administrators (client certificate CN) allowed to use the RA operations. */
  admins?: string[];
  /** End entity profiles by name; default ACME_SERVER (offers SERVER) and ACME_REGISTRATION (ENDUSER, SERVER). */
  profiles?: Record<string, EndEntityProfile>;
  /** Certificate profiles by name; default SERVER and ENDUSER (profiles.ts defaultCertificateProfiles). */
  certificateProfiles?: Record<string, CertificateProfile>;
}

export interface NameAndId {
  id: number;
  name: string;
}

const byName = (a: NameAndId, b: NameAndId) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export class DoubleState {
  readonly caName: string;
  readonly endEntities = new Map<string, EndEntity>();
  readonly profiles = new Map<string, EndEntityProfile>();
  readonly certificateProfiles = new Map<string, CertificateProfile>();
  readonly certificates: StoredCert[] = [];
  readonly approvals = new Map<number, Approval>();
  readonly admins: Set<string>;
  private nextApprovalId = 4711;
  private replyFaults: ReplyFault[] = [];
  private nextProfileId = 1_450_000_001;

  constructor(private readonly opts: DoubleStateOptions) {
    this.caName = opts.caName ?? 'DoubleIssuingCA';
    this.admins = new Set(opts.admins ?? [opts.ca.admin.cert.subjectName.getField('CN')[0] ?? 'gateway-ra-admin']);
    const defaults: Record<string, EndEntityProfile> = {
      ACME_SERVER: { certificateProfiles: ['SERVER'], caNames: [this.caName], approvalsRequired: 0, refuseNames: /(^|\.)refused\.example\.test$/ },
      ACME_REGISTRATION: { certificateProfiles: ['ENDUSER', 'SERVER'], caNames: [this.caName], approvalsRequired: 0 },
    };
    for (const [name, cp] of Object.entries(opts.certificateProfiles ?? defaultCertificateProfiles())) this.certificateProfiles.set(name, cp);
    for (const [name, p] of Object.entries(opts.profiles ?? defaults)) {
      const missing = p.certificateProfiles.filter((cp) => !this.certificateProfiles.has(cp));
      if (missing.length > 0) throw new Error(`end entity profile ${name} offers unknown certificate profile(s) ${missing.join(', ')}`);
      this.profiles.set(name, p);
    }
  }

  /** An end entity profile's id; one is picked (and kept) for a profile that has none. */
  endEntityProfileId(name: string): number {
    const p = this.profiles.get(name);
    if (!p) throw new Error(`no end entity profile ${name}`);
    p.id ??= this.nextProfileId++;
    return p.id;
  }

  private get ca(): KeyedCert {
    return this.opts.ca.issuing;
  }

  /** AuthorizationDeniedException unless the TLS client is a known administrator. */
  authorize(adminCn: string | undefined): void {
    if (adminCn === undefined || !this.admins.has(adminCn)) {
      throw new EjbcaFault('AuthorizationDeniedException', `Administrator "${adminCn ?? '(none)'}" is not authorized to resource /ra_functionality`);
    }
  }

  injectReplyFault(kind: ReplyFault): void {
    this.replyFaults.push(kind);
  }

  // ---------------------------------------------------------------- end entities

  private checkProfile(u: EndEntity): void {
    if (u.caName !== this.caName) throw new EjbcaFault('CADoesntExistsException', `CA with name ${u.caName} doesn't exist.`);
    const eep = this.profiles.get(u.endEntityProfileName);
    if (!eep) throw new EjbcaFault('EjbcaException', `Error End Entity profile ${u.endEntityProfileName} doesn't exists.`, { errorCode: 'EE_PROFILE_NOT_EXISTS' });
    if (!this.certificateProfiles.has(u.certificateProfileName)) throw new EjbcaFault('EjbcaException', `Error Certificate profile ${u.certificateProfileName} doesn't exists.`, { errorCode: 'CERT_PROFILE_NOT_EXISTS' });
    const refuse = (msg: string) => new EjbcaFault('UserDoesntFullfillEndEntityProfile', msg);
    if (!eep.certificateProfiles.includes(u.certificateProfileName)) throw refuse(`Certificate profile ${u.certificateProfileName} is not available in end entity profile ${u.endEntityProfileName}.`);
    if (!['USERGENERATED', 'P12', 'JKS', 'PEM'].includes(u.tokenType)) throw refuse(`Token type ${u.tokenType} is not allowed.`);
    let dn: { type: string; value: string }[];
    let alt: { type: 'dns' | 'ip'; value: string }[];
    try {
      dn = dnPairs(u.subjectDN);
      alt = parseAltNames(u.subjectAltName);
    } catch (e) {
      throw refuse(e instanceof Error ? e.message : String(e));
    }
    if (!dn.some((p) => p.type === 'CN')) throw refuse('Subject DN field CN is required.');
    for (const n of alt) {
      const ok = n.type === 'dns' ? validDnsName(n.value) : isIP(n.value) !== 0;
      if (!ok) throw refuse(`Field ${n.type === 'dns' ? 'DNSNAME' : 'IPADDRESS'} value '${n.value}' is not valid.`);
      if (n.type === 'dns' && eep.refuseNames?.test(n.value)) throw refuse(`Field DNSNAME value '${n.value}' was refused by the DNS validator of end entity profile ${u.endEntityProfileName}.`);
    }
  }

  /** ejbcaws.wsdl editUser: adds or changes an end entity; may instead queue it for approval. */
  editUser(u: EndEntity): void {
    this.checkProfile(u);
    const eep = this.profiles.get(u.endEntityProfileName);
    if (eep && eep.approvalsRequired > 0) {
      const waiting = [...this.approvals.values()].find((a) => a.username === u.username && a.state === 'waiting');
      if (waiting) throw new EjbcaFault('ApprovalException', 'There is already an approval request for this end entity.', { errorCode: 'APPROVAL_ALREADY_EXISTS' });
      const id = this.nextApprovalId++;
      this.approvals.set(id, { id, username: u.username, action: { ...u }, required: eep.approvalsRequired, approvedBy: 0, state: 'waiting' });
      throw new EjbcaFault('WaitingForApprovalException', `Adding end entity ${u.username} is waiting for approval.`, { requestId: id });
    }
    this.store(u);
  }

  private store(u: EndEntity): void {
    const before = this.endEntities.get(u.username);
    this.endEntities.set(u.username, { ...u, password: u.password ?? before?.password });
  }

  /** ejbcaws.wsdl findUser: at most 100 end entities; passwords are never returned. */
  findUser(m: UserMatch): EndEntity[] {
    const test = (v: string | undefined): boolean => {
      if (v === undefined) return false;
      if (m.matchtype === MATCH_TYPE.EQUALS) return v === m.matchvalue;
      if (m.matchtype === MATCH_TYPE.BEGINSWITH) return v.startsWith(m.matchvalue);
      if (m.matchtype === MATCH_TYPE.CONTAINS) return v.includes(m.matchvalue);
      throw new EjbcaFault('IllegalQueryException', `Illegal match type ${m.matchtype}`);
    };
    const field: Record<number, (u: EndEntity) => string | undefined> = {
      [MATCH_WITH.USERNAME]: (u) => u.username,
      [MATCH_WITH.EMAIL]: (u) => u.email,
      [MATCH_WITH.STATUS]: (u) => String(u.status),
      [MATCH_WITH.ENDENTITYPROFILE]: (u) => u.endEntityProfileName,
      [MATCH_WITH.CERTIFICATEPROFILE]: (u) => u.certificateProfileName,
      [MATCH_WITH.CA]: (u) => u.caName,
      [MATCH_WITH.DN]: (u) => u.subjectDN,
    };
    const get = field[m.matchwith];
    if (!get) throw new EjbcaFault('IllegalQueryException', `The double does not support matchwith ${m.matchwith}`);
    if ((m.matchwith === MATCH_WITH.STATUS || m.matchwith >= MATCH_WITH.ENDENTITYPROFILE) && m.matchtype !== MATCH_TYPE.EQUALS) {
      throw new EjbcaFault('IllegalQueryException', `matchwith ${m.matchwith} only takes matchtype EQUALS`);
    }
    return [...this.endEntities.values()].filter((u) => test(get(u))).slice(0, MAX_QUERY_ROWS).map((u) => ({ ...u, password: undefined }));
  }

  // ---------------------------------------------------------------- issuance

  /** ejbcaws.wsdl pkcs10Request: "must be preceded by a editUser call"; only the CSR's key is used. */
  async pkcs10Request(username: string, password: string | undefined, pkcs10: string): Promise<Uint8Array> {
    const u = this.endEntities.get(username);
    if (!u) throw new EjbcaFault('NotFoundException', `User ${username} does not exist.`);
    if (!ENROLLABLE.includes(u.status)) {
      throw new EjbcaFault('EjbcaException', `Got request for user ${username} with status ${u.status}; expected NEW (10).`, { errorCode: 'USER_WRONG_STATUS' });
    }
    if (u.password === undefined || password !== u.password) throw new EjbcaFault('EjbcaException', 'Wrong username or password', { errorCode: 'LOGIN_ERROR' });
    const cp = this.certificateProfiles.get(u.certificateProfileName);
    if (!cp) throw new EjbcaFault('EjbcaException', `Certificate profile ${u.certificateProfileName} doesn't exist.`, { errorCode: 'CERT_PROFILE_NOT_EXISTS' });
    const publicKey = await this.csrKey(pkcs10, cp);
    const now = this.opts.clock.now();
    const notBefore = u.startTime ? parseTime(u.startTime, now) : now;
    const longest = profileEnd(cp, notBefore);
    if (!longest) throw new EjbcaFault('EjbcaException', `Certificate profile ${u.certificateProfileName} has no usable validity.`, { errorCode: 'INTERNAL_ERROR' });
    // A requested end (validity override) later than the profile allows is cut to the profile's; so is one after the CA's.
    let notAfter = u.endTime ? parseTime(u.endTime, notBefore) : longest;
    if (notAfter.getTime() > longest.getTime()) notAfter = longest;
    if (notAfter.getTime() > this.ca.cert.notAfter.getTime()) notAfter = this.ca.cert.notAfter;
    const options = {
      dn: u.subjectDN,
      publicKey,
      serialHex: randomSerialHex(),
      notBefore,
      notAfter,
      altNames: parseAltNames(u.subjectAltName),
      usages: ['serverAuth' as const],
      keyEncipherment: publicKey.algorithm.name === 'RSASSA-PKCS1-v1_5',
    };
    const cert = await issueWith(this.ca, options);
    const der = new Uint8Array(cert.rawData);
    this.certificates.push({ serial: hexSerial(cert.serialNumber), issuerDn: this.ca.dn, username, der, notBefore, notAfter });
    this.endEntities.set(username, { ...u, status: STATUS.GENERATED });
    const fault = this.replyFaults.shift();
    if (fault === 'garbage') return new TextEncoder().encode('this is not a certificate');
    if (fault === 'unchained') return new Uint8Array((await issueWith(this.opts.ca.stray, options)).rawData);
    return der;
  }

  /** The CSR's key, if its signature verifies and the certificate profile allows it (CertificateProfile.verifyKey). */
  private async csrKey(pkcs10: string, cp: CertificateProfile): Promise<webcrypto.CryptoKey> {
    const bad = (msg: string, errorCode = 'BAD_REQUEST_SIGNATURE') => new EjbcaFault('EjbcaException', msg, { errorCode });
    let csr: x509.Pkcs10CertificateRequest;
    try {
      const b64 = pkcs10.replace(/-----(BEGIN|END)[A-Z ]+-----/g, '').replace(/\s+/g, '');
      csr = new x509.Pkcs10CertificateRequest(Buffer.from(b64, 'base64'));
    } catch {
      throw bad('Can not decode the PKCS#10 request.');
    }
    if (!(await csr.verify().catch(() => false))) throw bad('Verification of the PKCS#10 request signature failed.');
    const alg = csr.publicKey.algorithm;
    const key = await csr.publicKey.export(alg, ['verify']).catch(() => undefined);
    if (!key) throw bad('Unsupported key in the PKCS#10 request.', 'ILLEGAL_KEY');
    const name = key.algorithm.name;
    const curve = 'namedCurve' in key.algorithm ? String(key.algorithm.namedCurve) : undefined;
    const algorithm = name.startsWith('RSA') ? 'RSA' : name === 'ECDSA' ? 'ECDSA' : name;
    const bits = 'modulusLength' in key.algorithm ? Number(key.algorithm.modulusLength) : (EC_BITS[curve ?? ''] ?? 0);
    const refused = refusedKey(cp, { algorithm, bits, ...(curve ? { curve } : {}) });
    if (refused) throw bad(refused, 'ILLEGAL_KEY');
    return key;
  }

  /** ejbcaws.wsdl certificateRequest: editUser with status NEW, then the request, in one call. */
  async certificateRequest(u: EndEntity, requestData: string, requestType: number): Promise<Uint8Array> {
    if (requestType !== 0) throw new EjbcaFault('EjbcaException', `The double only takes PKCS10 (0) requests, not ${requestType}.`, { errorCode: 'NOT_SUPPORTED_REQUEST_TYPE' });
    this.editUser({ ...u, status: STATUS.NEW });
    return this.pkcs10Request(u.username, u.password, requestData);
  }

  findCerts(username: string, onlyValid: boolean): StoredCert[] {
    const now = this.opts.clock.now().getTime();
    return this.certificates.filter((c) => c.username === username && (!onlyValid || (c.revocation === undefined && c.notAfter.getTime() > now)));
  }

  /** ejbcaws.wsdl getLastCAChain: the issuing CA first, then its parents. */
  caChain(caName: string): Uint8Array[] {
    if (caName !== this.caName) throw new EjbcaFault('CADoesntExistsException', `CA with name ${caName} doesn't exist.`);
    return [this.ca.cert, this.opts.ca.root.cert].map((c) => new Uint8Array(c.rawData));
  }

  // ---------------------------------------------------------------- profiles

  /** ejbcaws.wsdl getAuthorizedEndEntityProfiles: the administrator may use every profile; sorted by name. */
  authorizedEndEntityProfiles(): NameAndId[] {
    return [...this.profiles.keys()].map((name) => ({ id: this.endEntityProfileId(name), name })).sort(byName);
  }

  /** ejbcaws.wsdl getAvailableCertificateProfiles: an unknown end entity profile id gives an empty list (EJBCA ignores EndEntityProfileNotFoundException). */
  availableCertificateProfiles(endEntityProfileId: number): NameAndId[] {
    const eep = [...this.profiles.keys()].find((name) => this.endEntityProfileId(name) === endEntityProfileId);
    if (eep === undefined) return [];
    return (this.profiles.get(eep)?.certificateProfiles ?? []).map((name) => ({ id: this.certificateProfile(name).id, name })).sort(byName);
  }

  certificateProfile(name: string): CertificateProfile {
    const cp = this.certificateProfiles.get(name);
    if (!cp) throw new Error(`no certificate profile ${name}`);
    return cp;
  }

  /** ejbcaws.wsdl getProfile(id, type): type "cp" (any case) gives the certificate profile's XMLEncoder XML. */
  profileXml(id: number, type: string): string {
    const kind = type.toLowerCase();
    if (kind === 'cp') {
      const cp = [...this.certificateProfiles.values()].find((p) => p.id === id);
      // EJBCA wraps CertificateProfileDoesNotExistException as an internal error.
      if (!cp) throw new EjbcaFault('EjbcaException', `Could not find certificate profile with ID ${id}.`, { errorCode: 'INTERNAL_ERROR' });
      return certificateProfileXml(cp);
    }
    if (kind === 'eep') throw new EjbcaFault('EjbcaException', 'End entity profiles as XML are not implemented by the EJBCA double.', { errorCode: 'INTERNAL_ERROR' });
    throw new EjbcaFault('UnknownProfileTypeException', `Unknown profile type '${type}'. Recognized types are 'eep' for End Entity Profiles and 'cp' for Certificate Profiles`);
  }

  // ---------------------------------------------------------------- revocation

  private find(issuerDn: string, serialHex: string): StoredCert | undefined {
    let dn: string;
    let serial: string;
    try {
      dn = normalizeDn(issuerDn);
      serial = hexSerial(serialHex);
    } catch {
      return undefined;
    }
    return this.certificates.find((c) => c.issuerDn === dn && c.serial === serial);
  }

  /** ejbcaws.wsdl revokeCert(arg0 issuerDN, arg1 hex serial, arg2 reason). */
  revokeCert(issuerDn: string, serialHex: string, reason: number): void {
    if (![-1, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10].includes(reason)) throw new EjbcaFault('EjbcaException', `Illegal revocation reason ${reason}`, { errorCode: 'INVALID_REVOCATION_REASON' });
    const c = this.find(issuerDn, serialHex);
    if (!c) throw new EjbcaFault('NotFoundException', `Could not find certificate with serial ${serialHex} and issuer "${issuerDn}".`);
    if (reason === -1) {
      if (c.revocation?.reason !== 6) throw new EjbcaFault('AlreadyRevokedException', 'Only a certificate on hold can be released.');
      c.revocation = undefined;
      return;
    }
    if (c.revocation !== undefined && c.revocation.reason !== 6) throw new EjbcaFault('AlreadyRevokedException', `Certificate with serial ${c.serial} is already revoked.`);
    c.revocation = { reason, date: this.opts.clock.now() };
  }

  /** ejbcaws.wsdl checkRevokationStatus: undefined for an unknown certificate; reason -1 when not revoked. */
  revocationStatus(issuerDn: string, serialHex: string): { certificateSN: string; issuerDN: string; reason: number; revocationDate?: Date } | undefined {
    const c = this.find(issuerDn, serialHex);
    if (!c) return undefined;
    return { certificateSN: c.serial, issuerDN: c.issuerDn, reason: c.revocation?.reason ?? -1, ...(c.revocation ? { revocationDate: c.revocation.date } : {}) };
  }

  // ---------------------------------------------------------------- approvals

  /** ejbcaws.wsdl getRemainingNumberOfApprovals: >0 waiting, 0 approved, -1 rejected. */
  remainingApprovals(id: number): number {
    const a = this.approvals.get(id);
    if (!a) throw new EjbcaFault('ApprovalException', `Approval request with id ${id} does not exist.`, { errorCode: 'APPROVAL_REQUEST_ID_NOT_EXIST' });
    if (a.state === 'rejected') return -1;
    return a.state === 'approved' ? 0 : a.required - a.approvedBy;
  }

  /** An officer approves; with the last approval EJBCA executes the stored action. */
  approve(id: number): Approval {
    const a = this.waiting(id);
    a.approvedBy++;
    if (a.approvedBy >= a.required) {
      a.state = 'approved';
      this.store(a.action);
    }
    return a;
  }

  reject(id: number): Approval {
    const a = this.waiting(id);
    a.state = 'rejected';
    return a;
  }

  private waiting(id: number): Approval {
    const a = this.approvals.get(id);
    if (!a) throw new Error(`no approval request ${id}`);
    if (a.state !== 'waiting') throw new Error(`approval request ${id} is ${a.state}, not waiting`);
    return a;
  }

  // ---------------------------------------------------------------- officer actions

  endEntity(username: string): EndEntity {
    const u = this.endEntities.get(username);
    if (!u) throw new Error(`no end entity ${username}`);
    return u;
  }

  setStatus(username: string, status: number): void {
    this.endEntities.set(username, { ...this.endEntity(username), status });
  }

  /** Sets the subjectAltName, as an officer editing the end entity in the admin GUI does. */
  setAltNames(username: string, names: readonly string[]): void {
    const san = names.map((n) => (isIP(n) !== 0 ? `iPAddress=${n}` : `dNSName=${n}`)).join(', ');
    this.endEntities.set(username, { ...this.endEntity(username), subjectAltName: san });
  }

  certificate(serialHex: string): StoredCert {
    const serial = hexSerial(serialHex);
    const c = this.certificates.find((x) => x.serial === serial);
    if (!c) throw new Error(`no certificate ${serialHex}`);
    return c;
  }
}
