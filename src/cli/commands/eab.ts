import { openStore } from '../../app/storage.js';
import type { Config } from '../../config/schema.js';
import { systemClock } from '../../lib/clock.js';
import { systemRandom } from '../../lib/random.js';
import { accountDeactivate } from '../../ra/order-state.js';
import { EabKeys } from '../../ra/eab.js';
import type { CliValues } from '../main.js';

const USAGE = `usage: acme-gateway eab create --profile P [--registration R] [--max-bindings N] [--kid KID]
       acme-gateway eab remove --kid KID [--deactivate-accounts]
`;

/**
 * `eab create`: makes an HMAC key, stores it, prints kid and key once. On a pre-registered
 * profile the kid is the registration's id in the legacy system (issue #4).
 * `eab remove`: no new account can bind with the key; `--deactivate-accounts` also deactivates
 * the accounts already bound to it.
 */
export async function eab(config: Config, sub: string | undefined, values: CliValues): Promise<number> {
  if (sub === 'create') return create(config, values);
  if (sub === 'remove') return remove(config, values);
  process.stderr.write(USAGE);
  return 64;
}

async function create(config: Config, values: CliValues): Promise<number> {
  // An ACME profile, or `raProfile/<binding>` for a binding served with its own directory.
  const profile = values.profile ?? config.defaultProfile;
  const binding = profile.startsWith('raProfile/') ? config.bindings[profile.slice('raProfile/'.length)] : undefined;
  const p = binding?.acme?.enabled ? config.profiles[binding.acme.profile] : config.profiles[profile];
  if (!p) {
    process.stderr.write(`acme-gateway: --profile: no profile named "${profile}" (ACME profiles: ${Object.keys(config.profiles).join(', ')}; bindings served as raProfile/<binding>)\n`);
    return 78;
  }
  const maxBindings = values['max-bindings'] !== undefined ? Number(values['max-bindings']) : 1;
  if (!Number.isInteger(maxBindings) || maxBindings < 1) {
    process.stderr.write(`acme-gateway: --max-bindings: "${values['max-bindings']}" is not a positive whole number\n`);
    return 64;
  }
  if (p.accounts === 'pre-registered' && !values.registration) {
    process.stderr.write(`acme-gateway: profile "${profile}" is pre-registered: --registration names the registration the key is for\n`);
    return 64;
  }
  const kid = values.kid ?? (p.accounts === 'pre-registered' ? values.registration : undefined);
  const store = await openStore(config);
  try {
    const keys = new EabKeys({ store, clock: systemClock, random: systemRandom });
    const created = await keys.create(profile, {
      ...(kid ? { kid } : {}),
      ...(values.registration ? { registrationId: values.registration } : {}),
      maxBindings,
    });
    process.stdout.write(`kid: ${created.kid}\nhmac: ${created.hmacKey}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

async function remove(config: Config, values: CliValues): Promise<number> {
  if (!values.kid) {
    process.stderr.write(USAGE);
    return 64;
  }
  const kid = values.kid;
  const store = await openStore(config);
  try {
    const now = systemClock.now();
    const result = await store.transaction(async (tx) => {
      const key = await tx.getEabKey(kid);
      if (!key) return undefined;
      if (!key.revokedAt) await tx.updateEabKey({ ...key, revokedAt: now });
      let deactivated = 0;
      if (values['deactivate-accounts']) {
        for (const account of await tx.listAccountsByEab(kid)) {
          if (account.status !== 'valid') continue;
          await tx.updateAccount(accountDeactivate(account, now));
          deactivated++;
        }
      }
      return { deactivated };
    });
    if (!result) {
      process.stderr.write(`acme-gateway: no EAB key "${kid}"\n`);
      return 1;
    }
    process.stdout.write(`removed: ${kid}\ndeactivated accounts: ${result.deactivated}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
