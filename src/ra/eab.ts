/** External Account Binding keys (RFC 8555 §7.3.4), stored server-side, created by the admin CLI. */
import { randomId } from '../lib/random.js';
import type { EabKeyRecord } from '../storage/store.js';
import type { RaDeps } from './deps.js';
import type { ProfileRuntime } from './profiles.js';

export interface CreatedEabKey {
  kid: string;
  /** base64url HMAC key: shown once, never stored anywhere but the database. */
  hmacKey: string;
  record: EabKeyRecord;
}

export class EabKeys {
  constructor(private readonly deps: Pick<RaDeps, 'store' | 'clock' | 'random'>) {}

  /** A usable key of this profile, or undefined (unknown, revoked, other profile). */
  async lookup(profile: ProfileRuntime, kid: string): Promise<EabKeyRecord | undefined> {
    const key = await this.deps.store.getEabKey(kid);
    if (!key || key.revokedAt || key.profile !== profile.name) return undefined;
    return key;
  }

  async create(profile: string, opts: { kid?: string; registrationId?: string; maxBindings?: number } = {}): Promise<CreatedEabKey> {
    const bytes = this.deps.random.bytes(32);
    const record: EabKeyRecord = {
      kid: opts.kid ?? `kid-${randomId(this.deps.random, 96)}`,
      profile,
      hmacKey: bytes,
      registrationId: opts.registrationId ?? null,
      maxBindings: opts.maxBindings ?? 1,
      createdAt: this.deps.clock.now(),
      revokedAt: null,
    };
    await this.deps.store.transaction((tx) => tx.insertEabKey(record));
    return { kid: record.kid, hmacKey: Buffer.from(bytes).toString('base64url'), record };
  }
}
