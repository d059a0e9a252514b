/** Orders (RFC 8555 §7.4): creation with its authorizations and challenges, and finalize. */
import { randomId } from '../lib/random.js';
import { problem } from '../protocol/problem.js';
import type { ChallengeType } from '../protocol/types.js';
import type { AccountRecord, AuthzId, CertificateRecord, AuthzRecord, ChallengeId, ChallengeRecord, OrderId, OrderRecord } from '../storage/store.js';
import { checkCsr } from './csr.js';
import type { RaDeps } from './deps.js';
import { parseIdentifiers, type ParsedIdentifier } from './identifiers.js';
import { initialAuthzStatus, initialOrderStatus, orderAfterAuthzs, orderBeginFinalize, withAuthzStatusAt, withOrderStatusAt } from './order-state.js';
import type { ProfileRuntime } from './profiles.js';
import type { Registrations } from './registrations.js';
import type { RenewalInfoService } from './ari.js';
import { checkIdentifierPolicy, checkTermsAgreement, chooseCertificateProfile } from './policy.js';
import { checkRequestedValidity } from './validity.js';

export interface NewOrderInput {
  identifiers: { type: string; value: string }[];
  notBefore?: string;
  notAfter?: string;
  /** draft-ietf-acme-profiles-01 §4: the certificate profile asked for. */
  profile?: string;
  /** RFC 9773 §5: the certID of the certificate this order replaces. */
  replaces?: string;
}

export class Orders {
  constructor(
    private readonly deps: RaDeps,
    private readonly registrations: Registrations,
    private readonly ari: RenewalInfoService,
  ) {}

  /** The challenge types offered for one identifier: the profile's list, filtered by what each type can prove. */
  challengeTypesFor(profile: ProfileRuntime, p: ParsedIdentifier): ChallengeType[] {
    return (profile.config.challenges as ChallengeType[]).filter((t) => this.deps.validators.get(t)?.accepts(p.authzIdentifier, p.wildcard));
  }

  async newOrder(account: AccountRecord, profile: ProfileRuntime, input: NewOrderInput): Promise<{ order: OrderRecord; authzs: AuthzRecord[] }> {
    const { clock, random, store } = this.deps;
    const now = clock.now();
    const cfg = profile.config;
    checkTermsAgreement(profile, account);
    const parsed = parseIdentifiers(input.identifiers, cfg.maxIdentifiers);
    checkIdentifierPolicy(profile, parsed);
    const chosen = chooseCertificateProfile(profile, input.profile);
    // Issue #5 `validation: none`: the registration and template decide; no challenge is offered.
    const preAuthorized = cfg.validation === 'none';
    const noChallenge = preAuthorized ? [] : parsed.filter((p) => this.challengeTypesFor(profile, p).length === 0);
    if (noChallenge.length > 0) {
      throw problem.rejectedIdentifier(
        noChallenge.map((p) => ({
          type: 'rejectedIdentifier' as const,
          detail: `no challenge type this profile offers (${cfg.challenges.join(', ')}) can validate ${p.identifier.value}${p.wildcard ? ' (wildcards need dns-01)' : ''}`,
          identifier: p.identifier,
        })),
      );
    }
    const validity = checkRequestedValidity(chosen.validity, now, input.notBefore, input.notAfter);
    // Issue #4: the registration's allowed names limit what its account may order.
    await this.registrations.checkIdentifiers(profile, account, parsed.map((p) => p.identifier));
    const replaced = input.replaces !== undefined ? await this.replaceable(profile, account, input.replaces, parsed) : undefined;
    const orderId = randomId(random) as OrderId;
    const orderExpires = new Date(now.getTime() + cfg.orderLifetime);
    const authzs: AuthzRecord[] = parsed.map((p) => {
      const authzId = randomId(random) as AuthzId;
      const challenges: ChallengeRecord[] = (preAuthorized ? [] : this.challengeTypesFor(profile, p)).map((type) => ({
        id: randomId(random) as ChallengeId,
        authzId,
        type,
        token: randomId(random, 128), // §8.1: at least 128 bits of entropy
        status: 'pending',
        validatedAt: null,
        error: null,
        validationRecord: null,
        updatedAt: now,
      }));
      return {
        id: authzId,
        accountId: account.id,
        orderId,
        profile: profile.name,
        identifier: p.authzIdentifier,
        wildcard: p.wildcard,
        status: initialAuthzStatus(preAuthorized),
        expires: new Date(Math.min(now.getTime() + cfg.authzLifetime, orderExpires.getTime())),
        challenges,
        createdAt: now,
        updatedAt: now,
      };
    });
    const order: OrderRecord = {
      id: orderId,
      accountId: account.id,
      profile: profile.name,
      status: initialOrderStatus(preAuthorized),
      expires: orderExpires,
      identifiers: parsed.map((p) => p.identifier),
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      authzIds: authzs.map((a) => a.id),
      error: null,
      certificateId: null,
      csr: null,
      ticket: null,
      nextCheckAt: null,
      issuanceAttempts: 0,
      leaseOwner: null,
      leaseUntil: null,
      // The audit record (issue #5): which profile, binding, template and policy applied.
      policy: {
        endpoint: profile.name,
        acmeProfile: profile.acmeProfile,
        binding: profile.binding,
        connector: profile.connectorName,
        template: chosen.template.name,
        certificateProfile: chosen.name,
        validation: preAuthorized ? 'none: the registration and template decide' : 'required',
        ...(account.registrationId ? { registration: account.registrationId } : {}),
        ...(input.replaces !== undefined ? { replaces: input.replaces } : {}),
      },
      createdAt: now,
      updatedAt: now,
    };
    await store.transaction(async (tx) => {
      if (replaced) {
        // Re-read inside the transaction: two renewals of one certificate race, one wins (§5).
        const current = await tx.getCertificate(replaced.id);
        const holder = current?.replacedBy ? await tx.getOrder(current.replacedBy) : undefined;
        if (!current || (holder && holder.status !== 'invalid')) throw problem.alreadyReplaced(`certificate ${input.replaces} was already replaced by another order`);
        await tx.insertOrder(order, authzs);
        await tx.updateCertificate({ ...current, replacedBy: order.id });
        return;
      }
      await tx.insertOrder(order, authzs);
    });
    return { order, authzs };
  }

  /** RFC 9773 §5: same account, a shared identifier, not already replaced by a live order. */
  private async replaceable(profile: ProfileRuntime, account: AccountRecord, certId: string, parsed: readonly ParsedIdentifier[]): Promise<CertificateRecord> {
    const cert = await this.ari.find(profile, certId).catch(() => {
      throw problem.malformed(`"replaces": no certificate ${certId} was issued under this profile`);
    });
    if (cert.accountId !== account.id) throw problem.unauthorized(`"replaces": certificate ${certId} was issued to another account`);
    const names = new Set(cert.identifiers.map((i) => `${i.type}:${i.value}`));
    if (!parsed.some((p) => names.has(`${p.identifier.type}:${p.identifier.value}`))) throw problem.malformed(`"replaces": certificate ${certId} shares no identifier with this order`);
    if (cert.replacedBy) {
      const holder = await this.deps.store.getOrder(cert.replacedBy);
      if (holder && holder.status !== 'invalid') throw problem.alreadyReplaced(`certificate ${certId} was already replaced by another order`);
    }
    return cert;
  }

  /** An order of this account, with its status as of now. */
  async get(account: AccountRecord, id: string): Promise<OrderRecord> {
    const order = await this.deps.store.getOrder(id as OrderId);
    if (!order || order.profile !== account.profile) throw problem.notFound('order');
    if (order.accountId !== account.id) throw problem.unauthorized('this order belongs to another account');
    const now = this.deps.clock.now();
    const current = withOrderStatusAt(order, now);
    if (current.status !== 'pending' && current.status !== 'ready') return current;
    // §7.1.6: an authorization past its expires ends the order too; like expiry, computed on read.
    return orderAfterAuthzs(current, await this.deps.store.getAuthzs(current.authzIds), now);
  }

  async list(account: AccountRecord, cursor: string | null, limit: number) {
    return this.deps.store.listOrders(account.id, cursor, limit);
  }

  async authorizationsOf(order: OrderRecord): Promise<AuthzRecord[]> {
    const now = this.deps.clock.now();
    return (await this.deps.store.getAuthzs(order.authzIds)).map((a) => withAuthzStatusAt(a, now));
  }

  /**
   * RFC 8659: CAA is checked again at finalize for authorizations validated longer ago than
   * `caa.recheckAfter`, and always for those that skipped validation (`validation: none`).
   */
  private async recheckCaa(profile: ProfileRuntime, order: OrderRecord, accountUri: string): Promise<void> {
    const issuerDomains = profile.config.caaIdentities;
    if (issuerDomains.length === 0) return;
    const now = this.deps.clock.now().getTime();
    for (const authz of await this.authorizationsOf(order)) {
      const proof = authz.challenges.find((c) => c.status === 'valid');
      if (proof?.validatedAt && now - proof.validatedAt.getTime() < profile.config.caa.recheckAfter) continue;
      const result = await this.deps.checkCaa(
        { identifier: authz.identifier, wildcard: authz.wildcard, issuerDomains, accountUri, validationMethod: proof?.type ?? 'none' },
        AbortSignal.timeout(15_000),
      );
      if (result.status === 'refused') throw result.problem;
    }
  }

  /** §7.4 finalize: the order must be ready and the CSR must match it; then the backend is asked. */
  async finalize(account: AccountRecord, profile: ProfileRuntime, id: string, csrDer: Uint8Array, accountUri: string): Promise<OrderRecord> {
    const order = await this.get(account, id);
    if (order.status !== 'ready') throw problem.orderNotReady(order.status);
    // draft-ietf-acme-profiles-01 §4: a profile the server no longer offers is not issued under.
    const certificateProfile = order.policy?.certificateProfile;
    if (typeof certificateProfile === 'string' && !profile.config.certificateProfiles[certificateProfile]) {
      throw problem.invalidProfile(`certificate profile "${certificateProfile}" of this order is no longer offered`);
    }
    const csr = await checkCsr(csrDer, order.identifiers, profile.config.csrKeyTypes, account.jwkThumbprint);
    await this.recheckCaa(profile, order, accountUri);
    const now = this.deps.clock.now();
    const started = await this.deps.store.transaction(async (tx) => {
      const current = await tx.getOrderForUpdate(order.id);
      if (!current) throw problem.notFound('order');
      const next = orderBeginFinalize(current, now, this.deps.issuance.recheckAt(now), csr.der, { keyType: csr.keyType, finalizedAt: now.toISOString() });
      await tx.updateOrder(next);
      return next;
    });
    return this.deps.issuance.submit(started);
  }
}
