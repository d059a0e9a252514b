import { randomBytes, randomFillSync, createHash } from 'node:crypto';
import { base64url } from './base64url.js';

/** The one source of randomness: ids, nonces, tokens, serials. Tests inject a seeded one. */
export interface Random {
  bytes(n: number): Uint8Array;
}

/**
 * The CSPRNG, drawn in 4 KiB batches: ids, nonces and serials take 8–32 bytes each, and one
 * randomFillSync per batch costs less than a randomBytes call per id (Node's randomUUID caches
 * the same way). Every byte is handed out once.
 */
const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let used = 0;

export const systemRandom: Random = {
  bytes(n) {
    if (n > 256) return new Uint8Array(randomBytes(n));
    if (used + n > pool.length) {
      pool = randomFillSync(new Uint8Array(POOL_BYTES));
      used = 0;
    }
    const out = pool.slice(used, used + n);
    used += n;
    return out;
  },
};

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
