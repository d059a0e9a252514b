/**
 * The RFC 9773 §4.1 certID of a certificate, computed in tests from the certificate itself (not with
 * the gateway's own `certId` in src/ra/ari.ts, so a mistake there is not repeated here):
 * base64url(AKI keyIdentifier) "." base64url(DER content octets of the serial).
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import * as x509 from '@peculiar/x509';

/** The certID of a PEM certificate; throws when it has no authority key identifier. */
export function certIdOf(pem: string): string {
  const cert = new x509.X509Certificate(pem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  if (!aki) throw new Error('the certificate has no authority key identifier');
  let serial = cert.serialNumber.toLowerCase();
  if (serial.length % 2) serial = `0${serial}`;
  if (parseInt(serial.slice(0, 1), 16) >= 8) serial = `00${serial}`; // a positive INTEGER keeps its sign octet
  return `${Buffer.from(aki, 'hex').toString('base64url')}.${Buffer.from(serial, 'hex').toString('base64url')}`;
}
