/**
 * Issue #5 (RFC 9773): revocations made in the legacy system, by an officer say, are learned by
 * polling, so a revoked certificate's renewal window moves into the past without a client asking
 * first. Every interval one instance, holding the job lease `revocation-poll`, walks the
 * certificates that are neither revoked nor expired a page at a time, asks each one's connector
 * (that of the endpoint that issued it) for its status, a few at a time with a deadline each, and
 * records revocations through RenewalInfoService.learnRevocation, the same path renewalInfo takes.
 * renewalInfo then answers from the record, without a backend call.
 *
 * Several instances: the lease is taken for an interval (extended after each page), so rounds do
 * not overlap and run about once an interval across all instances. Were it lost (a page slower than
 * the lease), a second walk would be harmless: recording a revocation re-reads the certificate and
 * writes only when it is not yet revoked.
 */
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { runEvery, type Periodic } from '../lib/periodic.js';
import { hasRevocationStatus } from '../sdk/connector.js';
import type { CertificateRecord, Store } from '../storage/store.js';
import type { RenewalInfoService } from './ari.js';
import type { ProfileRuntime } from './profiles.js';

export const REVOCATION_POLL_JOB = 'revocation-poll';

/** What one certificate's check came to: still good, revoked (learned now or before), the backend failed, or nobody to ask. */
export type PollOutcome = 'good' | 'revoked' | 'error' | 'skipped';
/** done: every page walked; lease-held: another instance polls; lease-lost: another took over mid-round; stopped: shutdown; failed: the store failed. */
export type RoundOutcome = 'done' | 'lease-held' | 'lease-lost' | 'stopped' | 'failed';

export interface PollRound {
  startedAt: Date;
  finishedAt: Date;
  outcome: RoundOutcome;
  good: number;
  revoked: number;
  errors: number;
  skipped: number;
  /** Why the round failed (outcome `failed`). */
  error?: string;
}

export interface RevocationPollerDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  renewalInfo: Pick<RenewalInfoService, 'learnRevocation'>;
  /** The endpoints by name; a certificate's `profile` names the one that issued it. */
  endpoints: ReadonlyMap<string, ProfileRuntime>;
}

export interface RevocationPollerOptions {
  /** 0: no polling. */
  intervalMs: number;
  /** Status calls in flight at once. */
  concurrency: number;
  /** Deadline of one status call. */
  timeoutMs: number;
  /** Certificates read from the store per page. */
  batchSize: number;
  /** This process's name in the job lease. */
  instanceId: string;
  metrics?: {
    certificate(outcome: PollOutcome): void;
    round(outcome: RoundOutcome): void;
  };
}

/** Errors of one round logged one by one at warn; the rest at debug, counted in the round's line. */
const WARNINGS_PER_ROUND = 10;

export class RevocationPoller {
  private job: Periodic | undefined;
  private readonly stopping = new AbortController();
  private last: PollRound | undefined;

  constructor(
    private readonly deps: RevocationPollerDeps,
    private readonly opts: RevocationPollerOptions,
  ) {}

  /** Whether start() polls: an interval is set and some endpoint's connector can tell revocations. */
  get enabled(): boolean {
    return this.opts.intervalMs > 0 && [...this.deps.endpoints.values()].some((ep) => hasRevocationStatus(ep.connector));
  }

  lastRound(): PollRound | undefined {
    return this.last;
  }

  start(): void {
    if (this.job || !this.enabled) return;
    this.job = runEvery(this.opts.intervalMs, () => this.runOnce(), (err) => this.deps.log.error({ err }, 'revocation poll round failed'));
  }

  /** Cuts the round in flight short (status calls are aborted) and waits for it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.job?.stop();
  }

  /** One round over every certificate to check; never throws. Exposed for tests and for a round on demand. */
  async runOnce(): Promise<PollRound> {
    const round: PollRound = { startedAt: this.deps.clock.now(), finishedAt: this.deps.clock.now(), outcome: 'done', good: 0, revoked: 0, errors: 0, skipped: 0 };
    try {
      if (!(await this.lease())) {
        round.outcome = 'lease-held';
      } else {
        let cursor: string | null = null;
        do {
          const page = await this.deps.store.listUnrevokedCertificates(this.deps.clock.now(), cursor, this.opts.batchSize);
          await this.pollPage(page.items, round);
          cursor = page.next;
          if (this.stopping.signal.aborted) round.outcome = 'stopped';
          else if (cursor !== null && !(await this.lease())) round.outcome = 'lease-lost';
        } while (cursor !== null && round.outcome === 'done');
      }
    } catch (err) {
      round.outcome = 'failed';
      round.error = err instanceof Error ? err.message : String(err);
      this.deps.log.warn({ err }, 'revocation poll round failed');
    }
    round.finishedAt = this.deps.clock.now();
    this.last = round;
    this.opts.metrics?.round(round.outcome);
    const { startedAt: _s, finishedAt: _f, ...summary } = round;
    const line = { ...summary, ms: round.finishedAt.getTime() - round.startedAt.getTime() };
    if (round.errors > 0) this.deps.log.warn(line, 'revocation poll round');
    else if (round.revoked > 0 || round.outcome === 'lease-lost') this.deps.log.info(line, 'revocation poll round');
    else this.deps.log.debug(line, 'revocation poll round');
    return round;
  }

  /**
   * Takes or extends the job lease: for an interval, and at least for the slowest page (every call
   * running into its deadline), so the holder keeps it while it works.
   */
  private lease(): Promise<boolean> {
    const now = this.deps.clock.now();
    const slowestPageMs = Math.ceil(this.opts.batchSize / this.opts.concurrency) * this.opts.timeoutMs;
    return this.deps.store.tryJobLease(REVOCATION_POLL_JOB, this.opts.instanceId, new Date(now.getTime() + Math.max(this.opts.intervalMs, slowestPageMs)), now);
  }

  private async pollPage(certs: readonly CertificateRecord[], round: PollRound): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < certs.length && !this.stopping.signal.aborted) {
        const cert = certs[next++] as CertificateRecord;
        const outcome = await this.pollOne(cert, round);
        if (outcome === undefined) continue;
        round[outcome === 'error' ? 'errors' : outcome]++;
        this.opts.metrics?.certificate(outcome);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, certs.length) }, worker));
  }

  /** undefined: cut short by stop(), which is no outcome. */
  private async pollOne(cert: CertificateRecord, round: PollRound): Promise<PollOutcome | undefined> {
    const ep = this.deps.endpoints.get(cert.profile);
    if (!ep || !hasRevocationStatus(ep.connector)) return 'skipped';
    try {
      const after = await this.deps.renewalInfo.learnRevocation(ep, cert, AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.opts.timeoutMs)]));
      return after.revokedAt ? 'revoked' : 'good';
    } catch (err) {
      if (this.stopping.signal.aborted) return undefined;
      const fields = { err, serial: cert.serial, profile: cert.profile, connector: ep.connectorName };
      if (round.errors < WARNINGS_PER_ROUND) this.deps.log.warn(fields, 'revocation status unavailable; will ask again next round');
      else this.deps.log.debug(fields, 'revocation status unavailable; will ask again next round');
      return 'error';
    }
  }
}
