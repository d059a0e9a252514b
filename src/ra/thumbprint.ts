import { calculateJwkThumbprint, type JWK } from 'jose';

/** RFC 7638 SHA-256 thumbprint, base64url. */
export function thumbprintOfJwk(jwk: Record<string, unknown>): Promise<string> {
  return calculateJwkThumbprint(jwk as JWK, 'sha256');
}
