import { createHash } from 'node:crypto';

/** SHA-256 of the key authorization (RFC 8555 §8.4 step 1, RFC 8737 §3 step 1). */
export function keyAuthorizationDigest(keyAuthorization: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(keyAuthorization, 'utf8').digest());
}

/** RFC 8555 §8.1: token || '.' || base64url(thumbprint), both parts from the base64url alphabet. */
export function isWellFormedKeyAuthorization(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
}
