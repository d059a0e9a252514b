/** Facts read off an issued certificate when it is stored. */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { base64url } from '../lib/base64url.js';

x509.cryptoProvider.set(globalThis.crypto);

/** The base64url AKI keyIdentifier of a PEM certificate (half of the RFC 9773 certID), or null. */
export function authorityKeyIdOf(leafPem: string): string | null {
  const cert = new x509.X509Certificate(leafPem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  return aki?.keyId ? base64url.encode(new Uint8Array(Buffer.from(aki.keyId, 'hex'))) : null;
}
