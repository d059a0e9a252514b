/**
 * Runs challenge validations in the background after the client's response (RFC 8555 §7.5.1),
 * bounded in concurrency, and records each outcome on the challenge, its authorization and its
 * order in one transaction. Started and stopped by src/app; stop() waits for validations in flight.
 *
 * A validation lives only in this process's memory, so a crash leaves its challenge in
 * `processing`. start() looks for such challenges at once and then every `resumeIntervalMs`: one
 * in `processing` for longer than `resumeAfterMs` is claimed (its updatedAt moved to now, one
 * conditional UPDATE, so of several instances one takes it) and validated again. Validation only
 * reads, and the outcome is written only while the challenge is still `processing`, under the
 * order's lock, so a validation run twice (a slow instance and a resuming one) decides it once.
 */
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { runEvery, type Periodic } from '../lib/periodic.js';
import { problem } from '../protocol/problem.js';
import type { ChallengeType } from '../protocol/types.js';
import type { AccountId, AuthzRecord, ChallengeRecord, Store } from '../storage/store.js';
import type { CaaCheckInput, CaaResult } from '../va/caa.js';
import type { ChallengeValidator, ValidationResult } from '../va/validator.js';
import { authzAfterChallenge, challengeFailed, challengeValidated, orderAfterAuthzs } from './order-state.js';

export interface ValidationRunnerOptions {
  concurrency: number;
  timeoutMs: number;
  /** The CAA issuer domains of an endpoint's profile; empty: CAA is not checked. */
  caaIdentities(profile: string): readonly string[];
  checkCaa(input: CaaCheckInput, signal: AbortSignal): Promise<CaaResult>;
  /** How long a validated authorization stays valid (reuse window). */
  validAuthzMs(profile: string): number;
  /** A challenge in `processing` for longer than this was left by a crash and is validated again. */
  resumeAfterMs: number;
  /** How often start() looks for such challenges. */
  resumeIntervalMs: number;
  /** The account URL (the `kid`) of an endpoint's account, for CAA accounturi in a resumed validation. */
  accountUri(profile: string, accountId: AccountId): string;
}

/** Most stale challenges taken in one look. */
const RESUME_BATCH = 100;

interface Job {
  challengeId: ChallengeRecord['id'];
  keyAuthorization: string;
  /** The account URL, for CAA accounturi (RFC 8657 §3). */
  accountUri: string;
}

export class ValidationRunner {
  private readonly queue: Job[] = [];
  private active = 0;
  private readonly idle: (() => void)[] = [];
  /** Challenges queued or running here, so a resumed one is never queued twice. */
  private readonly scheduled = new Set<ChallengeRecord['id']>();
  private resumer: Periodic | undefined;
  private firstResume: Promise<unknown> | undefined;

  constructor(
    private readonly store: Store,
    private readonly validators: ReadonlyMap<ChallengeType, ChallengeValidator>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: ValidationRunnerOptions,
  ) {}

  /** Queues a validation of a challenge now in `processing` (once: one already queued here is left as it is). */
  schedule(job: Job): void {
    if (this.scheduled.has(job.challengeId)) return;
    this.scheduled.add(job.challengeId);
    this.queue.push(job);
    this.pump();
  }

  /** Resumes stale validations now and then every `resumeIntervalMs` (see the top of this file). */
  start(): void {
    if (this.resumer) return;
    const failed = (err: unknown) => this.log.error({ err }, 'looking for validations left by a crash failed');
    this.firstResume = this.resumeStale().catch(failed);
    this.resumer = runEvery(this.opts.resumeIntervalMs, () => this.resumeStale(), failed);
  }

  /** Stops looking for stale validations and waits for every validation queued or running. */
  async stop(): Promise<void> {
    await this.resumer?.stop();
    await this.firstResume;
    await this.drain();
  }

  /**
   * Claims the challenges left in `processing` for longer than `resumeAfterMs` and queues their
   * validation again, with the account's current key; returns how many were queued. Exposed for tests.
   */
  async resumeStale(): Promise<number> {
    const now = this.clock.now();
    const before = new Date(now.getTime() - this.opts.resumeAfterMs);
    const stale = await this.store.listStaleChallenges(before, now, RESUME_BATCH);
    let queued = 0;
    for (const challenge of stale) {
      if (this.scheduled.has(challenge.id)) continue;
      const claimed = await this.store.transaction((tx) => tx.claimStaleChallenge(challenge.id, before, now));
      if (!claimed) continue; // another instance took it
      const authz = await this.store.getAuthz(challenge.authzId);
      const account = authz && (await this.store.getAccount(authz.accountId));
      if (!authz || !account) continue;
      this.log.warn({ challengeId: challenge.id, type: challenge.type, identifier: authz.identifier.value, processingSince: challenge.updatedAt.toISOString() }, 'resuming a validation left in processing (the process validating it stopped)');
      this.schedule({ challengeId: challenge.id, keyAuthorization: `${challenge.token}.${account.jwkThumbprint}`, accountUri: this.opts.accountUri(authz.profile, account.id) });
      queued++;
    }
    return queued;
  }

  /** Resolves when no validation is queued or running. */
  async drain(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.queue.length > 0) {
      const job = this.queue.shift();
      if (!job) break;
      this.active++;
      void this.run(job)
        .catch((err: unknown) => this.log.error({ err, challengeId: job.challengeId }, 'validation could not be recorded'))
        .finally(() => {
          this.scheduled.delete(job.challengeId);
          this.active--;
          this.pump();
          if (this.active === 0 && this.queue.length === 0) for (const f of this.idle.splice(0)) f();
        });
    }
  }

  private async run(job: Job): Promise<void> {
    const challenge = await this.store.getChallenge(job.challengeId);
    if (!challenge || challenge.status !== 'processing') return;
    const authz = await this.store.getAuthz(challenge.authzId);
    if (!authz) return;
    const result = await this.validate(challenge, authz, job);
    const now = this.clock.now();
    const recorded = await this.store.transaction(async (tx) => {
      // The order first, held: another validation of this order (on this or another instance)
      // waits here, and then sees this one's authorization when it derives the order's status.
      const order = await tx.getOrderForUpdate(authz.orderId);
      const ch = await tx.getChallenge(job.challengeId);
      const az = await tx.getAuthz(challenge.authzId);
      // Decided meanwhile (by a validation of the same challenge on another instance): left as it is.
      if (!ch || !az || ch.status !== 'processing') return false;
      const records = result.records as unknown[];
      const nextCh = result.status === 'valid' ? challengeValidated(ch, now, records) : challengeFailed(ch, now, result.problem.toDocument(), records);
      await tx.updateChallenge(nextCh);
      const nextAz = authzAfterChallenge(az, nextCh, now, this.opts.validAuthzMs(az.profile));
      if (nextAz.status !== az.status || nextAz.expires !== az.expires) await tx.updateAuthz(nextAz);
      if (order) {
        const authzs = (await tx.getAuthzs(order.authzIds)).map((a) => (a.id === nextAz.id ? nextAz : a));
        const nextOrder = orderAfterAuthzs(order, authzs, now);
        if (nextOrder !== order) await tx.updateOrder(nextOrder);
      }
      return true;
    });
    if (!recorded) {
      this.log.info({ challengeId: challenge.id, status: result.status }, 'validation outcome not recorded: the challenge was decided meanwhile');
      return;
    }
    this.log.info({ challengeId: challenge.id, type: challenge.type, identifier: authz.identifier.value, status: result.status, ...(result.status === 'invalid' ? { problem: result.problem.type, detail: result.problem.detail } : {}) }, 'challenge validated');
  }

  private async validate(challenge: ChallengeRecord, authz: AuthzRecord, job: Job): Promise<ValidationResult> {
    const validator = this.validators.get(challenge.type);
    if (!validator) return { status: 'invalid', problem: problem.serverInternal(`no validator for ${challenge.type}`), records: [] };
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const result = await validator.validate({ identifier: authz.identifier, wildcard: authz.wildcard, token: challenge.token, keyAuthorization: job.keyAuthorization }, signal);
      if (result.status !== 'valid') return result;
      // RFC 8659 §3: CAA is checked when the domain is validated.
      const issuerDomains = this.opts.caaIdentities(authz.profile);
      if (issuerDomains.length === 0) return result;
      const caa = await this.opts.checkCaa({ identifier: authz.identifier, wildcard: authz.wildcard, issuerDomains, accountUri: job.accountUri, validationMethod: challenge.type }, signal);
      return caa.status === 'allowed' ? result : { status: 'invalid', problem: caa.problem, records: result.records };
    } catch (err) {
      this.log.error({ err, challengeId: challenge.id }, 'validator failed unexpectedly');
      return { status: 'invalid', problem: problem.serverInternal(`${challenge.type} validation failed on the server side`), records: [] };
    }
  }
}
