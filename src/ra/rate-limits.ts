/**
 * RFC 8555 §6.6 rate limits, per profile: new orders per account and new accounts per client IP
 * address, each `count` per `per` (a token bucket: `count` at once, refilled evenly over `per`).
 * Refused with `rateLimited` (429) and a Retry-After saying when the next one is allowed.
 *
 * Counted in this process's memory: with several instances each enforces the limit on the
 * requests it serves (docs/operations.md), and a restart starts afresh. A limit protects the
 * backend from a runaway client; it is not an accounting of issuance.
 */
import type { Clock } from '../lib/clock.js';
import { formatDurationMs } from '../lib/duration.js';
import { problem } from '../protocol/problem.js';

export interface RateLimit {
  count: number;
  /** Milliseconds over which `count` are allowed. */
  per: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Most buckets kept per limiter; a full bucket is the same as none, so the oldest are dropped first. */
const MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock,
    /** For the problem detail: "new orders per account". */
    private readonly what: string,
  ) {}

  /** Takes one token for `key` or throws rateLimited; a limit of undefined never refuses. */
  take(key: string, limit: RateLimit | undefined): void {
    if (limit === undefined) return;
    const now = this.clock.now().getTime();
    const bucket = this.buckets.get(key);
    const tokens = bucket === undefined ? limit.count : Math.min(limit.count, bucket.tokens + ((now - bucket.at) * limit.count) / limit.per);
    if (tokens < 1) {
      const waitSeconds = Math.max(1, Math.ceil(((1 - tokens) * limit.per) / limit.count / 1000));
      throw problem.rateLimited(`too many ${this.what}: at most ${limit.count} per ${formatDurationMs(limit.per)}; try again in ${waitSeconds} s`, waitSeconds);
    }
    this.buckets.delete(key); // re-insert: Map order is the order of last use
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > MAX_BUCKETS) {
      const oldest = this.buckets.keys().next();
      if (oldest.done !== true) this.buckets.delete(oldest.value);
    }
  }
}
