/**
 * Store records for tests: valid, complete, and unique (ids, thumbprints, serials, tokens come from
 * one counter), so a test spells out only the fields it is about.
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
} from '../../src/storage/store.js';
import type { ChallengeType, Identifier } from '../../src/protocol/types.js';
import { DAY_MS, addMs } from '../../src/lib/clock.js';

/** The start of every test's world; matches TestClock's default. */
export const T0 = new Date('2030-01-01T00:00:00Z');

let counter = 0;
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter.toString().padStart(6, '0')}`;
}

export function accountRecord(over: Partial<AccountRecord> = {}): AccountRecord {
  const thumbprint = over.jwkThumbprint ?? unique('jkt');
  return {
    id: unique('acct') as AccountId,
    profile: 'default',
    status: 'valid',
    jwk: { kty: 'EC', crv: 'P-256', x: `x-${thumbprint}`, y: `y-${thumbprint}` },
    jwkThumbprint: thumbprint,
    contact: ['mailto:ops@example.test'],
    termsAgreedAt: T0,
    termsAgreedVersion: 'https://example.test/terms/v1',
    eabKid: null,
    registrationId: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

export function challengeRecord(authzId: AuthzId, type: ChallengeType, over: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return {
    id: unique('chall') as ChallengeId,
    authzId,
    type,
    token: unique('token'),
    status: 'pending',
    validatedAt: null,
    error: null,
    validationRecord: null,
    updatedAt: T0,
    ...over,
  };
}

/** A pending authorization with an http-01 and a dns-01 challenge (none given in `over`). */
export function authzRecord(
  account: AccountRecord,
  orderId: OrderId,
  identifier: Identifier,
  over: Partial<AuthzRecord> = {},
): AuthzRecord {
  const id = over.id ?? (unique('authz') as AuthzId);
  return {
    id,
    accountId: account.id,
    orderId,
    profile: account.profile,
    identifier,
    wildcard: false,
    status: 'pending',
    expires: addMs(T0, 7 * DAY_MS),
    challenges: [challengeRecord(id, 'http-01'), challengeRecord(id, 'dns-01')],
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

/** A pending order for `names` (dns identifiers) with one new authorization per name. */
export function orderRecord(
  account: AccountRecord,
  names: readonly string[] = ['www.example.test'],
  over: Partial<OrderRecord> = {},
): { order: OrderRecord; authzs: AuthzRecord[] } {
  const id = over.id ?? (unique('order') as OrderId);
  const identifiers: Identifier[] = names.map((value) => ({ type: 'dns', value }));
  const authzs = identifiers.map((identifier) => authzRecord(account, id, identifier));
  const order: OrderRecord = {
    id,
    accountId: account.id,
    profile: account.profile,
    status: 'pending',
    expires: addMs(T0, 7 * DAY_MS),
    identifiers,
    notBefore: null,
    notAfter: null,
    authzIds: authzs.map((a) => a.id),
    error: null,
    certificateId: null,
    csr: null,
    ticket: null,
    nextCheckAt: null,
    issuanceAttempts: 0,
    leaseOwner: null,
    leaseUntil: null,
    policy: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
  return { order, authzs };
}

export function certificateRecord(order: OrderRecord, over: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    id: unique('cert') as CertificateId,
    orderId: order.id,
    accountId: order.accountId,
    profile: order.profile,
    serial: unique('5e71a1').replace('-', ''),
    issuer: 'CN=Test Issuing CA,O=Example',
    chainPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    identifiers: order.identifiers,
    notBefore: T0,
    notAfter: addMs(T0, 90 * DAY_MS),
    spkiSha256: unique('spki'),
    revokedAt: null,
    revocationReason: null,
    createdAt: T0,
    authorityKeyId: null,
    replacedBy: null,
    ...over,
  };
}

export function eabKeyRecord(over: Partial<EabKeyRecord> = {}): EabKeyRecord {
  return {
    kid: unique('kid'),
    profile: 'default',
    hmacKey: new Uint8Array(32).map((_, i) => i),
    registrationId: null,
    maxBindings: 1,
    createdAt: T0,
    revokedAt: null,
    ...over,
  };
}
