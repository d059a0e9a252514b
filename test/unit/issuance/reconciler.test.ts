/**
 * The reconciler (src/issuance/reconciler.ts): each round claims the orders whose issuance is due
 * and asks the backend again; one broken order never stops the others. Rounds are run by hand with
 * runOnce() on a TestClock; fake timers only for the reconciler's own schedule.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { describe, it, expect, beforeEach, vi } from 'vitest';
import { HOUR_MS, SECOND_MS, addMs } from '../../../src/lib/clock.js';
import { Reconciler } from '../../../src/issuance/reconciler.js';
import { ConnectorError } from '../../../src/sdk/errors.js';
import { world, type World } from './helpers.js';

describe('Reconciler', () => {
  let w: World;
  let reconciler: Reconciler;

  beforeEach(async () => {
    w = await world();
    reconciler = new Reconciler(w.store, w.service, w.clock, w.log, { intervalMs: 2_000, batchSize: 50 });
    return async () => {
      await reconciler.stop();
      await w.close();
    };
  });

  /** An order that waits for an approval, its next check `inSeconds` from now. */
  async function waiting(ticket: string, inSeconds: number) {
    const order = await w.finalized();
    w.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket, retryAfterSeconds: inSeconds }));
    return w.service.submit(order);
  }

  it('makes an approved order valid in the first round after its check time', async () => {
    const order = await waiting('APR-1', 60);
    w.clock.advance(60 * SECOND_MS);
    w.connector.statusSteps.push(await w.ca.issue('11', ['www.example.test']));

    expect(await reconciler.runOnce()).toBe(1);
    expect(await w.order(order.id)).toMatchObject({ status: 'valid' });
  });

  it('leaves orders alone until their check time', async () => {
    const soon = await waiting('APR-1', 60);
    await waiting('APR-2', 600);
    w.clock.advance(60 * SECOND_MS);
    w.connector.statusSteps.push(new ConnectorError('pending-approval', 'still waiting', { ticket: 'APR-1', retryAfterSeconds: 60 }));

    expect(await reconciler.runOnce()).toBe(1);
    expect(w.connector.polled.map((r) => r.requestId)).toEqual([soon.id]);
  });

  it('looks at no more orders in one round than its batch size', async () => {
    await waiting('APR-1', 60);
    await waiting('APR-2', 60);
    await waiting('APR-3', 60);
    const small = new Reconciler(w.store, w.service, w.clock, w.log, { intervalMs: 2_000, batchSize: 2 });
    w.clock.advance(HOUR_MS);
    for (let i = 0; i < 2; i++) w.connector.statusSteps.push(new ConnectorError('pending-approval', 'still waiting'));

    expect(await small.runOnce()).toBe(2);
    expect(w.connector.polled).toHaveLength(2);
  });

  it('takes up an order whose first call never reported back (a crash)', async () => {
    const order = await w.finalized();
    w.clock.set(order.nextCheckAt!);
    w.connector.statusSteps.push(await w.ca.issue('12', ['www.example.test']));

    await reconciler.runOnce();
    expect(await w.order(order.id)).toMatchObject({ status: 'valid' });
  });

  it('does not ask about an order another instance holds the lease on', async () => {
    const order = await waiting('APR-1', 60);
    w.clock.advance(60 * SECOND_MS);
    const now = w.clock.now();
    await w.store.transaction((tx) => tx.tryLease(order.id, 'gw-2', addMs(now, 60 * SECOND_MS), now));

    await reconciler.runOnce();
    expect(w.connector.polled).toEqual([]);
  });

  it('logs an order it cannot reconcile and goes on with the others', async () => {
    const orphan = await w.finalized(['orphan.example.test'], { profile: 'removed' });
    const fine = await waiting('APR-1', 1);
    w.clock.advance(HOUR_MS);
    w.connector.statusSteps.push(await w.ca.issue('13', ['www.example.test']));

    expect(await reconciler.runOnce()).toBe(2);
    expect(await w.order(fine.id)).toMatchObject({ status: 'valid' });
    expect(w.log.lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'reconcile failed', obj: expect.objectContaining({ orderId: orphan.id }) }));
  });

  it('runs a round every interval once started, and stop() waits for the round in flight', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const order = await waiting('APR-1', 1);
      w.clock.advance(HOUR_MS);
      w.connector.statusSteps.push(await w.ca.issue('14', ['www.example.test']));
      reconciler.start();
      await vi.advanceTimersByTimeAsync(1_999);
      expect(w.connector.polled).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await reconciler.stop();
      expect(await w.order(order.id)).toMatchObject({ status: 'valid' });
    } finally {
      vi.useRealTimers();
    }
  });
});
