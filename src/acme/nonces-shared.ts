/**
 * RFC 8555 §6.5 nonces for several gateway instances on one database. A nonce carries its own
 * issue time and an HMAC under a secret all instances share, so any instance can tell a nonce it
 * never issued (or an expired one) without a lookup; the only write is at consume, where the
 * database's unique key makes "accepted at most once" hold across instances.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { base64url } from '../lib/base64url.js';
import type { Random } from '../lib/random.js';
import type { NonceStore } from './nonces.js';

const TIME_BYTES = 6; // milliseconds since the epoch, big-endian: enough until the year 10889
const RANDOM_BYTES = 10;
const MAC_BYTES = 16;
const NONCE_BYTES = TIME_BYTES + RANDOM_BYTES + MAC_BYTES;
const NONCE_LENGTH = Math.ceil((NONCE_BYTES * 4) / 3);
const PRUNE_EVERY_MS = 60_000;

/** Where used nonces are remembered until they would have expired anyway. */
export interface NonceLedger {
  /** Records the nonce as used; false when it was recorded before. */
  useNonce(nonce: string, expiresAt: Date): Promise<boolean>;
  /** Forgets used nonces that expired before `now`. */
  pruneNonces(now: Date): Promise<number>;
}

export interface SharedNonceStoreOptions {
  clock: Clock;
  random: Random;
  lifetimeMs: number;
  /** The HMAC key every instance shares (from the database). */
  secret: Uint8Array;
  ledger: NonceLedger;
  onPruneError?: (err: unknown) => void;
}

export function createSharedNonceStore(opts: SharedNonceStoreOptions): NonceStore {
  if (opts.secret.length < 32) throw new RangeError('the shared nonce secret must have at least 32 bytes');
  let closed = false;
  let nextPrune = 0;
  const mac = (body: Uint8Array) => createHmac('sha256', opts.secret).update(body).digest().subarray(0, MAC_BYTES);

  return {
    issue() {
      if (closed) return Promise.reject(new Error('nonce store is closed'));
      const bytes = new Uint8Array(NONCE_BYTES);
      const now = opts.clock.now().getTime();
      Buffer.from(bytes.buffer).writeUIntBE(now, 0, TIME_BYTES);
      bytes.set(opts.random.bytes(RANDOM_BYTES), TIME_BYTES);
      bytes.set(mac(bytes.subarray(0, TIME_BYTES + RANDOM_BYTES)), TIME_BYTES + RANDOM_BYTES);
      return Promise.resolve(base64url.encode(bytes));
    },

    async consume(nonce) {
      if (closed || nonce.length !== NONCE_LENGTH) return false;
      const bytes = base64url.decode(nonce);
      if (!bytes || bytes.length !== NONCE_BYTES) return false;
      const body = bytes.subarray(0, TIME_BYTES + RANDOM_BYTES);
      if (!timingSafeEqual(mac(body), bytes.subarray(TIME_BYTES + RANDOM_BYTES))) return false;
      const issuedAt = Buffer.from(bytes.buffer, bytes.byteOffset).readUIntBE(0, TIME_BYTES);
      const now = opts.clock.now().getTime();
      const expiresAt = issuedAt + opts.lifetimeMs;
      if (expiresAt <= now || issuedAt > now + 60_000) return false;
      if (now >= nextPrune) {
        nextPrune = now + PRUNE_EVERY_MS;
        opts.ledger.pruneNonces(new Date(now)).catch((err: unknown) => opts.onPruneError?.(err));
      }
      // §6.5: "Once a nonce value has appeared in an ACME request, the server MUST consider it invalid".
      return opts.ledger.useNonce(nonce, new Date(expiresAt));
    },

    close() {
      closed = true;
      return Promise.resolve();
    },
  };
}
