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
  /** Upper bound on nonces held; past it the oldest is forgotten (and later refused as badNonce). */
  maxStored: number;
}

// §6.5: "generate a random 128-bit value for each response".
const NONCE_BYTES = 16;
const NONCE_LENGTH = Math.ceil((NONCE_BYTES * 4) / 3); // base64url without padding: 22
// Random bytes are drawn for this many nonces at once: one call to the Random per 64 issues.
const POOL_NONCES = 64;
// Expired entries removed per issue(); more than one, so expired entries never pile up.
const PRUNE_BATCH = 64;

class MemoryNonceStore implements NonceStore {
  // Nonce → expiry (ms). Map keeps insertion order, and every nonce lives lifetimeMs, so the first
  // entries are the oldest and expire first: pruning and eviction only ever look at the front.
  private readonly expiries = new Map<string, number>();
  private pool: Uint8Array = new Uint8Array(0);
  private poolOffset = 0;
  private closed = false;

  constructor(private readonly opts: MemoryNonceStoreOptions) {}

  issue(): Promise<string> {
    if (this.closed) return Promise.reject(new Error('nonce store is closed'));
    const now = this.opts.clock.now().getTime();
    this.prune(now);
    while (this.expiries.size >= this.opts.maxStored) this.dropOldest();
    let nonce = this.nextNonce();
    while (this.expiries.has(nonce)) nonce = this.nextNonce(); // §6.5.1 "unique": only a broken Random repeats
    this.expiries.set(nonce, now + this.opts.lifetimeMs);
    return Promise.resolve(nonce);
  }

  consume(nonce: string): Promise<boolean> {
    if (nonce.length !== NONCE_LENGTH) return Promise.resolve(false); // never issued here; skip the lookup
    const expiresAt = this.expiries.get(nonce);
    if (expiresAt === undefined) return Promise.resolve(false);
    // §6.5: "Once a nonce value has appeared in an ACME request, the server MUST consider it invalid".
    this.expiries.delete(nonce);
    return Promise.resolve(expiresAt > this.opts.clock.now().getTime());
  }

  close(): Promise<void> {
    this.closed = true;
    this.expiries.clear();
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

  /** Drops up to PRUNE_BATCH expired nonces from the front; stops at the first live one. */
  private prune(now: number): void {
    let budget = PRUNE_BATCH;
    for (const [nonce, expiresAt] of this.expiries) {
      if (expiresAt > now || budget-- === 0) return;
      this.expiries.delete(nonce);
    }
  }

  private dropOldest(): void {
    const oldest = this.expiries.keys().next();
    if (!oldest.done) this.expiries.delete(oldest.value);
  }
}

/**
 * A NonceStore in process memory: nonces are 16 random bytes, base64url; each is accepted once, until
 * `lifetimeMs` has passed, and at most `maxStored` are held. No timer: expired nonces are pruned a few
 * at a time on `issue`.
 */
export function createMemoryNonceStore(opts: MemoryNonceStoreOptions): NonceStore {
  if (!(opts.lifetimeMs > 0)) throw new RangeError(`nonce lifetimeMs must be positive, got ${opts.lifetimeMs}`);
  if (!Number.isInteger(opts.maxStored) || opts.maxStored < 1) {
    throw new RangeError(`nonce maxStored must be a positive integer, got ${opts.maxStored}`);
  }
  return new MemoryNonceStore(opts);
}
