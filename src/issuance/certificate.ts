/** Facts read off an issued certificate when it is stored, with the SDK's DER walker (no schema library on the hot path). */
import { base64url } from '../lib/base64url.js';
import { childrenOf, contentOf, oidText, readNode } from '../sdk/der.js';

const OID_AKI = '2.5.29.35';

/** The base64url AKI keyIdentifier of a certificate (half of the RFC 9773 certID), or null. */
export function authorityKeyIdOf(certDer: Uint8Array): string | null {
  const root = readNode(certDer, 0);
  const [tbs] = childrenOf(certDer, root, 0x30);
  if (!tbs) return null;
  // RFC 5280 §4.1: extensions are the [3] EXPLICIT member of TBSCertificate.
  const extensions = childrenOf(certDer, tbs, 0x30).find((n) => n.tag === 0xa3);
  if (!extensions) return null;
  const [list] = childrenOf(certDer, extensions);
  if (!list) return null;
  for (const ext of childrenOf(certDer, list, 0x30)) {
    const parts = childrenOf(certDer, ext, 0x30);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (!id || value?.tag !== 0x04 || oidText(certDer, id) !== OID_AKI) continue;
    const inner = contentOf(certDer, value);
    const aki = readNode(inner, 0);
    const keyId = childrenOf(inner, aki, 0x30).find((n) => n.tag === 0x80); // [0] IMPLICIT KeyIdentifier
    return keyId ? base64url.encode(contentOf(inner, keyId)) : null;
  }
  return null;
}
