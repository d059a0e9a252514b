import type { Clock } from '../lib/clock.js';
import type { Random } from '../lib/random.js';
import { base64url } from '../lib/base64url.js';

/** RFC 8555 §6.5 replay nonces: memory for one instance, SQL (storage/sql) for several. */
export interface NonceStore {
  /** A fresh nonce for a Replay-Nonce header (§6.5.1): base64url, unpredictable, unique. */
  issue(): Promise<string>;
  /** True at most once per issued nonce; false when it is unknown, expired or already used (§6.5). */
  consume(nonce: string): Promise<boolean>;
  /** Forgets every nonce; `issue` fails afterwards. Called by src/app on stop. */
  close(): Promise<void>;
}

export interface MemoryNonceStoreOptions {
  clock: Clock;
  random: Random;
  /** How long an issued nonce is accepted. */
  lifetimeMs: number;
  /** How many issued nonces are remembered; once more are issued, the oldest is forgotten (→ badNonce). */
  maxStored: number;
}

// §6.5: "generate a random 128-bit value for each response".
const NONCE_BYTES = 16;
const NONCE_LENGTH = Math.ceil((NONCE_BYTES * 4) / 3); // base64url without padding: 22
// Random bytes are drawn for this many nonces at once: one call to the Random per 64 issues.
const POOL_NONCES = 64;
// Slots examined per issue() when pruning, so no single call does unbounded work.
const PRUNE_BATCH = 64;

/**
 * Issued nonces sit in a ring of `maxStored` slots in issue order (sequence number `seq` lives in slot
 * `seq % maxStored`), with their expiry; `live` maps a nonce to its seq for the O(1) lookup. Every nonce
 * lives lifetimeMs, so the ring is also in expiry order: pruning and eviction only look at its head.
 * A consumed nonce leaves an empty slot behind. (A Map alone, pruned from its front, slows to O(n) per
 * call once deletions pile up at the front of V8's ordered table.)
 */
class MemoryNonceStore implements NonceStore {
  private readonly live = new Map<string, number>();
  private readonly ring: (string | undefined)[] = [];
  private readonly expiries: number[] = [];
  private head = 0; // seq of the oldest slot still in the ring
  private next = 0; // seq of the next nonce
  private pool: Uint8Array = new Uint8Array(0);
  private poolOffset = 0;
  private closed = false;

  constructor(private readonly opts: MemoryNonceStoreOptions) {}

  issue(): Promise<string> {
    if (this.closed) return Promise.reject(new Error('nonce store is closed'));
    const now = this.opts.clock.now().getTime();
    this.prune(now);
    if (this.next - this.head === this.opts.maxStored) this.dropHead();
    let nonce = this.nextNonce();
    while (this.live.has(nonce)) nonce = this.nextNonce(); // §6.5.1 "unique": only a broken Random repeats
    const slot = this.next % this.opts.maxStored;
    this.ring[slot] = nonce;
    this.expiries[slot] = now + this.opts.lifetimeMs;
    this.live.set(nonce, this.next++);
    return Promise.resolve(nonce);
  }

  consume(nonce: string): Promise<boolean> {
    if (nonce.length !== NONCE_LENGTH) return Promise.resolve(false); // never issued here; skip the lookup
    const seq = this.live.get(nonce);
    if (seq === undefined) return Promise.resolve(false);
    // §6.5: "Once a nonce value has appeared in an ACME request, the server MUST consider it invalid".
    this.live.delete(nonce);
    const slot = seq % this.opts.maxStored;
    this.ring[slot] = undefined;
    return Promise.resolve((this.expiries[slot] ?? 0) > this.opts.clock.now().getTime());
  }

  close(): Promise<void> {
    this.closed = true;
    this.live.clear();
    this.ring.length = 0;
    this.expiries.length = 0;
    return Promise.resolve();
  }

  private nextNonce(): string {
    if (this.poolOffset + NONCE_BYTES > this.pool.length) {
      this.pool = this.opts.random.bytes(NONCE_BYTES * POOL_NONCES);
      this.poolOffset = 0;
    }
    const bytes = this.pool.subarray(this.poolOffset, this.poolOffset + NONCE_BYTES);
    this.poolOffset += NONCE_BYTES;
    return base64url.encode(bytes);
  }

  /** Frees up to PRUNE_BATCH head slots that are empty or expired; stops at the first live one. */
  private prune(now: number): void {
    for (let budget = PRUNE_BATCH; budget > 0 && this.head < this.next; budget--) {
      const slot = this.head % this.opts.maxStored;
      if (this.ring[slot] !== undefined && (this.expiries[slot] ?? 0) > now) return;
      this.dropHead();
    }
  }

  private dropHead(): void {
    const slot = this.head % this.opts.maxStored;
    const nonce = this.ring[slot];
    if (nonce !== undefined) {
      this.live.delete(nonce);
      this.ring[slot] = undefined;
    }
    this.head++;
  }
}

/**
 * A NonceStore in process memory. Nonces are 16 random bytes, base64url. Each is accepted once, until
 * it is used, `lifetimeMs` has passed, or `maxStored` newer nonces have been issued, whichever comes
 * first. Memory is bounded by `maxStored`. No timer: expired nonces are pruned a few at a time on `issue`.
 */
export function createMemoryNonceStore(opts: MemoryNonceStoreOptions): NonceStore {
  if (!(opts.lifetimeMs > 0)) throw new RangeError(`nonce lifetimeMs must be positive, got ${opts.lifetimeMs}`);
  if (!Number.isInteger(opts.maxStored) || opts.maxStored < 1) {
    throw new RangeError(`nonce maxStored must be a positive integer, got ${opts.maxStored}`);
  }
  return new MemoryNonceStore(opts);
}
