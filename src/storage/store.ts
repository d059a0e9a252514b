/**
 * The storage seam. `sql/` implements it on Kysely for SQLite and PostgreSQL; everything else sees
 * only these interfaces and records. Records are plain data; times are Date, binary is Uint8Array.
 */
import type {
  AccountStatus,
  AuthorizationStatus,
  ChallengeStatus,
  ChallengeType,
  Identifier,
  OrderStatus,
  ProblemDocument,
} from '../protocol/types.js';

export type AccountId = string & { readonly __brand: 'AccountId' };
export type OrderId = string & { readonly __brand: 'OrderId' };
export type AuthzId = string & { readonly __brand: 'AuthzId' };
export type ChallengeId = string & { readonly __brand: 'ChallengeId' };
export type CertificateId = string & { readonly __brand: 'CertificateId' };

export interface AccountRecord {
  id: AccountId;
  profile: string;
  status: AccountStatus;
  /** The account key as a public JWK (RFC 7517), and its RFC 7638 SHA-256 thumbprint. */
  jwk: Record<string, unknown>;
  jwkThumbprint: string;
  contact: string[];
  termsAgreedAt: Date | null;
  /** The terms version (URL) agreed to, so a profile can ask for agreement again (RFC 8555 §7.3.3). */
  termsAgreedVersion: string | null;
  eabKid: string | null;
  /** The legacy registration this account maps to (issue #4). */
  registrationId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChallengeRecord {
  id: ChallengeId;
  authzId: AuthzId;
  type: ChallengeType;
  token: string;
  status: ChallengeStatus;
  validatedAt: Date | null;
  error: ProblemDocument | null;
  /** What the validator saw (addresses, URLs), kept for audit. */
  validationRecord: unknown[] | null;
  updatedAt: Date;
}

export interface AuthzRecord {
  id: AuthzId;
  accountId: AccountId;
  orderId: OrderId;
  profile: string;
  /** For a wildcard order `*.example.com`: value "example.com" and wildcard true (RFC 8555 §7.1.4). */
  identifier: Identifier;
  wildcard: boolean;
  status: AuthorizationStatus;
  expires: Date;
  challenges: ChallengeRecord[];
  createdAt: Date;
  updatedAt: Date;
}

export interface OrderRecord {
  id: OrderId;
  accountId: AccountId;
  profile: string;
  status: OrderStatus;
  expires: Date;
  identifiers: Identifier[];
  notBefore: Date | null;
  notAfter: Date | null;
  authzIds: AuthzId[];
  error: ProblemDocument | null;
  certificateId: CertificateId | null;
  /** Finalize: the CSR (DER) kept until the backend answers, so a restart can resubmit it. */
  csr: Uint8Array | null;
  /** The backend's request id when issuance is pending (approval, outage). */
  ticket: string | null;
  /** When the issuance reconciler should look at this order next; null when nothing is due. */
  nextCheckAt: Date | null;
  issuanceAttempts: number;
  /** Lease for the reconciler, so two instances never poll one request at once. */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  /** The audit record of the policy that applied (profile, template, validation mode, refusals). */
  policy: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface CertificateRecord {
  id: CertificateId;
  orderId: OrderId;
  accountId: AccountId;
  profile: string;
  serial: string;
  issuer: string;
  /** Leaf first, then the chain, as PEM. */
  chainPem: string;
  identifiers: Identifier[];
  notBefore: Date;
  notAfter: Date;
  /** base64url SHA-256 of the leaf's SubjectPublicKeyInfo, to match a revocation signed by the certificate key. */
  spkiSha256: string;
  revokedAt: Date | null;
  revocationReason: number | null;
  createdAt: Date;
  /** base64url of the AKI keyIdentifier: with the serial, the ARI certID (RFC 9773 §4.1). */
  authorityKeyId: string | null;
  /** The order that replaced this certificate (RFC 9773 §5); a certificate is replaced once. */
  replacedBy: OrderId | null;
}

export interface EabKeyRecord {
  kid: string;
  profile: string;
  /** The HMAC key (raw bytes). Never logged. */
  hmacKey: Uint8Array;
  /** The legacy registration the key is tied to (issue #4); null when none. */
  registrationId: string | null;
  maxBindings: number;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, or null when this is the last one. */
  next: string | null;
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly what: string) {
    super(`${what} does not exist`);
  }
}

/** A write lost a race or broke a uniqueness rule (same key registered twice, stale status). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(message: string, readonly existingId?: string) {
    super(message);
  }
}

/** Reads, for handlers that never write. */
export interface StoreReader {
  getAccount(id: AccountId): Promise<AccountRecord | undefined>;
  findAccountByThumbprint(profile: string, thumbprint: string): Promise<AccountRecord | undefined>;
  getOrder(id: OrderId): Promise<OrderRecord | undefined>;
  /** Orders of one account, newest first. */
  listOrders(accountId: AccountId, cursor: string | null, limit: number): Promise<Page<OrderId>>;
  getAuthz(id: AuthzId): Promise<AuthzRecord | undefined>;
  getAuthzs(ids: readonly AuthzId[]): Promise<AuthzRecord[]>;
  /** The account's valid authorizations for an identifier that have not expired at `now`. */
  findValidAuthzs(accountId: AccountId, identifier: Identifier, now: Date): Promise<AuthzRecord[]>;
  getChallenge(id: ChallengeId): Promise<ChallengeRecord | undefined>;
  getCertificate(id: CertificateId): Promise<CertificateRecord | undefined>;
  findCertificateBySerial(serial: string): Promise<CertificateRecord | undefined>;
  getEabKey(kid: string): Promise<EabKeyRecord | undefined>;
  /** Accounts mapped to a legacy registration, oldest first. */
  listAccountsByRegistration(registrationId: string): Promise<AccountRecord[]>;
  /** Accounts bound through an EAB key, oldest first. */
  listAccountsByEab(kid: string): Promise<AccountRecord[]>;
  countAccountsForEab(kid: string): Promise<number>;
  /** Orders whose issuance is due for a check by the reconciler. */
  listDueOrders(now: Date, limit: number): Promise<OrderRecord[]>;
  /**
   * Challenges in `processing` since `updatedAt` at or before `before` (a validation no instance
   * finished: the process died), of authorizations still pending and unexpired at `now`; oldest first.
   */
  listStaleChallenges(before: Date, now: Date, limit: number): Promise<ChallengeRecord[]>;
  /**
   * Certificates not revoked and not expired at `now` (notAfter later than it), soonest to expire
   * first; the cursor names the last one returned (keyset paging, so a walk over every
   * certificate holds one page in memory at a time).
   */
  listUnrevokedCertificates(now: Date, cursor: string | null, limit: number): Promise<Page<CertificateRecord>>;
}

/** Writes happen inside a transaction; a rejected request changes nothing. */
export interface StoreTx extends StoreReader {
  insertAccount(a: AccountRecord): Promise<void>;
  updateAccount(a: AccountRecord): Promise<void>;
  insertOrder(o: OrderRecord, authzs: AuthzRecord[]): Promise<void>;
  updateOrder(o: OrderRecord): Promise<void>;
  updateAuthz(a: AuthzRecord): Promise<void>;
  updateChallenge(c: ChallengeRecord): Promise<void>;
  insertCertificate(c: CertificateRecord): Promise<void>;
  updateCertificate(c: CertificateRecord): Promise<void>;
  insertEabKey(k: EabKeyRecord): Promise<void>;
  updateEabKey(k: EabKeyRecord): Promise<void>;
  /**
   * Reads an order and holds it until the transaction ends, so two transactions that both derive
   * the order's status from its authorizations (two challenges validated at once on two instances)
   * run one after the other and the second sees the first's writes. PostgreSQL: SELECT … FOR UPDATE;
   * SQLite: its single writer already serialises transactions.
   */
  getOrderForUpdate(id: OrderId): Promise<OrderRecord | undefined>;
  /** Takes the reconciler's lease on an order if it is free or expired; true when taken. */
  tryLease(orderId: OrderId, owner: string, until: Date, now: Date): Promise<boolean>;
  /**
   * Takes a stale challenge (see listStaleChallenges) for a resumed validation: when it is still
   * `processing` with `updatedAt` at or before `before`, its `updatedAt` becomes `now` and true is
   * returned. One conditional UPDATE, so of several instances racing for it one wins, and the
   * challenge is not stale again before `now` + the staleness age.
   */
  claimStaleChallenge(id: ChallengeId, before: Date, now: Date): Promise<boolean>;
}

export interface Store extends StoreReader {
  /** RFC 8555 §6.5 across instances: records a used nonce; false when it was used before. */
  useNonce(nonce: string, expiresAt: Date): Promise<boolean>;
  pruneNonces(now: Date): Promise<number>;
  /**
   * Takes or extends the lease on a background job that one instance at a time should run: taken
   * when nobody holds it, when it ran out by `now`, or when `owner` holds it already; true when taken.
   */
  tryJobLease(job: string, owner: string, until: Date, now: Date): Promise<boolean>;
  /** A named secret shared by every instance; created with `create()` by the first to ask. */
  sharedSecret(name: string, create: () => Uint8Array): Promise<Uint8Array>;
  /** Runs `fn` in one transaction; a throw rolls everything back. Never call a backend inside. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
