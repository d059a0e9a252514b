import { createHash } from 'node:crypto';

/** RFC 7638 §3.2: the required members per key type, in lexicographic order. */
const REQUIRED: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'], // RFC 8037 §2
};

/**
 * RFC 7638 SHA-256 thumbprint, base64url: the required members as compact JSON in lexicographic
 * order, hashed synchronously (jose's version goes through WebCrypto's job queue).
 */
export function thumbprintOfJwk(jwk: Record<string, unknown>): string {
  const required = typeof jwk.kty === 'string' ? REQUIRED[jwk.kty] : undefined;
  if (required === undefined) throw new TypeError(`RFC 7638 thumbprint: unsupported key type ${JSON.stringify(jwk.kty)}`);
  const members: Record<string, string> = {};
  for (const name of required) {
    const value = jwk[name];
    if (typeof value !== 'string') throw new TypeError(`RFC 7638 thumbprint: member "${name}" is missing`);
    members[name] = value;
  }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
