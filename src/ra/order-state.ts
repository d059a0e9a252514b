/**
 * RFC 8555 §7.1.6: the status transitions of orders, authorizations, challenges and accounts.
 * The only module that writes a `status`. Each transition takes a record (and the clock where time
 * matters) and returns the new record, or throws the problem the client should see.
 * Expiry is computed on read from `expires` and the clock, never by a timer.
 */
import { problem } from '../protocol/problem.js';
import type { OrderStatus, ProblemDocument } from '../protocol/types.js';
import type { AccountRecord, AuthzRecord, CertificateId, ChallengeRecord, OrderRecord } from '../storage/store.js';

// ---------------------------------------------------------------- reading with the clock

/** §7.1.6: a pending or ready order past its `expires` is invalid. */
export function orderStatusAt(o: OrderRecord, now: Date): OrderStatus {
  if ((o.status === 'pending' || o.status === 'ready') && o.expires.getTime() <= now.getTime()) return 'invalid';
  return o.status;
}

/** §7.1.6: a pending or valid authorization past its `expires` is expired. */
export function authzStatusAt(a: AuthzRecord, now: Date): AuthzRecord['status'] {
  if ((a.status === 'pending' || a.status === 'valid') && a.expires.getTime() <= now.getTime()) return 'expired';
  return a.status;
}

export function withOrderStatusAt(o: OrderRecord, now: Date): OrderRecord {
  const status = orderStatusAt(o, now);
  if (status === o.status) return o;
  return { ...o, status, error: o.error ?? problem.malformed('the order expired before it was finalized', 400).toDocument() };
}

export function withAuthzStatusAt(a: AuthzRecord, now: Date): AuthzRecord {
  const status = authzStatusAt(a, now);
  return status === a.status ? a : { ...a, status };
}

// ---------------------------------------------------------------- challenges

/** §7.5.1: the client's response moves a pending challenge to processing; any other state is left as is. */
export function challengeRespond(c: ChallengeRecord, now: Date): ChallengeRecord {
  return c.status === 'pending' ? { ...c, status: 'processing', updatedAt: now } : c;
}

export function challengeValidated(c: ChallengeRecord, now: Date, records: unknown[]): ChallengeRecord {
  if (c.status !== 'processing') throw new Error(`challenge ${c.id} is ${c.status}, not processing`);
  return { ...c, status: 'valid', validatedAt: now, validationRecord: records, error: null, updatedAt: now };
}

export function challengeFailed(c: ChallengeRecord, now: Date, error: ProblemDocument, records: unknown[]): ChallengeRecord {
  if (c.status !== 'processing') throw new Error(`challenge ${c.id} is ${c.status}, not processing`);
  return { ...c, status: 'invalid', error, validationRecord: records, updatedAt: now };
}

// ---------------------------------------------------------------- authorizations

/** §7.1.6: "If one of the challenges listed in the authorization transitions to the valid state, then the
 *  authorization also changes to the valid state"; a failed challenge makes the authorization invalid. */
export function authzAfterChallenge(a: AuthzRecord, c: ChallengeRecord, now: Date, validFor: number): AuthzRecord {
  const challenges = a.challenges.map((x) => (x.id === c.id ? c : x));
  // An authorization that expired while its challenge was validated stays expired (§7.1.6): the
  // challenge's outcome is recorded, the authorization is not revived.
  if (a.status !== 'pending' || authzStatusAt(a, now) === 'expired') return { ...a, challenges, updatedAt: now };
  if (c.status === 'valid') return { ...a, challenges, status: 'valid', expires: new Date(now.getTime() + validFor), updatedAt: now };
  if (c.status === 'invalid') return { ...a, challenges, status: 'invalid', updatedAt: now };
  return { ...a, challenges, updatedAt: now };
}

/** §7.5.2: a client may deactivate a pending or valid authorization. */
export function authzDeactivate(a: AuthzRecord, now: Date): AuthzRecord {
  const status = authzStatusAt(a, now);
  if (status !== 'pending' && status !== 'valid') throw problem.malformed(`authorization is "${status}"; only pending or valid ones can be deactivated`);
  return { ...a, status: 'deactivated', updatedAt: now };
}

/** §7.3.6: deactivating an account deactivates its pending authorizations. */
export function authzCancelled(a: AuthzRecord, now: Date): AuthzRecord {
  return a.status === 'pending' ? { ...a, status: 'deactivated', updatedAt: now } : a;
}

/** §7.1.6 starting states; issue #5 `validation: none`: the template decides, so authorizations start valid. */
export function initialAuthzStatus(preAuthorized: boolean): AuthzRecord['status'] {
  return preAuthorized ? 'valid' : 'pending';
}

/** An order whose authorizations all start valid is ready at once (§7.1.6). */
export function initialOrderStatus(preAuthorized: boolean): OrderStatus {
  return preAuthorized ? 'ready' : 'pending';
}

// ---------------------------------------------------------------- orders

/**
 * §7.1.6: a pending order is ready once all its authorizations are valid; a pending or ready order is
 * invalid once any is "expired", "revoked" or "deactivated" (or invalid): "The order also moves to the
 * invalid state if ... one of its authorizations enters a final state other than valid".
 */
export function orderAfterAuthzs(o: OrderRecord, authzs: readonly AuthzRecord[], now: Date): OrderRecord {
  if (o.status !== 'pending' && o.status !== 'ready') return o;
  const statuses = authzs.map((a) => authzStatusAt(a, now));
  const failed = authzs.find((_a, i) => statuses[i] !== 'valid' && statuses[i] !== 'pending');
  if (failed) {
    const challengeError = failed.challenges.find((c) => c.error)?.error;
    const error: ProblemDocument = challengeError
      ? { ...challengeError, identifier: failed.identifier }
      : problem.unauthorized(`authorization for ${failed.identifier.value} is ${authzStatusAt(failed, now)}`).toDocument();
    return { ...o, status: 'invalid', error, updatedAt: now };
  }
  if (o.status === 'pending' && statuses.every((s) => s === 'valid')) return { ...o, status: 'ready', updatedAt: now };
  return o;
}

/** §7.4: finalize is allowed only on a ready order; it moves to processing while the certificate is made. */
/** `recheckAt`: when the reconciler should look if the call now starting never reports back (a crash). */
export function orderBeginFinalize(o: OrderRecord, now: Date, recheckAt: Date, csr: Uint8Array, policy: Record<string, unknown>): OrderRecord {
  const status = orderStatusAt(o, now);
  if (status !== 'ready') throw problem.orderNotReady(status);
  return { ...o, status: 'processing', csr, policy: { ...(o.policy ?? {}), ...policy }, issuanceAttempts: 0, nextCheckAt: recheckAt, updatedAt: now };
}

export function orderIssued(o: OrderRecord, now: Date, certificateId: CertificateId): OrderRecord {
  if (o.status !== 'processing') throw new Error(`order ${o.id} is ${o.status}, not processing`);
  return { ...o, status: 'valid', certificateId, ticket: o.ticket, nextCheckAt: null, leaseOwner: null, leaseUntil: null, updatedAt: now };
}

/** The backend has not finished: stay processing, look again at `nextCheckAt`. */
export function orderStillProcessing(o: OrderRecord, now: Date, nextCheckAt: Date, ticket: string | null): OrderRecord {
  if (o.status !== 'processing') throw new Error(`order ${o.id} is ${o.status}, not processing`);
  return { ...o, ticket: ticket ?? o.ticket, nextCheckAt, issuanceAttempts: o.issuanceAttempts + 1, leaseOwner: null, leaseUntil: null, updatedAt: now };
}

export function orderFailed(o: OrderRecord, now: Date, error: ProblemDocument): OrderRecord {
  if (o.status === 'valid' || o.status === 'invalid') throw new Error(`order ${o.id} is already ${o.status}`);
  return { ...o, status: 'invalid', error, nextCheckAt: null, leaseOwner: null, leaseUntil: null, csr: null, updatedAt: now };
}

// ---------------------------------------------------------------- accounts

/** §7.3.6: a valid account can be deactivated by its holder; it cannot come back. */
export function accountDeactivate(a: AccountRecord, now: Date): AccountRecord {
  if (a.status !== 'valid') throw problem.unauthorized(`account is "${a.status}"`);
  return { ...a, status: 'deactivated', updatedAt: now };
}
