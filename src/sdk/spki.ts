/**
 * A DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) read by hand, and the key as a KeyObject built
 * from JWK members: OpenSSL 3's DER decoder behind `createPublicKey({format: 'der'})` costs
 * 0.2–0.4 ms a key, the JWK route about a tenth of that (measured with the benchmark's CPU
 * profile, issue #6). Both the gateway (finalize) and connectors read CSR keys through here.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { childrenOf, contentOf, oidText, readNode } from './der.js';

export type KeyDescription =
  | { kind: 'rsa'; bits: number }
  | { kind: 'ec'; curve: 'P-256' | 'P-384' | 'P-521' }
  | { kind: 'other'; name: string };

export interface ReadSpki {
  key: KeyDescription;
  keyObject: KeyObject;
  /** The gateway's key type name: "ec-p256", "rsa-2048", "ed25519", ... (see keyTypeOf). */
  keyType: string;
}

const OID_RSA = '1.2.840.113549.1.1.1';
const OID_EC = '1.2.840.10045.2.1';
const CURVES: Record<string, { name: 'P-256' | 'P-384' | 'P-521'; typeName: string; coordinateBytes: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', typeName: 'ec-p256', coordinateBytes: 32 },
  '1.3.132.0.34': { name: 'P-384', typeName: 'ec-p384', coordinateBytes: 48 },
  '1.3.132.0.35': { name: 'P-521', typeName: 'ec-p521', coordinateBytes: 66 },
};

/** For messages only: key algorithms a CSR may carry that have no fast path here. */
const OTHER_KEY_NAMES: Record<string, string> = { '1.3.101.112': 'Ed25519', '1.3.101.113': 'Ed448', '1.2.840.113549.1.1.10': 'RSA-PSS', '1.2.840.10040.4.1': 'DSA' };

const b64url = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
const stripZeros = (bytes: Uint8Array) => {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
};

/** The gateway's name for a key's type: "rsa-2048", "ec-p256", "ed25519", ... */
export function keyTypeOf(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `rsa-${d.modulusLength ?? 0}`;
  if (key.asymmetricKeyType === 'ec') return `ec-${{ prime256v1: 'p256', secp384r1: 'p384', secp521r1: 'p521' }[d.namedCurve ?? ''] ?? d.namedCurve}`;
  return key.asymmetricKeyType ?? 'unknown';
}

const derKey = (spki: Uint8Array) => createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });

/** Throws RangeError on malformed input; OpenSSL's errors for keys it cannot take pass through. */
export function readSpki(spki: Uint8Array): ReadSpki {
  const root = readNode(spki, 0);
  if (root.end !== spki.length) throw new RangeError('SPKI: trailing bytes');
  const [alg, bits] = childrenOf(spki, root, 0x30);
  if (alg === undefined || bits === undefined || bits.tag !== 0x03) throw new RangeError('SPKI: expected algorithm and BIT STRING');
  const [algOid, params] = childrenOf(spki, alg, 0x30);
  if (algOid === undefined) throw new RangeError('SPKI: empty AlgorithmIdentifier');
  const algorithm = oidText(spki, algOid);
  const keyBits = contentOf(spki, bits);
  if (keyBits[0] !== 0) throw new RangeError('SPKI: unused bits in the key');
  const key = keyBits.subarray(1);
  if (algorithm === OID_RSA) {
    const [n, e] = childrenOf(key, readNode(key, 0), 0x30); // RFC 8017 A.1.1 RSAPublicKey
    if (n?.tag !== 0x02 || e?.tag !== 0x02) throw new RangeError('SPKI: malformed RSAPublicKey');
    const modulus = stripZeros(contentOf(key, n));
    const keyObject = createPublicKey({ key: { kty: 'RSA', n: b64url(modulus), e: b64url(stripZeros(contentOf(key, e))) }, format: 'jwk' });
    const bitLength = modulus.length * 8 - (Math.clz32(modulus[0] ?? 0) - 24); // leading zero bits of the top byte
    return { key: { kind: 'rsa', bits: bitLength }, keyObject, keyType: `rsa-${bitLength}` };
  }
  if (algorithm === OID_EC) {
    const curve = params?.tag === 0x06 ? CURVES[oidText(spki, params)] : undefined;
    if (curve === undefined) {
      const keyObject = derKey(spki);
      return { key: { kind: 'other', name: 'EC on an unsupported curve' }, keyObject, keyType: keyTypeOf(keyObject) };
    }
    const size = curve.coordinateBytes;
    // SEC 1 §2.3.3: 0x04 ‖ X ‖ Y uncompressed; a compressed point takes OpenSSL's slower DER route.
    const keyObject = key[0] === 0x04 && key.length === 1 + 2 * size
      ? createPublicKey({ key: { kty: 'EC', crv: curve.name, x: b64url(key.subarray(1, 1 + size)), y: b64url(key.subarray(1 + size)) }, format: 'jwk' })
      : derKey(spki);
    return { key: { kind: 'ec', curve: curve.name }, keyObject, keyType: curve.typeName };
  }
  const keyObject = derKey(spki);
  return { key: { kind: 'other', name: OTHER_KEY_NAMES[algorithm] ?? algorithm }, keyObject, keyType: keyTypeOf(keyObject) };
}
