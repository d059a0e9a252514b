/**
 * The transition table of RFC 8555 §7.1.6 (src/ra/order-state.ts): what a client reads as the
 * status of an order, authorization or challenge, and which moves are refused with which problem.
 */
import { describe, it, expect } from 'vitest';
import { DAY_MS, MINUTE_MS, addMs } from '../../../src/lib/clock.js';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import type { ProblemDocument } from '../../../src/protocol/types.js';
import type { AuthzRecord, CertificateId, OrderRecord } from '../../../src/storage/store.js';
import {
  accountDeactivate,
  authzAfterChallenge,
  authzCancelled,
  authzDeactivate,
  authzStatusAt,
  challengeFailed,
  challengeRespond,
  challengeValidated,
  initialAuthzStatus,
  initialOrderStatus,
  orderAfterAuthzs,
  orderBeginFinalize,
  orderFailed,
  orderIssued,
  orderStatusAt,
  orderStillProcessing,
  withAuthzStatusAt,
  withOrderStatusAt,
} from '../../../src/ra/order-state.js';
import { T0, accountRecord, orderRecord } from '../../helpers/records.js';

const URN = 'urn:ietf:params:acme:error:';
const account = accountRecord();
const CSR = new Uint8Array([0x30, 0x00]);
const LATER = addMs(T0, MINUTE_MS);
const EXPIRES = addMs(T0, 7 * DAY_MS);
const AFTER_EXPIRY = addMs(EXPIRES, 1);

function order(over: Partial<OrderRecord> = {}, names = ['www.example.test']): { order: OrderRecord; authzs: AuthzRecord[] } {
  return orderRecord(account, names, over);
}

/** Catches the problem a transition throws, so its type, status and detail can be asserted. */
function problemOf(fn: () => unknown): AcmeProblem {
  try {
    fn();
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected a problem, nothing was thrown');
}

const caaProblem: ProblemDocument = { type: `${URN}caa`, detail: 'CAA forbids issuance', status: 403 };

describe('order status on read (§7.1.6)', () => {
  it('reads a pending order before its expires as pending', () => {
    expect(orderStatusAt(order().order, addMs(EXPIRES, -1))).toBe('pending');
  });

  it('reads a pending order at its expires as invalid', () => {
    expect(orderStatusAt(order().order, EXPIRES)).toBe('invalid');
  });

  it('reads a ready order past its expires as invalid', () => {
    expect(orderStatusAt(order({ status: 'ready' }).order, AFTER_EXPIRY)).toBe('invalid');
  });

  it('keeps a valid order valid past its expires: the certificate exists', () => {
    expect(orderStatusAt(order({ status: 'valid' }).order, AFTER_EXPIRY)).toBe('valid');
  });

  it('keeps a processing order processing past its expires: the backend still decides', () => {
    expect(orderStatusAt(order({ status: 'processing' }).order, AFTER_EXPIRY)).toBe('processing');
  });

  it('gives an expired order an error document saying it expired', () => {
    const read = withOrderStatusAt(order().order, AFTER_EXPIRY);
    expect(read.status).toBe('invalid');
    expect(read.error).toMatchObject({ type: `${URN}malformed`, detail: expect.stringContaining('expired') });
  });

  it('returns the very same record when nothing changed on read', () => {
    const o = order().order;
    expect(withOrderStatusAt(o, T0)).toBe(o);
  });
});

describe('authorization status on read (§7.1.6)', () => {
  it('reads a pending authorization past its expires as expired', () => {
    const [authz] = order().authzs;
    expect(authzStatusAt(authz!, AFTER_EXPIRY)).toBe('expired');
  });

  it('reads a valid authorization past its expires as expired', () => {
    const [authz] = order().authzs;
    expect(withAuthzStatusAt({ ...authz!, status: 'valid' }, AFTER_EXPIRY).status).toBe('expired');
  });

  it('keeps a deactivated authorization deactivated past its expires', () => {
    const [authz] = order().authzs;
    expect(authzStatusAt({ ...authz!, status: 'deactivated' }, AFTER_EXPIRY)).toBe('deactivated');
  });

  it('keeps a valid authorization valid before its expires', () => {
    const [authz] = order().authzs;
    expect(withAuthzStatusAt({ ...authz!, status: 'valid' }, T0).status).toBe('valid');
  });
});

describe('challenges (§7.5.1)', () => {
  it('moves a pending challenge to processing when the client responds', () => {
    const c = order().authzs[0]!.challenges[0]!;
    expect(challengeRespond(c, LATER)).toMatchObject({ status: 'processing', updatedAt: LATER });
  });

  it('leaves a challenge that is not pending as it is when the client responds again', () => {
    const c = { ...order().authzs[0]!.challenges[0]!, status: 'valid' as const };
    expect(challengeRespond(c, LATER)).toBe(c);
  });

  it('records a successful validation with its time and what the validator saw', () => {
    const c = challengeRespond(order().authzs[0]!.challenges[0]!, T0);
    const records = [{ url: 'http://www.example.test/.well-known/acme-challenge/x', addressUsed: '192.0.2.1' }];
    expect(challengeValidated(c, LATER, records)).toMatchObject({ status: 'valid', validatedAt: LATER, validationRecord: records, error: null });
  });

  it('records a failed validation with the problem the client will see', () => {
    const c = challengeRespond(order().authzs[0]!.challenges[0]!, T0);
    expect(challengeFailed(c, LATER, caaProblem, [])).toMatchObject({ status: 'invalid', error: caaProblem });
  });

  it('refuses to record a validation result for a challenge that is not processing', () => {
    const c = order().authzs[0]!.challenges[0]!;
    expect(() => challengeValidated(c, LATER, [])).toThrow(/not processing/);
    expect(() => challengeFailed(c, LATER, caaProblem, [])).toThrow(/not processing/);
  });
});

describe('authorizations (§7.1.6, §7.5.2)', () => {
  it('makes a pending authorization valid when one of its challenges is valid, with a fresh expires', () => {
    const authz = order().authzs[0]!;
    const c = challengeValidated(challengeRespond(authz.challenges[0]!, T0), LATER, []);
    const next = authzAfterChallenge(authz, c, LATER, 30 * DAY_MS);
    expect(next.status).toBe('valid');
    expect(next.expires).toEqual(addMs(LATER, 30 * DAY_MS));
    expect(next.challenges[0]).toBe(c);
  });

  it('makes a pending authorization invalid when a challenge fails', () => {
    const authz = order().authzs[0]!;
    const c = challengeFailed(challengeRespond(authz.challenges[0]!, T0), LATER, caaProblem, []);
    expect(authzAfterChallenge(authz, c, LATER, DAY_MS).status).toBe('invalid');
  });

  it('keeps a pending authorization pending while its challenge is processing', () => {
    const authz = order().authzs[0]!;
    const next = authzAfterChallenge(authz, challengeRespond(authz.challenges[0]!, T0), LATER, DAY_MS);
    expect(next.status).toBe('pending');
    expect(next.challenges[0]!.status).toBe('processing');
  });

  it('does not bring an expired authorization back when a validation finishes after it expired', () => {
    const authz = order().authzs[0]!;
    const afterExpiry = addMs(authz.expires, MINUTE_MS);
    const c = challengeValidated(challengeRespond(authz.challenges[0]!, T0), afterExpiry, []);
    const next = authzAfterChallenge(authz, c, afterExpiry, 30 * DAY_MS);
    expect(authzStatusAt(next, afterExpiry)).toBe('expired');
    expect(next.expires).toEqual(authz.expires);
    expect(next.challenges[0]).toBe(c);
  });

  it('does not bring a deactivated authorization back when a late validation succeeds', () => {
    const authz: AuthzRecord = { ...order().authzs[0]!, status: 'deactivated' };
    const c = challengeValidated(challengeRespond(authz.challenges[0]!, T0), LATER, []);
    expect(authzAfterChallenge(authz, c, LATER, DAY_MS).status).toBe('deactivated');
  });

  it('lets the client deactivate a valid authorization', () => {
    const authz: AuthzRecord = { ...order().authzs[0]!, status: 'valid' };
    expect(authzDeactivate(authz, LATER)).toMatchObject({ status: 'deactivated', updatedAt: LATER });
  });

  it('refuses to deactivate an expired authorization with malformed naming its status', () => {
    const authz: AuthzRecord = { ...order().authzs[0]!, status: 'valid' };
    const p = problemOf(() => authzDeactivate(authz, AFTER_EXPIRY));
    expect(p).toMatchObject({ type: 'malformed', status: 400 });
    expect(p.detail).toContain('"expired"');
  });

  it('refuses to deactivate an invalid authorization', () => {
    const authz: AuthzRecord = { ...order().authzs[0]!, status: 'invalid' };
    expect(problemOf(() => authzDeactivate(authz, LATER)).detail).toContain('"invalid"');
  });

  it('deactivates the pending authorizations of a deactivated account and leaves valid ones (§7.3.6)', () => {
    const authz = order().authzs[0]!;
    expect(authzCancelled(authz, LATER).status).toBe('deactivated');
    const valid: AuthzRecord = { ...authz, status: 'valid' };
    expect(authzCancelled(valid, LATER)).toBe(valid);
  });

  it('starts authorizations valid and orders ready when validation is "none" (issue #5)', () => {
    expect([initialAuthzStatus(true), initialOrderStatus(true)]).toEqual(['valid', 'ready']);
    expect([initialAuthzStatus(false), initialOrderStatus(false)]).toEqual(['pending', 'pending']);
  });
});

describe('orders following their authorizations (§7.1.6)', () => {
  it('makes a pending order ready once every authorization is valid', () => {
    const { order: o, authzs } = order({}, ['a.example.test', 'b.example.test']);
    const valid = authzs.map((a) => ({ ...a, status: 'valid' as const }));
    expect(orderAfterAuthzs(o, valid, LATER)).toMatchObject({ status: 'ready', updatedAt: LATER });
  });

  it('keeps a pending order pending while one authorization is still pending', () => {
    const { order: o, authzs } = order({}, ['a.example.test', 'b.example.test']);
    const mixed = [{ ...authzs[0]!, status: 'valid' as const }, authzs[1]!];
    expect(orderAfterAuthzs(o, mixed, LATER)).toBe(o);
  });

  it('makes the order invalid with the failed challenge\'s error, naming the identifier', () => {
    const { order: o, authzs } = order({}, ['a.example.test', 'b.example.test']);
    const failedChallenge = { ...authzs[1]!.challenges[0]!, status: 'invalid' as const, error: caaProblem };
    const failed: AuthzRecord = { ...authzs[1]!, status: 'invalid', challenges: [failedChallenge] };
    const next = orderAfterAuthzs(o, [authzs[0]!, failed], LATER);
    expect(next.status).toBe('invalid');
    expect(next.error).toEqual({ ...caaProblem, identifier: { type: 'dns', value: 'b.example.test' } });
  });

  it('makes a pending order invalid with unauthorized when an authorization expired', () => {
    const { order: o, authzs } = order({ expires: addMs(EXPIRES, DAY_MS) });
    const next = orderAfterAuthzs(o, authzs, AFTER_EXPIRY);
    expect(next.status).toBe('invalid');
    expect(next.error).toMatchObject({ type: `${URN}unauthorized`, status: 403, detail: 'authorization for www.example.test is expired' });
  });

  it('makes a ready order invalid when the client deactivates one of its authorizations', () => {
    // §7.1.6: "The order also moves to the "invalid" state if it expires or one of its
    // authorizations enters a final state other than "valid"".
    const { order: o, authzs } = order({ status: 'ready' });
    const next = orderAfterAuthzs(o, [{ ...authzs[0]!, status: 'deactivated' }], LATER);
    expect(next.status).toBe('invalid');
    expect(next.error).toMatchObject({ type: `${URN}unauthorized`, detail: 'authorization for www.example.test is deactivated' });
  });

  it('makes a ready order invalid when one of its authorizations expires before the order does', () => {
    const { order: o, authzs } = order({ status: 'ready', expires: addMs(EXPIRES, DAY_MS) });
    const next = orderAfterAuthzs(o, [{ ...authzs[0]!, status: 'valid' }], AFTER_EXPIRY);
    expect(next.status).toBe('invalid');
  });

  it('leaves a ready order with valid authorizations as it is', () => {
    const { order: o, authzs } = order({ status: 'ready' });
    expect(orderAfterAuthzs(o, [{ ...authzs[0]!, status: 'valid' }], LATER)).toBe(o);
  });

  it('leaves a processing order alone whatever its authorizations do', () => {
    const { order: o, authzs } = order({ status: 'processing' });
    expect(orderAfterAuthzs(o, [{ ...authzs[0]!, status: 'deactivated' }], LATER)).toBe(o);
  });
});

describe('finalize and issuance (§7.4)', () => {
  const recheck = addMs(LATER, MINUTE_MS);

  it('moves a ready order to processing with its CSR, a recheck time and the policy merged in', () => {
    const { order: o } = order({ status: 'ready', policy: { template: 'server' }, issuanceAttempts: 3 });
    const next = orderBeginFinalize(o, LATER, recheck, CSR, { keyType: 'ec-p256' });
    expect(next).toMatchObject({ status: 'processing', csr: CSR, nextCheckAt: recheck, issuanceAttempts: 0, policy: { template: 'server', keyType: 'ec-p256' } });
  });

  it('refuses to finalize a pending order with orderNotReady (403) naming its status', () => {
    const p = problemOf(() => orderBeginFinalize(order().order, LATER, recheck, CSR, {}));
    expect(p).toMatchObject({ type: 'orderNotReady', status: 403, detail: 'order is "pending", not "ready"' });
  });

  it('refuses to finalize a ready order past its expires with orderNotReady naming "invalid"', () => {
    const p = problemOf(() => orderBeginFinalize(order({ status: 'ready' }).order, AFTER_EXPIRY, recheck, CSR, {}));
    expect(p).toMatchObject({ type: 'orderNotReady', detail: 'order is "invalid", not "ready"' });
  });

  it('refuses to finalize an order twice', () => {
    const p = problemOf(() => orderBeginFinalize(order({ status: 'processing' }).order, LATER, recheck, CSR, {}));
    expect(p.detail).toBe('order is "processing", not "ready"');
  });

  it('makes a processing order valid with its certificate and releases the lease', () => {
    const { order: o } = order({ status: 'processing', nextCheckAt: recheck, leaseOwner: 'gw-1', leaseUntil: recheck });
    const next = orderIssued(o, LATER, 'cert-1' as CertificateId);
    expect(next).toMatchObject({ status: 'valid', certificateId: 'cert-1', nextCheckAt: null, leaseOwner: null, leaseUntil: null });
  });

  it('refuses to issue for an order that is not processing', () => {
    expect(() => orderIssued(order({ status: 'ready' }).order, LATER, 'cert-1' as CertificateId)).toThrow(/not processing/);
  });

  it('keeps a waiting order processing, counts the attempt and stores the backend ticket', () => {
    const { order: o } = order({ status: 'processing', issuanceAttempts: 1, leaseOwner: 'gw-1', leaseUntil: recheck });
    const next = orderStillProcessing(o, LATER, recheck, 'approval-7');
    expect(next).toMatchObject({ status: 'processing', ticket: 'approval-7', nextCheckAt: recheck, issuanceAttempts: 2, leaseOwner: null });
  });

  it('keeps the ticket already stored when the backend names none', () => {
    const { order: o } = order({ status: 'processing', ticket: 'approval-7' });
    expect(orderStillProcessing(o, LATER, recheck, null).ticket).toBe('approval-7');
  });

  it('makes a processing order invalid with the error and forgets the CSR', () => {
    const { order: o } = order({ status: 'processing', csr: CSR, nextCheckAt: recheck });
    expect(orderFailed(o, LATER, caaProblem)).toMatchObject({ status: 'invalid', error: caaProblem, csr: null, nextCheckAt: null });
  });

  it('refuses to fail an order that is already valid', () => {
    expect(() => orderFailed(order({ status: 'valid' }).order, LATER, caaProblem)).toThrow(/already valid/);
  });
});

describe('accounts (§7.3.6)', () => {
  it('deactivates a valid account', () => {
    expect(accountDeactivate(account, LATER)).toMatchObject({ status: 'deactivated', updatedAt: LATER });
  });

  it('refuses to deactivate an account twice with unauthorized naming its status', () => {
    const p = problemOf(() => accountDeactivate({ ...account, status: 'deactivated' }, LATER));
    expect(p).toMatchObject({ type: 'unauthorized', status: 403, detail: 'account is "deactivated"' });
  });
});
