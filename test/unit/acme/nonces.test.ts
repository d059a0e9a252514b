import { describe, it, expect } from 'vitest';
import { createMemoryNonceStore, type NonceStore } from '../../../src/acme/nonces.js';
import { TestClock, MINUTE_MS } from '../../../src/lib/clock.js';
import { SeededRandom } from '../../../src/lib/random.js';

function store(opts: { maxStored?: number; lifetimeMs?: number } = {}): { nonces: NonceStore; clock: TestClock } {
  const clock = new TestClock('2030-01-01T00:00:00Z');
  const nonces = createMemoryNonceStore({
    clock,
    random: new SeededRandom('nonces'),
    lifetimeMs: opts.lifetimeMs ?? 10 * MINUTE_MS,
    maxStored: opts.maxStored ?? 1000,
  });
  return { nonces, clock };
}

describe('memory nonce store (RFC 8555 §6.5)', () => {
  it('issues 128-bit base64url nonces that differ', async () => {
    const { nonces } = store();
    const issued = await Promise.all(Array.from({ length: 200 }, () => nonces.issue()));
    for (const n of issued) expect(n).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(issued).size).toBe(200);
  });

  it('accepts an issued nonce once, then refuses it', async () => {
    const { nonces } = store();
    const n = await nonces.issue();
    expect(await nonces.consume(n)).toBe(true);
    expect(await nonces.consume(n)).toBe(false);
  });

  it('refuses a nonce it never issued', async () => {
    const { nonces } = store();
    await nonces.issue();
    expect(await nonces.consume('AAAAAAAAAAAAAAAAAAAAAA')).toBe(false);
    expect(await nonces.consume('not-a-nonce')).toBe(false);
    expect(await nonces.consume('')).toBe(false);
  });

  it('refuses a nonce issued by another store', async () => {
    const a = createMemoryNonceStore({ clock: new TestClock(), random: new SeededRandom('a'), lifetimeMs: MINUTE_MS, maxStored: 10 });
    const b = createMemoryNonceStore({ clock: new TestClock(), random: new SeededRandom('b'), lifetimeMs: MINUTE_MS, maxStored: 10 });
    expect(await b.consume(await a.issue())).toBe(false);
  });

  it('refuses a nonce once its lifetime has passed', async () => {
    const { nonces, clock } = store({ lifetimeMs: MINUTE_MS });
    const n = await nonces.issue();
    clock.advance(MINUTE_MS);
    expect(await nonces.consume(n)).toBe(false);
  });

  it('accepts a nonce just before its lifetime ends', async () => {
    const { nonces, clock } = store({ lifetimeMs: MINUTE_MS });
    const n = await nonces.issue();
    clock.advance(MINUTE_MS - 1);
    expect(await nonces.consume(n)).toBe(true);
  });

  it('refuses a batch of expired nonces and still accepts a live one', async () => {
    const { nonces, clock } = store({ lifetimeMs: MINUTE_MS, maxStored: 10_000 });
    const old = await Promise.all(Array.from({ length: 50 }, () => nonces.issue()));
    clock.advance(MINUTE_MS / 2);
    const live = await nonces.issue();
    clock.advance(MINUTE_MS / 2);
    await nonces.issue(); // prunes the 50 expired ones
    for (const n of old) expect(await nonces.consume(n)).toBe(false);
    expect(await nonces.consume(live)).toBe(true);
  });

  it('forgets the oldest nonce when maxStored is reached', async () => {
    const { nonces } = store({ maxStored: 3 });
    const [first, second, third] = [await nonces.issue(), await nonces.issue(), await nonces.issue()];
    const fourth = await nonces.issue();
    expect(await nonces.consume(first!)).toBe(false);
    expect(await nonces.consume(second!)).toBe(true);
    expect(await nonces.consume(third!)).toBe(true);
    expect(await nonces.consume(fourth)).toBe(true);
  });

  it('counts issued nonces, used or not, towards maxStored', async () => {
    const { nonces } = store({ maxStored: 3 });
    const [a, b, c] = [await nonces.issue(), await nonces.issue(), await nonces.issue()];
    expect(await nonces.consume(b!)).toBe(true);
    await nonces.issue();
    expect(await nonces.consume(a!)).toBe(false);
    expect(await nonces.consume(c!)).toBe(true);
  });

  it('is deterministic for a seeded Random', async () => {
    const a = store().nonces;
    const b = store().nonces;
    expect(await a.issue()).toBe(await b.issue());
  });

  it('forgets every nonce on close and refuses to issue afterwards', async () => {
    const { nonces } = store();
    const n = await nonces.issue();
    await nonces.close();
    expect(await nonces.consume(n)).toBe(false);
    await expect(nonces.issue()).rejects.toThrow(/closed/);
  });

  it('refuses nonsensical options', () => {
    const base = { clock: new TestClock(), random: new SeededRandom('x') };
    expect(() => createMemoryNonceStore({ ...base, lifetimeMs: 0, maxStored: 1 })).toThrow(RangeError);
    expect(() => createMemoryNonceStore({ ...base, lifetimeMs: 1, maxStored: 0 })).toThrow(RangeError);
  });
});
