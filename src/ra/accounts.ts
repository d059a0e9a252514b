/** Accounts (RFC 8555 §7.3): creation with optional External Account Binding, update, deactivation, key rollover. */
import type { AccountKeyLike } from './keys.js';
import { problem } from '../protocol/problem.js';
import { randomId } from '../lib/random.js';
import { ConflictError, type AccountId, type AccountRecord } from '../storage/store.js';
import { checkContacts } from './contacts.js';
import type { RaDeps } from './deps.js';
import { accountDeactivate } from './order-state.js';
import { checkAccountKeyType } from './policy.js';
import type { ProfileRuntime } from './profiles.js';
import type { Registrations } from './registrations.js';

export interface NewAccountInput {
  contact?: string[];
  termsOfServiceAgreed?: boolean;
  onlyReturnExisting?: boolean;
  /** The EAB key id, already verified by the HTTP layer (MAC, url, payload = account key). */
  eabKid?: string;
}

export interface AccountUpdate {
  contact?: string[];
  termsOfServiceAgreed?: boolean;
  status?: string;
}

export class Accounts {
  constructor(
    private readonly deps: RaDeps,
    private readonly registrations: Registrations,
  ) {}

  async get(id: string): Promise<AccountRecord | undefined> {
    return this.deps.store.getAccount(id as AccountId);
  }

  async findByKey(profile: ProfileRuntime, thumbprint: string): Promise<AccountRecord | undefined> {
    return this.deps.store.findAccountByThumbprint(profile.name, thumbprint);
  }

  /** §7.3 newAccount; `created` is false when the key already had an account (§7.3.1: 200 and its URL). */
  async newAccount(profile: ProfileRuntime, key: AccountKeyLike, input: NewAccountInput, accountUrl: (id: string) => string): Promise<{ account: AccountRecord; created: boolean }> {
    const { store, clock, random } = this.deps;
    const existing = await store.findAccountByThumbprint(profile.name, key.thumbprint);
    if (existing) {
      // §7.3.6: "the server MUST NOT accept further requests authorized by that account's key".
      if (existing.status !== 'valid') throw problem.accountNotValid(existing.status);
      return { account: existing, created: false };
    }
    if (input.onlyReturnExisting) throw problem.accountDoesNotExist();
    const cfg = profile.config;
    checkAccountKeyType(profile, key.jwk);
    const preRegistered = cfg.accounts === 'pre-registered';
    if ((cfg.eab.required || preRegistered) && !input.eabKid) throw problem.externalAccountRequired();
    if (cfg.termsOfService && input.termsOfServiceAgreed !== true) {
      throw problem.malformed(`this profile has terms of service (${cfg.termsOfService}); newAccount must set termsOfServiceAgreed to true`);
    }
    const contact = checkContacts(input.contact ?? []);
    const now = clock.now();
    const id = randomId(random) as AccountId;
    const registrationId = preRegistered ? await this.preRegistration(profile, input.eabKid ?? '') : await this.registrations.ensure(profile, { accountId: id, accountUrl: accountUrl(id), profile: profile.name, contact, jwkThumbprint: key.thumbprint });
    const account: AccountRecord = {
      id,
      profile: profile.name,
      status: 'valid',
      jwk: key.jwk,
      jwkThumbprint: key.thumbprint,
      contact,
      termsAgreedAt: input.termsOfServiceAgreed ? now : null,
      termsAgreedVersion: input.termsOfServiceAgreed ? (cfg.termsOfService ?? null) : null,
      eabKid: input.eabKid ?? null,
      registrationId,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await store.transaction(async (tx) => {
        if (input.eabKid) {
          const eab = await tx.getEabKey(input.eabKid);
          if (!eab || eab.revokedAt || eab.profile !== profile.name) throw problem.unauthorized(`external account key "${input.eabKid}" is not valid for profile ${profile.name}`);
          const bound = await tx.countAccountsForEab(eab.kid);
          if (bound >= eab.maxBindings) throw problem.unauthorized(`external account key "${eab.kid}" is already bound to ${bound} account(s), its limit`);
        }
        await tx.insertAccount(account);
      });
    } catch (e) {
      // Two newAccount requests with one key raced: the loser answers like §7.3.1 says.
      if (e instanceof ConflictError) {
        const winner = await store.findAccountByThumbprint(profile.name, key.thumbprint);
        if (winner) return { account: winner, created: false };
      }
      throw e;
    }
    return { account, created: true };
  }

  /** pre-registered: the EAB key names the registration (its id, or the kid itself), which must be enabled. */
  private async preRegistration(profile: ProfileRuntime, kid: string): Promise<string> {
    const eab = await this.deps.store.getEabKey(kid);
    const registrationId = eab?.registrationId ?? kid;
    await this.registrations.checkEnabled(profile, registrationId);
    return registrationId;
  }

  /** §7.3.2 update and §7.3.6 deactivation; an empty update returns the account as it is. */
  async update(account: AccountRecord, profile: ProfileRuntime, update: AccountUpdate): Promise<AccountRecord> {
    const now = this.deps.clock.now();
    let next = account;
    // §7.3.2: "MUST ignore any updates to ... the "status" field (except as allowed by Section 7.3.6)":
    // restating the current status changes nothing; any other value than "deactivated" is refused.
    if (update.status !== undefined && update.status !== account.status) {
      if (update.status !== 'deactivated') throw problem.malformed(`status may only be set to "deactivated", not "${update.status}"`);
      next = accountDeactivate(next, now);
    }
    if (update.contact !== undefined) next = { ...next, contact: checkContacts(update.contact), updatedAt: now };
    if (update.termsOfServiceAgreed === true) {
      next = { ...next, termsAgreedAt: now, termsAgreedVersion: profile.config.termsOfService ?? null, updatedAt: now };
    }
    if (next === account) return account;
    await this.deps.store.transaction((tx) => tx.updateAccount(next));
    return next;
  }

  /** §7.3.5 keyChange: the new key must not belong to another account (409 with its URL). */
  async changeKey(account: AccountRecord, profile: ProfileRuntime, newKey: AccountKeyLike): Promise<AccountRecord> {
    checkAccountKeyType(profile, newKey.jwk);
    const now = this.deps.clock.now();
    return this.deps.store.transaction(async (tx) => {
      const other = await tx.findAccountByThumbprint(account.profile, newKey.thumbprint);
      if (other) throw new ConflictError('the new key already belongs to an account', other.id);
      const next: AccountRecord = { ...account, jwk: newKey.jwk, jwkThumbprint: newKey.thumbprint, updatedAt: now };
      await tx.updateAccount(next);
      return next;
    });
  }
}
