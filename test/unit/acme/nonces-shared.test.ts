import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSharedNonceStore } from '../../../src/acme/nonces-shared.js';
import type { NonceStore } from '../../../src/acme/nonces.js';
import { TestClock, MINUTE_MS } from '../../../src/lib/clock.js';
import { SeededRandom } from '../../../src/lib/random.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import type { Store } from '../../../src/storage/store.js';

describe('shared nonce store (several instances on one database)', () => {
  let dir: string;
  let store: Store;
  let clock: TestClock;
  let a: NonceStore;
  let b: NonceStore;
  const secret = new Uint8Array(32).fill(7);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nonces-shared-'));
    store = await createSqlStore({ driver: 'sqlite', path: path.join(dir, 'db.sqlite') });
    clock = new TestClock('2030-01-01T00:00:00Z');
    a = createSharedNonceStore({ clock, random: new SeededRandom('a'), lifetimeMs: 10 * MINUTE_MS, secret, ledger: store });
    b = createSharedNonceStore({ clock, random: new SeededRandom('b'), lifetimeMs: 10 * MINUTE_MS, secret, ledger: store });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts at another instance a nonce one instance issued, exactly once', async () => {
    const nonce = await a.issue();
    expect(await b.consume(nonce)).toBe(true);
    expect(await a.consume(nonce)).toBe(false);
    expect(await b.consume(nonce)).toBe(false);
  });

  it('refuses a nonce made with another secret', async () => {
    const foreign = createSharedNonceStore({ clock, random: new SeededRandom('c'), lifetimeMs: 10 * MINUTE_MS, secret: new Uint8Array(32).fill(8), ledger: store });
    expect(await a.consume(await foreign.issue())).toBe(false);
  });

  it('refuses a nonce whose lifetime has passed', async () => {
    const nonce = await a.issue();
    clock.advance(10 * MINUTE_MS);
    expect(await b.consume(nonce)).toBe(false);
  });

  it('refuses a nonce with one character changed, and text that is no nonce', async () => {
    const nonce = await a.issue();
    const flipped = `${nonce.slice(0, 10)}${nonce[10] === 'A' ? 'B' : 'A'}${nonce.slice(11)}`;
    expect(await a.consume(flipped)).toBe(false);
    expect(await a.consume('not-a-nonce')).toBe(false);
    expect(await a.consume(nonce)).toBe(true);
  });

  it('issues distinct nonces', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(await a.issue());
    expect(seen.size).toBe(500);
  });

  it('refuses a secret shorter than 32 bytes', () => {
    expect(() => createSharedNonceStore({ clock, random: new SeededRandom('x'), lifetimeMs: 1000, secret: new Uint8Array(16), ledger: store })).toThrow(RangeError);
  });
});
