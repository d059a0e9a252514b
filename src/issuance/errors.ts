/**
 * The one switch from connector outcomes to ACME: ConnectorError codes become order states and
 * problem documents here and nowhere else (docs/architecture.md §4). The detail names the legacy
 * request id where there is one, so an operator can find it in the backend.
 */
import { problem, type AcmeProblem, type Subproblem } from '../protocol/problem.js';
import type { ConnectorError } from '../sdk/errors.js';

export const DEFAULT_RETRY_AFTER_SECONDS = 10;

function withTicket(message: string, e: ConnectorError): string {
  return e.info.ticket ? `${message} (backend request ${e.info.ticket})` : message;
}

/** What finalize does with a connector error: wait and look again, or fail the order with a problem. */
export type FinalizeOutcome =
  | { kind: 'wait'; retryAfterSeconds: number; ticket: string | null; logLevel: 'info' | 'warn' | 'error' }
  | { kind: 'fail'; problem: AcmeProblem };

export function finalizeOutcome(e: ConnectorError): FinalizeOutcome {
  const retryAfterSeconds = e.info.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
  const ticket = e.info.ticket ?? null;
  switch (e.code) {
    case 'pending-approval':
      return { kind: 'wait', retryAfterSeconds, ticket, logLevel: 'info' };
    case 'unavailable':
    case 'timeout':
      return { kind: 'wait', retryAfterSeconds, ticket, logLevel: 'warn' };
    case 'misconfigured':
      return { kind: 'wait', retryAfterSeconds, ticket, logLevel: 'error' };
    case 'rejected':
    case 'bad-request':
    case 'not-found':
    case 'already-revoked':
    case 'unauthorized':
      return { kind: 'fail', problem: toProblem(e) };
  }
}

/** A connector error outside finalize (revocation, registration checks), as the client sees it. */
export function toProblem(e: ConnectorError): AcmeProblem {
  const subs: Subproblem[] = (e.info.identifiers ?? []).map((identifier) => ({
    type: 'rejectedIdentifier',
    detail: withTicket(e.message, e),
    identifier,
  }));
  switch (e.code) {
    case 'pending-approval':
      return problem.unavailable(withTicket('the backend is waiting for an approval', e), e.info.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
    case 'rejected':
      return subs.length ? problem.rejectedIdentifier(subs, withTicket(`the backend refused the request: ${e.message}`, e)) : problem.unauthorized(withTicket(`the backend refused the request: ${e.message}`, e));
    case 'bad-request':
      return problem.badCSR(withTicket(`the backend refused the request: ${e.message}`, e));
    case 'unauthorized':
      return problem.unauthorized(withTicket(`the backend refused the account: ${e.message}`, e));
    case 'already-revoked':
      return problem.alreadyRevoked(withTicket('the certificate is already revoked', e));
    case 'not-found':
      return problem.notFound(withTicket('the certificate in the backend', e));
    case 'unavailable':
    case 'timeout':
      return problem.unavailable(withTicket('the certificate backend is not answering; try again later', e), e.info.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
    case 'misconfigured':
      return problem.serverInternal(withTicket('the certificate backend is misconfigured; the operator has been told', e));
  }
}
