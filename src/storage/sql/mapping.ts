/**
 * The one place that turns records into rows and rows into records, for both dialects: Date ⇄
 * epoch milliseconds, objects ⇄ JSON text, Uint8Array ⇄ Buffer, boolean ⇄ 0/1. Rows come from our
 * own migrations, so JSON read back is trusted to have the shape it was written with.
 */
import type {
  AccountId,
  AccountRecord,
  AuthzId,
  AuthzRecord,
  CertificateId,
  CertificateRecord,
  ChallengeId,
  ChallengeRecord,
  EabKeyRecord,
  OrderId,
  OrderRecord,
} from '../store.js';
import type {
  AccountStatus,
  AuthorizationStatus,
  ChallengeStatus,
  ChallengeType,
  Identifier,
  IdentifierType,
  OrderStatus,
  ProblemDocument,
} from '../../protocol/types.js';
import { base64url } from '../../lib/base64url.js';
import type {
  AccountsTable,
  AuthorizationsTable,
  CertificatesTable,
  ChallengesTable,
  EabKeysTable,
  EpochMs,
  JsonText,
  OrdersTable,
} from './schema.js';

// --- scalars ---------------------------------------------------------------------------------

export const toMs = (d: Date): EpochMs => d.getTime();
export const toMsOrNull = (d: Date | null): EpochMs | null => (d === null ? null : d.getTime());
const fromMs = (ms: EpochMs): Date => new Date(ms);
const fromMsOrNull = (ms: EpochMs | null): Date | null => (ms === null ? null : new Date(ms));

const toJson = (v: unknown): JsonText => JSON.stringify(v);
const toJsonOrNull = (v: unknown): JsonText | null => (v === null ? null : JSON.stringify(v));
const fromJson = <T>(text: JsonText): T => JSON.parse(text) as T;
const fromJsonOrNull = <T>(text: JsonText | null): T | null => (text === null ? null : (JSON.parse(text) as T));

/** A Buffer view over the same bytes (no copy): both drivers bind Buffers as BLOB/bytea. */
const toBlob = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
/** A plain Uint8Array copy, so records never carry a driver's Buffer. */
const fromBlob = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

// --- accounts --------------------------------------------------------------------------------

export function accountToRow(a: AccountRecord): AccountsTable {
  return {
    id: a.id,
    profile: a.profile,
    status: a.status,
    jwk: toJson(a.jwk),
    jwk_thumbprint: a.jwkThumbprint,
    contact: toJson(a.contact),
    terms_agreed_at: toMsOrNull(a.termsAgreedAt),
    terms_agreed_version: a.termsAgreedVersion,
    eab_kid: a.eabKid,
    registration_id: a.registrationId,
    created_at: toMs(a.createdAt),
    updated_at: toMs(a.updatedAt),
  };
}

export function rowToAccount(r: AccountsTable): AccountRecord {
  return {
    id: r.id as AccountId,
    profile: r.profile,
    status: r.status as AccountStatus,
    jwk: fromJson<Record<string, unknown>>(r.jwk),
    jwkThumbprint: r.jwk_thumbprint,
    contact: fromJson<string[]>(r.contact),
    termsAgreedAt: fromMsOrNull(r.terms_agreed_at),
    termsAgreedVersion: r.terms_agreed_version,
    eabKid: r.eab_kid,
    registrationId: r.registration_id,
    createdAt: fromMs(r.created_at),
    updatedAt: fromMs(r.updated_at),
  };
}

// --- orders ----------------------------------------------------------------------------------

export function orderToRow(o: OrderRecord): OrdersTable {
  return {
    id: o.id,
    account_id: o.accountId,
    profile: o.profile,
    status: o.status,
    expires: toMs(o.expires),
    identifiers: toJson(o.identifiers),
    not_before: toMsOrNull(o.notBefore),
    not_after: toMsOrNull(o.notAfter),
    authz_ids: toJson(o.authzIds),
    error: toJsonOrNull(o.error),
    certificate_id: o.certificateId,
    csr: o.csr === null ? null : toBlob(o.csr),
    ticket: o.ticket,
    next_check_at: toMsOrNull(o.nextCheckAt),
    issuance_attempts: o.issuanceAttempts,
    lease_owner: o.leaseOwner,
    lease_until: toMsOrNull(o.leaseUntil),
    policy: toJsonOrNull(o.policy),
    created_at: toMs(o.createdAt),
    updated_at: toMs(o.updatedAt),
  };
}

export function rowToOrder(r: OrdersTable): OrderRecord {
  return {
    id: r.id as OrderId,
    accountId: r.account_id as AccountId,
    profile: r.profile,
    status: r.status as OrderStatus,
    expires: fromMs(r.expires),
    identifiers: fromJson<Identifier[]>(r.identifiers),
    notBefore: fromMsOrNull(r.not_before),
    notAfter: fromMsOrNull(r.not_after),
    authzIds: fromJson<AuthzId[]>(r.authz_ids),
    error: fromJsonOrNull<ProblemDocument>(r.error),
    certificateId: r.certificate_id as CertificateId | null,
    csr: r.csr === null ? null : fromBlob(r.csr),
    ticket: r.ticket,
    nextCheckAt: fromMsOrNull(r.next_check_at),
    issuanceAttempts: r.issuance_attempts,
    leaseOwner: r.lease_owner,
    leaseUntil: fromMsOrNull(r.lease_until),
    policy: fromJsonOrNull<Record<string, unknown>>(r.policy),
    createdAt: fromMs(r.created_at),
    updatedAt: fromMs(r.updated_at),
  };
}

/** Opaque listOrders cursor: the last item's (created_at, id), the page's sort key. */
export function encodeOrderCursor(createdAt: EpochMs, id: string): string {
  return base64url.encode(`${createdAt}.${id}`);
}

export function decodeOrderCursor(cursor: string): { createdAt: EpochMs; id: string } | undefined {
  const text = base64url.decodeString(cursor);
  const dot = text?.indexOf('.') ?? -1;
  if (text === undefined || dot < 1) return undefined;
  const createdAt = Number(text.slice(0, dot));
  if (!Number.isSafeInteger(createdAt)) return undefined;
  return { createdAt, id: text.slice(dot + 1) };
}

/** Opaque listUnrevokedCertificates cursor: the last item's (not_after, id), the page's sort key. */
export const encodeCertificateCursor = (notAfter: EpochMs, id: string): string => encodeOrderCursor(notAfter, id);

export function decodeCertificateCursor(cursor: string): { notAfter: EpochMs; id: string } | undefined {
  const at = decodeOrderCursor(cursor);
  return at && { notAfter: at.createdAt, id: at.id };
}

// --- authorizations and challenges -----------------------------------------------------------

export function authzToRow(a: AuthzRecord): AuthorizationsTable {
  return {
    id: a.id,
    account_id: a.accountId,
    order_id: a.orderId,
    profile: a.profile,
    identifier_type: a.identifier.type,
    identifier_value: a.identifier.value,
    wildcard: a.wildcard ? 1 : 0,
    status: a.status,
    expires: toMs(a.expires),
    created_at: toMs(a.createdAt),
    updated_at: toMs(a.updatedAt),
  };
}

export function challengeToRow(c: ChallengeRecord, position: number): ChallengesTable {
  return {
    id: c.id,
    authz_id: c.authzId,
    position,
    type: c.type,
    token: c.token,
    status: c.status,
    validated_at: toMsOrNull(c.validatedAt),
    error: toJsonOrNull(c.error),
    validation_record: toJsonOrNull(c.validationRecord),
    updated_at: toMs(c.updatedAt),
  };
}

/** The mutable columns of a challenge, for updates (position and identity never change). */
export function challengeUpdate(c: ChallengeRecord): Pick<ChallengesTable, 'status' | 'validated_at' | 'error' | 'validation_record' | 'updated_at'> {
  return {
    status: c.status,
    validated_at: toMsOrNull(c.validatedAt),
    error: toJsonOrNull(c.error),
    validation_record: toJsonOrNull(c.validationRecord),
    updated_at: toMs(c.updatedAt),
  };
}

export function rowToChallenge(r: Omit<ChallengesTable, 'position'>): ChallengeRecord {
  return {
    id: r.id as ChallengeId,
    authzId: r.authz_id as AuthzId,
    type: r.type as ChallengeType,
    token: r.token,
    status: r.status as ChallengeStatus,
    validatedAt: fromMsOrNull(r.validated_at),
    error: fromJsonOrNull<ProblemDocument>(r.error),
    validationRecord: fromJsonOrNull<unknown[]>(r.validation_record),
    updatedAt: fromMs(r.updated_at),
  };
}

/** One row of `authorizations LEFT JOIN challenges`, the challenge columns prefixed `c_`. */
export interface AuthzJoinRow extends AuthorizationsTable {
  c_id: string | null;
  c_type: string | null;
  c_token: string | null;
  c_status: string | null;
  c_validated_at: EpochMs | null;
  c_error: JsonText | null;
  c_validation_record: JsonText | null;
  c_updated_at: EpochMs | null;
}

/** Folds join rows (sorted by authorization, then challenge position) into records, in row order. */
export function rowsToAuthzs(rows: readonly AuthzJoinRow[]): AuthzRecord[] {
  const byId = new Map<string, AuthzRecord>();
  for (const r of rows) {
    let authz = byId.get(r.id);
    if (authz === undefined) {
      authz = {
        id: r.id as AuthzId,
        accountId: r.account_id as AccountId,
        orderId: r.order_id as OrderId,
        profile: r.profile,
        identifier: { type: r.identifier_type as IdentifierType, value: r.identifier_value },
        wildcard: r.wildcard !== 0,
        status: r.status as AuthorizationStatus,
        expires: fromMs(r.expires),
        challenges: [],
        createdAt: fromMs(r.created_at),
        updatedAt: fromMs(r.updated_at),
      };
      byId.set(r.id, authz);
    }
    if (r.c_id !== null && r.c_type !== null && r.c_token !== null && r.c_status !== null && r.c_updated_at !== null) {
      authz.challenges.push(
        rowToChallenge({
          id: r.c_id,
          authz_id: r.id,
          type: r.c_type,
          token: r.c_token,
          status: r.c_status,
          validated_at: r.c_validated_at,
          error: r.c_error,
          validation_record: r.c_validation_record,
          updated_at: r.c_updated_at,
        }),
      );
    }
  }
  return [...byId.values()];
}

// --- certificates ----------------------------------------------------------------------------

export function certificateToRow(c: CertificateRecord): CertificatesTable {
  return {
    id: c.id,
    order_id: c.orderId,
    account_id: c.accountId,
    profile: c.profile,
    serial: c.serial,
    issuer: c.issuer,
    chain_pem: c.chainPem,
    identifiers: toJson(c.identifiers),
    not_before: toMs(c.notBefore),
    not_after: toMs(c.notAfter),
    spki_sha256: c.spkiSha256,
    revoked_at: toMsOrNull(c.revokedAt),
    revocation_reason: c.revocationReason,
    created_at: toMs(c.createdAt),
    authority_key_id: c.authorityKeyId,
    replaced_by: c.replacedBy,
  };
}

export function rowToCertificate(r: CertificatesTable): CertificateRecord {
  return {
    id: r.id as CertificateId,
    orderId: r.order_id as OrderId,
    accountId: r.account_id as AccountId,
    profile: r.profile,
    serial: r.serial,
    issuer: r.issuer,
    chainPem: r.chain_pem,
    identifiers: fromJson<Identifier[]>(r.identifiers),
    notBefore: fromMs(r.not_before),
    notAfter: fromMs(r.not_after),
    spkiSha256: r.spki_sha256,
    revokedAt: fromMsOrNull(r.revoked_at),
    revocationReason: r.revocation_reason,
    createdAt: fromMs(r.created_at),
    authorityKeyId: r.authority_key_id,
    replacedBy: r.replaced_by as OrderId | null,
  };
}

// --- EAB keys --------------------------------------------------------------------------------

export function eabKeyToRow(k: EabKeyRecord): EabKeysTable {
  return {
    kid: k.kid,
    profile: k.profile,
    hmac_key: toBlob(k.hmacKey),
    registration_id: k.registrationId,
    max_bindings: k.maxBindings,
    created_at: toMs(k.createdAt),
    revoked_at: toMsOrNull(k.revokedAt),
  };
}

export function rowToEabKey(r: EabKeysTable): EabKeyRecord {
  return {
    kid: r.kid,
    profile: r.profile,
    hmacKey: fromBlob(r.hmac_key),
    registrationId: r.registration_id,
    maxBindings: r.max_bindings,
    createdAt: fromMs(r.created_at),
    revokedAt: fromMsOrNull(r.revoked_at),
  };
}
