/** The part of an imported account key the RA needs: its public JWK and RFC 7638 thumbprint. */
export interface AccountKeyLike {
  jwk: Record<string, unknown>;
  thumbprint: string;
}
