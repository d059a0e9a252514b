import type { SdkIdentifier } from './connector.js';

/**
 * Every outcome of a connector call that is not its success value.
 * `src/issuance/errors.ts` is the one place that turns a code into an order state or a problem.
 */
export type ConnectorErrorCode =
  | 'pending-approval' // not done yet; carries ticket and retryAfterSeconds
  | 'rejected' // the backend refused this request for good; carries the reason
  | 'bad-request' // the request itself is wrong (CSR, names); not worth retrying
  | 'not-found'
  | 'already-revoked'
  | 'unauthorized' // the registration is disabled or may not do this
  | 'unavailable' // connection refused, 5xx, SOAP fault from an unhealthy backend
  | 'timeout'
  | 'misconfigured'; // our settings do not fit the backend (unknown template, bad credentials)

export interface ConnectorErrorInfo {
  /** The backend's id for the request (approval id, request id); named in problem details. */
  ticket?: string;
  retryAfterSeconds?: number;
  /** Identifiers the backend refused, for per-identifier subproblems. */
  identifiers?: readonly SdkIdentifier[];
  cause?: unknown;
}

export class ConnectorError extends Error {
  override readonly name = 'ConnectorError';
  constructor(
    readonly code: ConnectorErrorCode,
    message: string,
    readonly info: ConnectorErrorInfo = {},
  ) {
    super(message, { cause: info.cause });
  }
}

export function isConnectorError(e: unknown): e is ConnectorError {
  return e instanceof ConnectorError;
}
