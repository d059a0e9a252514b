import { randomBytes, createHash } from 'node:crypto';
import { base64url } from './base64url.js';

/** The one source of randomness: ids, nonces, tokens, serials. Tests inject a seeded one. */
export interface Random {
  bytes(n: number): Uint8Array;
}

export const systemRandom: Random = { bytes: (n) => new Uint8Array(randomBytes(n)) };

/** Deterministic bytes from a seed (SHA-256 in counter mode); for tests only. */
export class SeededRandom implements Random {
  private counter = 0;
  constructor(private readonly seed: string) {}
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const block = createHash('sha256').update(`${this.seed}:${this.counter++}`).digest();
      const take = Math.min(block.length, n - off);
      out.set(block.subarray(0, take), off);
      off += take;
    }
    return out;
  }
}

/** A URL-safe random id with `bits` bits of entropy (default 128). */
export function randomId(random: Random, bits = 128): string {
  return base64url.encode(random.bytes(Math.ceil(bits / 8)));
}
