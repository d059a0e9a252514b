/** RFC 8555 §6.6 rate limits (src/ra/rate-limits.ts): a token bucket per key, on an injected clock. */
import { describe, expect, it } from 'vitest';
import { HOUR_MS, MINUTE_MS, TestClock } from '../../../src/lib/clock.js';
import { RateLimiter } from '../../../src/ra/rate-limits.js';
import { problemOf } from './helpers.js';

describe('RateLimiter', () => {
  it('allows `count` at once, then refuses with rateLimited, 429 and the seconds until the next one', async () => {
    const clock = new TestClock();
    const limiter = new RateLimiter(clock, 'new orders for this account');
    const limit = { count: 3, per: HOUR_MS };
    for (let i = 0; i < 3; i++) limiter.take('a', limit);
    const p = await problemOf(() => limiter.take('a', limit));
    expect(p).toMatchObject({ type: 'rateLimited', status: 429 });
    expect(p.detail).toBe('too many new orders for this account: at most 3 per 1h; try again in 1200 s');
    expect(p.toDocument().type).toBe('urn:ietf:params:acme:error:rateLimited');
    expect(p.headers).toMatchObject({ 'Retry-After': '1200' });
  });

  it('refills evenly over `per`, never above `count`', async () => {
    const clock = new TestClock();
    const limiter = new RateLimiter(clock, 'x');
    const limit = { count: 2, per: HOUR_MS };
    limiter.take('a', limit);
    limiter.take('a', limit);
    clock.advance(30 * MINUTE_MS); // one token back
    limiter.take('a', limit);
    await expect(problemOf(() => limiter.take('a', limit))).resolves.toMatchObject({ type: 'rateLimited' });
    clock.advance(10 * HOUR_MS); // full again, but only 2
    limiter.take('a', limit);
    limiter.take('a', limit);
    await expect(problemOf(() => limiter.take('a', limit))).resolves.toMatchObject({ type: 'rateLimited' });
  });

  it('counts each key on its own, and never refuses without a limit', () => {
    const limiter = new RateLimiter(new TestClock(), 'x');
    const limit = { count: 1, per: HOUR_MS };
    limiter.take('a', limit);
    limiter.take('b', limit);
    for (let i = 0; i < 1000; i++) limiter.take('a', undefined);
  });
});
