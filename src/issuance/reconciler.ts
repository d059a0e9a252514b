/**
 * The reconciler: every few seconds, orders whose issuance is due (pending approval, backend outage,
 * a crash between intent and outcome) are claimed under a lease and asked about again.
 * Started and stopped by src/app; stop() waits for the round in flight.
 */
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { runEvery, type Periodic } from '../lib/periodic.js';
import type { Store } from '../storage/store.js';
import type { IssuanceService } from './service.js';

export interface ReconcilerOptions {
  intervalMs: number;
  batchSize: number;
}

export class Reconciler {
  private job: Periodic | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly issuance: IssuanceService,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: ReconcilerOptions,
  ) {}

  start(): void {
    if (this.job || this.stopped) return;
    this.job = runEvery(this.opts.intervalMs, () => this.runOnce(), (err) => this.log.error({ err }, 'reconciler round failed'));
  }

  /** One pass over the due orders; returns how many were looked at. Exposed for tests. */
  async runOnce(): Promise<number> {
    const due = await this.store.listDueOrders(this.clock.now(), this.opts.batchSize);
    await Promise.all(due.map((o) => this.issuance.reconcile(o.id).catch((err: unknown) => this.log.error({ err, orderId: o.id }, 'reconcile failed'))));
    return due.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.job?.stop();
  }
}
