/** Authorizations and challenges (RFC 8555 §7.5): fetch, deactivate, respond. */
import { problem } from '../protocol/problem.js';
import type { AccountRecord, AuthzId, AuthzRecord, ChallengeId, ChallengeRecord } from '../storage/store.js';
import type { RaDeps } from './deps.js';
import { authzDeactivate, authzStatusAt, challengeRespond, orderAfterAuthzs, withAuthzStatusAt } from './order-state.js';
import type { ValidationRunner } from './validation.js';

export class Authorizations {
  constructor(
    private readonly deps: RaDeps,
    private readonly runner: ValidationRunner,
  ) {}

  async get(account: AccountRecord, id: string): Promise<AuthzRecord> {
    const authz = await this.deps.store.getAuthz(id as AuthzId);
    if (!authz || authz.profile !== account.profile) throw problem.notFound('authorization');
    if (authz.accountId !== account.id) throw problem.unauthorized('this authorization belongs to another account');
    return withAuthzStatusAt(authz, this.deps.clock.now());
  }

  /** §7.5.2: deactivation; the authorization's order becomes invalid with it. */
  async deactivate(account: AccountRecord, id: string): Promise<AuthzRecord> {
    const authz = await this.get(account, id);
    const now = this.deps.clock.now();
    const next = authzDeactivate(authz, now);
    await this.deps.store.transaction(async (tx) => {
      const order = await tx.getOrderForUpdate(next.orderId);
      await tx.updateAuthz(next);
      if (order) {
        const authzs = (await tx.getAuthzs(order.authzIds)).map((a) => (a.id === next.id ? next : a));
        const nextOrder = orderAfterAuthzs(order, authzs, now);
        if (nextOrder !== order) await tx.updateOrder(nextOrder);
      }
    });
    return next;
  }

  async challenge(account: AccountRecord, id: string): Promise<{ challenge: ChallengeRecord; authz: AuthzRecord }> {
    const challenge = await this.deps.store.getChallenge(id as ChallengeId);
    if (!challenge) throw problem.notFound('challenge');
    const authz = await this.get(account, challenge.authzId);
    return { challenge, authz };
  }

  /**
   * §7.5.1: the client says it is ready. A pending challenge of a pending authorization moves to
   * processing and is validated in the background; any other challenge is returned as it is.
   */
  async respond(account: AccountRecord, id: string, accountUri: string): Promise<{ challenge: ChallengeRecord; authz: AuthzRecord }> {
    const { challenge, authz } = await this.challenge(account, id);
    const now = this.deps.clock.now();
    if (challenge.status !== 'pending') return { challenge, authz };
    const authzStatus = authzStatusAt(authz, now);
    if (authzStatus !== 'pending') throw problem.malformed(`the authorization is "${authzStatus}"; its challenges can no longer be answered`);
    if (authz.challenges.some((c) => c.status === 'processing')) {
      throw problem.malformed('another challenge of this authorization is already being validated');
    }
    const next = challengeRespond(challenge, now);
    const started = await this.deps.store.transaction(async (tx) => {
      const current = await tx.getChallenge(challenge.id);
      if (!current || current.status !== 'pending') return false;
      await tx.updateChallenge(next);
      return true;
    });
    const fresh = started ? next : ((await this.deps.store.getChallenge(challenge.id)) ?? challenge);
    if (started) this.runner.schedule({ challengeId: challenge.id, keyAuthorization: `${challenge.token}.${account.jwkThumbprint}`, accountUri });
    return { challenge: fresh, authz: { ...authz, challenges: authz.challenges.map((c) => (c.id === fresh.id ? fresh : c)) } };
  }
}
