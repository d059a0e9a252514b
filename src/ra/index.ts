/** The registration authority: every ACME decision, free of HTTP. Built once by src/app. */
import { Accounts } from './accounts.js';
import { RenewalInfoService } from './ari.js';
import { Authorizations } from './authorizations.js';
import type { RaDeps } from './deps.js';
import { EabKeys } from './eab.js';
import { Orders } from './orders.js';
import { RateLimiter } from './rate-limits.js';
import { Registrations } from './registrations.js';
import { Revocation } from './revocation.js';
import type { CertificateId, CertificateRecord } from '../storage/store.js';
import type { ValidationRunner } from './validation.js';

export interface Ra {
  renewalInfo: RenewalInfoService;
  registrations: Registrations;
  accounts: Accounts;
  orders: Orders;
  authorizations: Authorizations;
  revocation: Revocation;
  eab: EabKeys;
  /** RFC 8555 §6.6, per profile (config rateLimits). */
  rateLimits: { newOrders: RateLimiter; newAccounts: RateLimiter };
  certificates: { get(id: CertificateId): Promise<CertificateRecord | undefined> };
}

export function createRa(deps: RaDeps, runner: ValidationRunner): Ra {
  const registrations = new Registrations(deps);
  const renewalInfo = new RenewalInfoService(deps);
  return {
    registrations,
    accounts: new Accounts(deps, registrations),
    renewalInfo,
    orders: new Orders(deps, registrations, renewalInfo),
    authorizations: new Authorizations(deps, runner),
    revocation: new Revocation(deps),
    eab: new EabKeys(deps),
    rateLimits: { newOrders: new RateLimiter(deps.clock, 'new orders for this account'), newAccounts: new RateLimiter(deps.clock, 'new accounts from this address') },
    certificates: { get: (id) => deps.store.getCertificate(id) },
  };
}

export type { RaDeps } from './deps.js';
export type { ProfileRuntime } from './profiles.js';
