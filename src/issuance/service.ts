/**
 * Issuance: intent → connector call → outcome, crash-safe and idempotent (docs/architecture.md §4).
 *  1. One transaction: the order moves ready → processing, the CSR and a lease are stored.
 *  2. No transaction open: the connector is called with the order id as idempotency key.
 *  3. One transaction: the certificate is stored and the order is valid, or it waits (ticket, next
 *     check time), or it is invalid with the problem the connector's error maps to.
 * The reconciler (reconciler.ts) finishes whatever step 2 or 3 left behind: a crash, a pending
 * approval, an outage.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { randomId, type Random } from '../lib/random.js';
import { problem } from '../protocol/problem.js';
import { normalizeSerial } from '../protocol/serial.js';
import type { Identifier } from '../protocol/types.js';
import { orderFailed, orderIssued, orderStillProcessing } from '../ra/order-state.js';
import type { Connector, IssueRequest, Issued, TemplateRef } from '../sdk/connector.js';
import { ConnectorError, isConnectorError } from '../sdk/errors.js';
import type { CertificateId, CertificateRecord, OrderId, OrderRecord, Store } from '../storage/store.js';
import { ConflictError } from '../storage/store.js';
import { authorityKeyIdOf, certificateFacts, derOfPem } from './certificate.js';
import { finalizeOutcome } from './errors.js';

/** What issuance needs to know of a profile; resolved by name so the reconciler can rebuild a request. */
export interface IssuanceProfile {
  name: string;
  connector: Connector;
  template: TemplateRef;
  defaultValidityMs: number;
  finalizeWaitMs: number;
  /** How long an order may wait in processing (approvals, outages) before it becomes invalid. */
  maxPendingMs: number;
}

export interface IssuanceDeps {
  store: Store;
  clock: Clock;
  random: Random;
  log: Logger;
  /** This process's name in leases. */
  instanceId: string;
  /** The connector, template and timings that apply to this order (its endpoint and certificate profile). */
  profileFor(order: OrderRecord): IssuanceProfile | undefined;
  orderUrl(profile: string, id: string): string;
  accountUrl(profile: string, id: string): string;
  /** How long one connector call may take. */
  callTimeoutMs: number;
  /** The registration an account maps to, if any (issue #4). */
  registrationOf?(accountId: string): Promise<string | null>;
  /**
   * The backend refused an order as `unauthorized` (a registration an RA officer disabled): told so
   * that a cached "enabled" for the registration is dropped and the next request asks again.
   */
  onUnauthorized?(order: OrderRecord): Promise<void>;
}

type Mode = 'issue' | 'status';

/**
 * errors.ts names the backend request in every detail "where there is one"; a status() answer that
 * does not repeat the ticket the order already holds gets it, so the operator can still find it.
 */
function withOrderTicket(e: ConnectorError, ticket: string | null): ConnectorError {
  if (e.info.ticket !== undefined || !ticket) return e;
  return new ConnectorError(e.code, e.message, { ...e.info, ticket });
}

export class IssuanceService {
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly deps: IssuanceDeps) {}

  /**
   * Called by finalize after the order moved to processing (order-state orderBeginFinalize) in the
   * caller's transaction. Waits up to the profile's finalizeWait for the backend, then returns the
   * order as it stands: valid, invalid, or still processing (the attempt goes on in the background).
   */
  async submit(order: OrderRecord): Promise<OrderRecord> {
    const profile = this.profileOf(order);
    const attempt = this.track(this.attempt(order.id, 'issue', order));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), profile.finalizeWaitMs);
      timer.unref();
    });
    try {
      const done = await Promise.race([attempt, waited]);
      if (done) return done;
    } finally {
      clearTimeout(timer);
    }
    return (await this.deps.store.getOrder(order.id)) ?? order;
  }

  /** When the reconciler should look at an order whose connector call starts now, should it never report back. */
  recheckAt(now: Date): Date {
    return new Date(now.getTime() + this.deps.callTimeoutMs + 1000);
  }

  /** Looks at one order that is due (reconciler): takes the lease, asks the backend, records the answer. */
  async reconcile(orderId: OrderId): Promise<OrderRecord | undefined> {
    const now = this.deps.clock.now();
    const leased = await this.deps.store.transaction((tx) => tx.tryLease(orderId, this.deps.instanceId, new Date(now.getTime() + this.deps.callTimeoutMs * 2), now));
    if (!leased) return undefined;
    return this.track(this.attempt(orderId, 'status'));
  }

  /** Waits for background attempts; called by the app at shutdown. */
  async stop(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  private profileOf(order: OrderRecord): IssuanceProfile {
    const p = this.deps.profileFor(order);
    if (!p) throw new Error(`order ${order.id} names profile "${order.profile}", which is not configured`);
    return p;
  }

  private async request(order: OrderRecord, profile: IssuanceProfile): Promise<IssueRequest> {
    if (!order.csr) throw new Error(`order ${order.id} is processing without a CSR`);
    const now = this.deps.clock.now();
    const notBefore = order.notBefore ?? now;
    const notAfter = order.notAfter ?? new Date(notBefore.getTime() + profile.defaultValidityMs);
    const registrationId = this.deps.registrationOf ? await this.deps.registrationOf(order.accountId) : null;
    return {
      requestId: order.id,
      template: profile.template,
      csr: order.csr,
      identifiers: order.identifiers,
      ...(registrationId ? { registration: { id: registrationId } } : {}),
      validity: { notBefore, notAfter },
      acme: {
        accountId: order.accountId,
        accountUrl: this.deps.accountUrl(order.profile, order.accountId),
        orderId: order.id,
        orderUrl: this.deps.orderUrl(order.profile, order.id),
        profile: order.profile,
      },
    };
  }

  private async call(order: OrderRecord, profile: IssuanceProfile, mode: Mode): Promise<Issued | ConnectorError> {
    const signal = AbortSignal.timeout(this.deps.callTimeoutMs);
    const connector = profile.connector;
    try {
      const req = await this.request(order, profile);
      if (mode === 'issue') return await connector.issue(req, signal);
      try {
        return await connector.status({ requestId: order.id, ...(order.ticket ? { ticket: order.ticket } : {}), ...(order.csr ? { csr: order.csr } : {}) }, signal);
      } catch (e) {
        // The backend never saw the request (a crash between steps 1 and 2): submit it now, same id.
        if (isConnectorError(e) && e.code === 'not-found' && !order.ticket) return await connector.issue(req, signal);
        throw e;
      }
    } catch (e) {
      if (isConnectorError(e)) return withOrderTicket(e, order.ticket);
      if (signal.aborted) return new ConnectorError('timeout', `the backend did not answer within ${this.deps.callTimeoutMs} ms`, { cause: e });
      // A connector bug or an unexpected library error: keep the order, log it, look again later.
      this.deps.log.error({ err: e, orderId: order.id, connector: connector.type }, 'connector call failed unexpectedly');
      return new ConnectorError('unavailable', 'the connector failed unexpectedly', { cause: e });
    }
  }

  /** `known`: the order as the caller's transaction just wrote it (finalize), which saves a read. */
  private async attempt(orderId: OrderId, mode: Mode, known?: OrderRecord): Promise<OrderRecord> {
    const { store, log } = this.deps;
    const order = known ?? (await store.getOrder(orderId));
    if (!order) throw new Error(`order ${orderId} vanished`);
    if (order.status !== 'processing') return order;
    const profile = this.profileOf(order);
    const started = performance.now();
    const answer = await this.call(order, profile, mode);
    const log2 = log.child({ orderId, profile: order.profile, connector: profile.connector.type });
    // A certificate the gateway cannot read is a backend fault like any other: retried until maxPending.
    let cert: CertificateRecord | undefined;
    let unreadable: ConnectorError | undefined;
    if (!isConnectorError(answer)) {
      try {
        cert = this.certificateRecord(order, answer);
      } catch (cause) {
        unreadable = new ConnectorError('unavailable', 'the backend returned a certificate that cannot be read', { cause });
      }
    }

    if (cert && !isConnectorError(answer)) {
      const outcome = answer;
      const result = await store.transaction(async (tx) => {
        const current = await tx.getOrderForUpdate(orderId);
        if (!current || current.status !== 'processing') return current ?? order;
        let certId = cert.id;
        try {
          await tx.insertCertificate(cert);
        } catch (e) {
          if (!(e instanceof ConflictError)) throw e;
          const existing = await tx.findCertificateBySerial(cert.serial);
          if (!existing || existing.orderId !== orderId) throw e;
          certId = existing.id;
        }
        const next = orderIssued(current, this.deps.clock.now(), certId);
        await tx.updateOrder(next);
        return next;
      });
      log2.info({ serial: outcome.serial, ms: Math.round(performance.now() - started) }, 'order issued');
      return result;
    }

    const outcome = isConnectorError(answer) ? answer : (unreadable ?? new ConnectorError('unavailable', 'no certificate'));
    const decided = finalizeOutcome(outcome);
    if (outcome.code === 'unauthorized' && this.deps.onUnauthorized) {
      await this.deps.onUnauthorized(order).catch((err: unknown) => log2.warn({ err }, 'could not drop the cached registration state'));
    }
    return store.transaction(async (tx) => {
      const current = await tx.getOrderForUpdate(orderId);
      if (!current || current.status !== 'processing') return current ?? order;
      const now = this.deps.clock.now();
      if (decided.kind === 'fail') {
        log2.info({ code: outcome.code, ticket: outcome.info.ticket }, 'order refused by the backend');
        const next = orderFailed(current, now, decided.problem.toDocument());
        await tx.updateOrder(next);
        return next;
      }
      const finalizedAt = current.policy?.finalizedAt;
      const age = now.getTime() - (typeof finalizedAt === 'string' ? Date.parse(finalizedAt) : current.createdAt.getTime());
      if (age > profile.maxPendingMs) {
        const detail = `the backend did not issue within ${Math.round(profile.maxPendingMs / 1000)} s${outcome.info.ticket ? ` (backend request ${outcome.info.ticket})` : ''}`;
        const next = orderFailed(current, now, problem.serverInternal(detail).toDocument());
        await tx.updateOrder(next);
        log2.warn({ code: outcome.code, age }, 'order given up');
        return next;
      }
      // An approval is asked about at the backend's own pace; an outage is backed off, doubling
      // per attempt, at most 10 minutes.
      const backoff = outcome.code === 'pending-approval' ? 1 : 2 ** Math.min(current.issuanceAttempts, 6);
      const delayMs = Math.min(600_000, decided.retryAfterSeconds * 1000 * backoff);
      const next = orderStillProcessing(current, now, new Date(now.getTime() + delayMs), decided.ticket);
      await tx.updateOrder(next);
      log2[decided.logLevel]({ code: outcome.code, ticket: decided.ticket, retryInMs: delayMs, err: outcome.message }, 'order waits for the backend');
      return next;
    });
  }

  private certificateRecord(order: OrderRecord, issued: Issued): CertificateRecord {
    const leafDer = derOfPem(issued.leafPem);
    const leaf = certificateFacts(leafDer);
    const chainPem = [issued.leafPem, ...issued.chainPem].map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
    const identifiers: Identifier[] = order.identifiers;
    return {
      id: randomId(this.deps.random) as CertificateId,
      orderId: order.id,
      accountId: order.accountId,
      profile: order.profile,
      serial: normalizeSerial(issued.serial),
      issuer: issued.issuer,
      chainPem,
      identifiers,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      spkiSha256: createHash('sha256').update(leaf.spki).digest('base64url'),
      revokedAt: null,
      revocationReason: null,
      createdAt: this.deps.clock.now(),
      authorityKeyId: authorityKeyIdOf(leafDer),
      replacedBy: null,
    };
  }
}

export type { TemplateRef };
