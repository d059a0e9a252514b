/**
 * The little DER (X.690) this connector writes and reads on its hot path. @peculiar/x509's schema
 * layer costs milliseconds per certificate; a leaf is a fixed shape, so it is built here directly.
 * Only definite lengths and one-byte tags, which is all X.509 and PKCS#10 use.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type Der = Uint8Array;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV: tag, DER length, contents. */
export function tlv(tag: number, ...contents: readonly Der[]): Der {
  const size = contents.reduce((n, c) => n + c.length, 0);
  const head = [tag, ...lengthBytes(size)];
  const out = new Uint8Array(head.length + size);
  out.set(head, 0);
  let off = head.length;
  for (const c of contents) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export const sequence = (...items: readonly Der[]): Der => tlv(0x30, ...items);
export const set = (...items: readonly Der[]): Der => tlv(0x31, ...items);
export const octetString = (bytes: Der): Der => tlv(0x04, bytes);
export const utf8String = (text: string): Der => tlv(0x0c, new TextEncoder().encode(text));
export const booleanTrue: Der = new Uint8Array([0x01, 0x01, 0xff]);
/** [n] EXPLICIT, or IMPLICIT over a constructed type. */
export const contextConstructed = (n: number, ...items: readonly Der[]): Der => tlv(0xa0 | n, ...items);
/** [n] IMPLICIT over a primitive type (IA5String, OCTET STRING, ...). */
export const contextPrimitive = (n: number, bytes: Der): Der => tlv(0x80 | n, bytes);

/** BIT STRING with `unusedBits` trailing bits of the last byte unused. */
export const bitString = (bytes: Der, unusedBits = 0): Der => tlv(0x03, new Uint8Array([unusedBits]), bytes);

/** INTEGER from big-endian magnitude bytes: minimal, with a 0x00 in front when the top bit is set. */
export function unsignedInteger(magnitude: Der): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  return (body[0] ?? 0) & 0x80 ? tlv(0x02, new Uint8Array([0]), body) : tlv(0x02, body.length ? body : new Uint8Array([0]));
}

export function oid(dotted: string): Der {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const bytes: number[] = [40 * a + b];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; seconds, always Z. */
export function time(date: Date): Der {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, new TextEncoder().encode(digits.slice(2)));
  return tlv(0x18, new TextEncoder().encode(digits));
}

/** The bytes of an iPAddress GeneralName (RFC 5280 §4.2.1.6): 4 octets for IPv4, 16 for IPv6. */
export function ipBytes(ip: string): Der {
  if (isIPv4(ip)) return new Uint8Array(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new RangeError(`not an IP address: ${ip}`);
  let text = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** WebCrypto's ECDSA signature (r ‖ s, IEEE P1363) as the DER Ecdsa-Sig-Value X.509 wants (RFC 3279 §2.2.3). */
export function ecdsaSignatureToDer(raw: Der): Der {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

// ---------------------------------------------------------------- reading
// The reader is the SDK's (src/sdk/der.ts), shared with the gateway's CSR and certificate checks.
export { bytesOf, childrenOf, contentOf, oidText, readNode, type Node } from '../../src/sdk/der.js';
