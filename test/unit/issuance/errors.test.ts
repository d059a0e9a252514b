/**
 * The one switch from connector outcomes to ACME (src/issuance/errors.ts, docs/connectors.md): at
 * finalize a ConnectorError means "wait and ask again" or "fail the order with this problem";
 * elsewhere it is the problem a client sees. Details name the backend's ticket where there is one.
 */
import { describe, it, expect } from 'vitest';
import { DEFAULT_RETRY_AFTER_SECONDS, finalizeOutcome, toProblem } from '../../../src/issuance/errors.js';
import { ConnectorError, type ConnectorErrorCode } from '../../../src/sdk/errors.js';

const URN = 'urn:ietf:params:acme:error:';

describe('finalizeOutcome: what finalize does with a connector error', () => {
  it.each<[ConnectorErrorCode, 'info' | 'warn' | 'error']>([
    ['pending-approval', 'info'],
    ['unavailable', 'warn'],
    ['timeout', 'warn'],
    ['misconfigured', 'error'],
  ])('waits on %s and logs it at %s', (code, logLevel) => {
    expect(finalizeOutcome(new ConnectorError(code, 'not now', { ticket: 'T-1', retryAfterSeconds: 45 }))).toEqual({ kind: 'wait', retryAfterSeconds: 45, ticket: 'T-1', logLevel });
  });

  it('waits the default time, without a ticket, when the backend gives neither', () => {
    expect(finalizeOutcome(new ConnectorError('unavailable', 'connection refused'))).toEqual({ kind: 'wait', retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS, ticket: null, logLevel: 'warn' });
    expect(DEFAULT_RETRY_AFTER_SECONDS).toBe(10);
  });

  it.each<[ConnectorErrorCode, string]>([
    ['rejected', 'unauthorized'],
    ['bad-request', 'badCSR'],
    ['unauthorized', 'unauthorized'],
    ['not-found', 'malformed'],
    ['already-revoked', 'alreadyRevoked'],
  ])('fails the order on %s with %s', (code, type) => {
    const outcome = finalizeOutcome(new ConnectorError(code, 'no'));
    expect(outcome.kind).toBe('fail');
    expect(outcome.kind === 'fail' && outcome.problem.type).toBe(type);
  });
});

describe('toProblem: a connector error as the client sees it', () => {
  it('answers a pending approval with 503 and Retry-After, naming the ticket', () => {
    const p = toProblem(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-7', retryAfterSeconds: 120 }));
    expect(p).toMatchObject({ type: 'serverInternal', status: 503, detail: 'the backend is waiting for an approval (backend request APR-7)', headers: { 'Retry-After': '120' } });
  });

  it('answers a refusal naming identifiers with rejectedIdentifier, one subproblem each with the ticket', () => {
    const p = toProblem(new ConnectorError('rejected', 'not in the registration', {
      ticket: 'REQ-3',
      identifiers: [{ type: 'dns', value: 'a.example.test' }, { type: 'ip', value: '192.0.2.1' }],
    }));
    expect(p.toDocument()).toEqual({
      type: `${URN}rejectedIdentifier`,
      status: 400,
      detail: 'the backend refused the request: not in the registration (backend request REQ-3)',
      subproblems: [
        { type: `${URN}rejectedIdentifier`, status: 400, detail: 'not in the registration (backend request REQ-3)', identifier: { type: 'dns', value: 'a.example.test' } },
        { type: `${URN}rejectedIdentifier`, status: 400, detail: 'not in the registration (backend request REQ-3)', identifier: { type: 'ip', value: '192.0.2.1' } },
      ],
    });
  });

  it('answers a refusal naming no identifier with unauthorized (403) and the backend\'s reason', () => {
    expect(toProblem(new ConnectorError('rejected', 'officer declined', { ticket: 'APR-9' }))).toMatchObject({
      type: 'unauthorized',
      status: 403,
      detail: 'the backend refused the request: officer declined (backend request APR-9)',
    });
  });

  it('answers a bad request with badCSR and the backend\'s reason', () => {
    expect(toProblem(new ConnectorError('bad-request', 'RSA keys below 3072 bits are not issued'))).toMatchObject({ type: 'badCSR', status: 400, detail: 'the backend refused the request: RSA keys below 3072 bits are not issued' });
  });

  it('answers an unauthorized registration with 403 unauthorized', () => {
    expect(toProblem(new ConnectorError('unauthorized', 'end entity is disabled'))).toMatchObject({ type: 'unauthorized', status: 403, detail: 'the backend refused the account: end entity is disabled' });
  });

  it('answers already-revoked with alreadyRevoked', () => {
    expect(toProblem(new ConnectorError('already-revoked', 'revoked on 2030-01-02'))).toMatchObject({ type: 'alreadyRevoked', status: 400, detail: 'the certificate is already revoked' });
  });

  it('answers not-found with 404', () => {
    expect(toProblem(new ConnectorError('not-found', 'no such certificate'))).toMatchObject({ type: 'malformed', status: 404, detail: 'the certificate in the backend does not exist' });
  });

  it.each<ConnectorErrorCode>(['unavailable', 'timeout'])('answers %s with 503 and the default Retry-After', (code) => {
    expect(toProblem(new ConnectorError(code, 'ECONNREFUSED 10.0.0.5:8443'))).toMatchObject({
      type: 'serverInternal',
      status: 503,
      detail: 'the certificate backend is not answering; try again later',
      headers: { 'Retry-After': '10' },
    });
  });

  it('answers misconfigured with 500 and keeps the backend\'s message from the client', () => {
    const p = toProblem(new ConnectorError('misconfigured', 'template "server" unknown at https://ca.internal:8443'));
    expect(p).toMatchObject({ type: 'serverInternal', status: 500, detail: 'the certificate backend is misconfigured; the operator has been told' });
  });
});
