/** RFC 8555 §7.1 resource objects as the client sees them, built from stored records. */
import type { AccountRecord, AuthzRecord, ChallengeRecord, OrderRecord } from '../storage/store.js';
import type { Links } from './links.js';

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

// §7.1.2
export function accountView(a: AccountRecord, links: Links) {
  return {
    status: a.status,
    contact: a.contact,
    ...(a.termsAgreedAt ? { termsOfServiceAgreed: true } : {}),
    orders: links.accountOrders(a.id),
    createdAt: iso(a.createdAt),
  };
}

// §7.1.3
export function orderView(o: OrderRecord, links: Links) {
  return {
    status: o.status,
    expires: iso(o.expires),
    identifiers: o.identifiers,
    ...(o.notBefore ? { notBefore: iso(o.notBefore) } : {}),
    ...(o.notAfter ? { notAfter: iso(o.notAfter) } : {}),
    ...(o.error ? { error: o.error } : {}),
    ...(typeof o.policy?.certificateProfile === 'string' ? { profile: o.policy.certificateProfile } : {}), // draft-ietf-acme-profiles-01 §4
    ...(typeof o.policy?.replaces === 'string' ? { replaces: o.policy.replaces } : {}), // RFC 9773 §5
    authorizations: o.authzIds.map((id) => links.authz(id)),
    finalize: links.finalize(o.id),
    ...(o.certificateId && o.status === 'valid' ? { certificate: links.certificate(o.certificateId) } : {}),
  };
}

// §7.1.5 and §8
export function challengeView(c: ChallengeRecord, links: Links) {
  return {
    type: c.type,
    url: links.challenge(c.id),
    status: c.status,
    token: c.token,
    ...(c.validatedAt ? { validated: iso(c.validatedAt) } : {}),
    ...(c.error ? { error: c.error } : {}),
  };
}

// §7.1.4
export function authzView(a: AuthzRecord, links: Links) {
  return {
    identifier: a.identifier,
    status: a.status,
    expires: iso(a.expires),
    challenges: a.challenges.map((c) => challengeView(c, links)),
    ...(a.wildcard ? { wildcard: true } : {}),
  };
}
