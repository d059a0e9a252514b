/** RFC 8555 wire types: statuses and object shapes as the RFC spells them. */

// RFC 8555 §7.1.6 and §7.1.2-7.1.5
export type AccountStatus = 'valid' | 'deactivated' | 'revoked';
export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export type AuthorizationStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';
export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';
export const CHALLENGE_TYPES: readonly ChallengeType[] = ['http-01', 'dns-01', 'tls-alpn-01'];

/** RFC 8555 §9.7.7 `dns`, RFC 8738 `ip`. */
export type IdentifierType = 'dns' | 'ip';
export interface Identifier {
  type: IdentifierType;
  value: string;
}

/** RFC 5280 §5.3.1 CRLReason codes; 7 is not used. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[keyof typeof REVOCATION_REASONS];
export function isRevocationReason(n: unknown): n is RevocationReason {
  return typeof n === 'number' && Object.values(REVOCATION_REASONS).includes(n as RevocationReason);
}

export interface ProblemDocument {
  type: string;
  detail: string;
  status: number;
  identifier?: Identifier;
  subproblems?: ProblemDocument[];
  instance?: string;
  /** draft-ietf-acme-profiles / RFC 8555 §7.3.3: where the user must act */
  [extra: string]: unknown;
}

export function identifierKey(id: Identifier): string {
  return `${id.type}:${id.value}`;
}
