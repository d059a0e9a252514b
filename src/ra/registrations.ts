/**
 * The live binding between an ACME account and its registration in the legacy system (issue #4):
 * a registration an RA officer disables stops the account, and its allowed names limit what the
 * account may order. States are cached per registration for the profile's registrationCacheTtl.
 */
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { problem, type Subproblem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';
import { hasRegistrationSync, type AccountSummary, type RegistrationState } from '../sdk/connector.js';
import { isConnectorError } from '../sdk/errors.js';
import { toProblem } from '../issuance/errors.js';
import type { AccountRecord } from '../storage/store.js';
import type { ProfileRuntime } from './profiles.js';

/**
 * Whether `name` is covered by a registration's allowed names: an entry `example.com` covers exactly
 * that name; `*.example.com` covers every name below example.com (any depth, wildcards included) but
 * not example.com itself; IP addresses match exactly.
 */
export function nameAllowed(id: Identifier, allowed: readonly string[]): boolean {
  const value = id.value.toLowerCase();
  return allowed.some((raw) => {
    const entry = raw.trim().toLowerCase().replace(/\.$/, '');
    if (entry === value) return true;
    if (id.type !== 'dns' || !entry.startsWith('*.')) return false;
    const suffix = entry.slice(1); // ".example.com"
    const base = value.startsWith('*.') ? value.slice(1) : `.${value}`;
    return base.endsWith(suffix) && base.length > suffix.length;
  });
}

export class Registrations {
  private readonly cache = new Map<string, { state: RegistrationState; until: number }>();

  constructor(private readonly deps: { clock: Clock; log: Logger }) {}

  /** The registration's state, from the cache or the backend; undefined when the account has none. */
  async state(profile: ProfileRuntime, id: string | null): Promise<RegistrationState | undefined> {
    const connector = profile.connector;
    if (!id || !hasRegistrationSync(connector)) return undefined;
    const key = `${profile.connectorName}\u0000${id}`;
    const now = this.deps.clock.now().getTime();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.state;
    let state: RegistrationState;
    try {
      state = await connector.registration({ id }, AbortSignal.timeout(15_000));
    } catch (e) {
      if (isConnectorError(e) && (e.code === 'not-found' || e.code === 'unauthorized')) state = { enabled: false };
      else if (isConnectorError(e)) throw toProblem(e);
      else throw e;
    }
    if (profile.config.registrationCacheTtl > 0) this.cache.set(key, { state, until: now + profile.config.registrationCacheTtl });
    if (this.cache.size > 100_000) this.cache.delete(this.cache.keys().next().value as string);
    return state;
  }

  /** Throws `unauthorized` when the account's registration is disabled (or gone) in the backend. */
  async checkAccount(profile: ProfileRuntime, account: AccountRecord): Promise<void> {
    await this.checkEnabled(profile, account.registrationId);
  }

  async checkEnabled(profile: ProfileRuntime, registrationId: string | null): Promise<void> {
    const state = await this.state(profile, registrationId);
    if (state && !state.enabled) {
      throw problem.unauthorized(`the registration "${registrationId}" behind this account is disabled in the certificate manager`);
    }
  }

  /** Throws `rejectedIdentifier`, one subproblem per identifier the registration may not order. */
  async checkIdentifiers(profile: ProfileRuntime, account: AccountRecord, identifiers: readonly Identifier[]): Promise<void> {
    const state = await this.state(profile, account.registrationId);
    if (!state?.allowedNames) return;
    const allowed = state.allowedNames;
    const refused: Subproblem[] = identifiers
      .filter((id) => !nameAllowed(id, allowed))
      .map((identifier) => ({ type: 'rejectedIdentifier', detail: `${identifier.value} is not among the names registration "${account.registrationId}" may order`, identifier }));
    if (refused.length > 0) throw problem.rejectedIdentifier(refused, refused.length === 1 ? refused[0]?.detail : undefined);
  }

  /** newAccount on an `open` profile: the backend creates (or finds) the account's registration. */
  async ensure(profile: ProfileRuntime, account: AccountSummary): Promise<string | null> {
    const connector = profile.connector;
    if (!hasRegistrationSync(connector)) return null;
    try {
      const ref = await connector.ensureRegistration(account, AbortSignal.timeout(15_000));
      return ref.id;
    } catch (e) {
      if (isConnectorError(e)) throw toProblem(e);
      throw e;
    }
  }

  /** Forget one registration's cached state: the backend just refused it (issuance said unauthorized). */
  forget(connectorName: string, id: string): void {
    this.cache.delete(`${connectorName}\u0000${id}`);
  }

  /** Forget cached states (tests, admin actions). */
  invalidate(): void {
    this.cache.clear();
  }
}
