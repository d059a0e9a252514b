/**
 * Challenge validation (RFC 8555 §8). One validator per challenge type; all network I/O goes
 * through NetClient so tests and operators can point it at a given DNS server and ports.
 */
import type { AcmeProblem } from '../protocol/problem.js';
import type { ChallengeType, Identifier } from '../protocol/types.js';

export interface ValidationInput {
  identifier: Identifier;
  /** True for the authorization of a `*.example.com` order (identifier value without `*.`). */
  wildcard: boolean;
  token: string;
  /** RFC 8555 §8.1: token || '.' || base64url(JWK thumbprint of the account key). */
  keyAuthorization: string;
}

export interface ValidationRecord {
  url?: string;
  hostname?: string;
  port?: string;
  addressesResolved?: string[];
  addressUsed?: string;
  resolver?: string;
}

/** Expected outcomes are values; only bugs throw. */
export type ValidationResult =
  | { status: 'valid'; records: ValidationRecord[] }
  | { status: 'invalid'; problem: AcmeProblem; records: ValidationRecord[] };

export interface ChallengeValidator {
  readonly type: ChallengeType;
  /** Whether this challenge type may prove this identifier (e.g. dns-01 never for IPs, RFC 8738 §7). */
  accepts(identifier: Identifier, wildcard: boolean): boolean;
  validate(input: ValidationInput, signal: AbortSignal): Promise<ValidationResult>;
}
