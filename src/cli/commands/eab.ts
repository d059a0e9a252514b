import { EabKeys } from '../../ra/eab.js';
import { systemClock } from '../../lib/clock.js';
import { systemRandom } from '../../lib/random.js';
import type { Config } from '../../config/schema.js';
import { openStore } from '../../app/storage.js';
import type { CliValues } from '../main.js';

/** `eab create --profile P`: makes an HMAC key, stores it, prints kid and key once. */
export async function eab(config: Config, sub: string | undefined, values: CliValues): Promise<number> {
  if (sub !== 'create') {
    process.stderr.write('usage: acme-gateway eab create --profile P [--registration R] [--max-bindings N] [--kid KID]\n');
    return 64;
  }
  const profile = values.profile ?? config.defaultProfile;
  if (!config.profiles[profile]) {
    process.stderr.write(`acme-gateway: --profile: no profile named "${profile}"\n`);
    return 78;
  }
  const maxBindings = values['max-bindings'] !== undefined ? Number(values['max-bindings']) : 1;
  if (!Number.isInteger(maxBindings) || maxBindings < 1) {
    process.stderr.write(`acme-gateway: --max-bindings: "${values['max-bindings']}" is not a positive whole number\n`);
    return 64;
  }
  const store = await openStore(config);
  try {
    const keys = new EabKeys({ store, clock: systemClock, random: systemRandom });
    const created = await keys.create(profile, {
      ...(values.kid ? { kid: values.kid } : {}),
      ...(values.registration ? { registrationId: values.registration } : {}),
      maxBindings,
    });
    process.stdout.write(`kid: ${created.kid}\nhmac: ${created.hmacKey}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
