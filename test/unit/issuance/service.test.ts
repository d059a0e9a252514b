/**
 * Issuance (src/issuance/service.ts, docs/architecture.md §4): intent → connector call → outcome,
 * against a real SQLite store, a TestClock and a connector whose answers each test scripts. What is
 * asserted is what a client reads in the order and what an operator finds in the store and the log.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { describe, it, expect, beforeEach } from 'vitest';
import { DAY_MS, HOUR_MS, SECOND_MS, addMs } from '../../../src/lib/clock.js';
import { ConnectorError } from '../../../src/sdk/errors.js';
import type { Issued } from '../../../src/sdk/connector.js';
import { certificateRecord } from '../../helpers/records.js';
import { FINALIZE_AT, held, world, type World } from './helpers.js';

const URN = 'urn:ietf:params:acme:error:';

describe('IssuanceService', () => {
  let w: World;

  beforeEach(async () => {
    w = await world();
    return () => w.close();
  });

  describe('a backend that issues at once', () => {
    it('makes the order valid and stores the certificate with its chain', async () => {
      const order = await w.finalized(['www.example.test', 'example.test']);
      const issued = await w.ca.issue('0a1b2c3d', ['www.example.test', 'example.test']);
      w.connector.issueSteps.push(issued);

      const result = await w.service.submit(order);

      expect(result).toMatchObject({ status: 'valid', nextCheckAt: null });
      expect(await w.order(order.id)).toMatchObject({ status: 'valid', certificateId: result.certificateId });
      const cert = await w.store.getCertificate(result.certificateId!);
      expect(cert).toMatchObject({
        orderId: order.id,
        accountId: order.accountId,
        profile: 'web',
        serial: 'a1b2c3d',
        issuer: 'CN=Test Issuing CA, O=Example',
        identifiers: order.identifiers,
        notBefore: new Date('2030-01-01T00:00:00Z'),
        notAfter: new Date('2030-04-01T00:00:00Z'),
        authorityKeyId: w.ca.authorityKeyId,
        revokedAt: null,
      });
      const lines = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);
      expect(cert!.chainPem).toBe(lines(issued.leafPem) + lines(issued.chainPem[0]!));
      expect(cert!.spkiSha256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('keeps the order processing, not crashing, when the backend returns a certificate that cannot be read', async () => {
      const order = await w.finalized();
      const issued = await w.ca.issue('0a1b2c3d', ['www.example.test']);
      w.connector.issueSteps.push({ ...issued, leafPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' });
      const result = await w.service.submit(order);
      expect(result).toMatchObject({ status: 'processing', certificateId: null });
      expect(result.nextCheckAt).not.toBeNull();
    });

    it('stores the serial as lower-case hex without leading zeros', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push({ ...(await w.ca.issue('00ABCDEF', ['www.example.test'])), serial: '00:AB:CD:EF' });
      const result = await w.service.submit(order);
      expect((await w.store.getCertificate(result.certificateId!))?.serial).toBe('abcdef');
    });

    it('calls the connector with the order id as request id, the template, the CSR and the identifiers', async () => {
      const order = await w.finalized(['www.example.test']);
      w.connector.issueSteps.push(await w.ca.issue('01', ['www.example.test']));
      await w.service.submit(order);
      expect(w.connector.issued).toEqual([
        {
          requestId: order.id,
          template: { name: 'server', attributes: { caName: 'Issuing CA' } },
          csr: order.csr,
          identifiers: [{ type: 'dns', value: 'www.example.test' }],
          validity: { notBefore: FINALIZE_AT, notAfter: addMs(FINALIZE_AT, 90 * DAY_MS) },
          acme: {
            accountId: order.accountId,
            accountUrl: `https://acme.example.test/acme/web/acct/${order.accountId}`,
            orderId: order.id,
            orderUrl: `https://acme.example.test/acme/web/order/${order.id}`,
            profile: 'web',
          },
        },
      ]);
    });

    it('asks for the validity the order requested', async () => {
      const notBefore = addMs(FINALIZE_AT, DAY_MS);
      const notAfter = addMs(FINALIZE_AT, 31 * DAY_MS);
      const order = await w.finalized(['www.example.test'], { notBefore, notAfter });
      w.connector.issueSteps.push(await w.ca.issue('02', ['www.example.test']));
      await w.service.submit(order);
      expect(w.connector.issued[0]?.validity).toEqual({ notBefore, notAfter });
    });

    it('names the account\'s registration in the request (issue #4)', async () => {
      const w2 = await world({ deps: { registrationOf: () => Promise.resolve('reg-42') } });
      try {
        const order = await w2.finalized();
        w2.connector.issueSteps.push(await w2.ca.issue('03', ['www.example.test']));
        await w2.service.submit(order);
        expect(w2.connector.issued[0]?.registration).toEqual({ id: 'reg-42' });
      } finally {
        await w2.close();
      }
    });

    it('logs one line naming the order and the serial', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(await w.ca.issue('04', ['www.example.test']));
      await w.service.submit(order);
      expect(w.log.lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'order issued', obj: expect.objectContaining({ orderId: order.id, serial: '04' }) }));
    });
  });

  describe('a backend waiting for an approval', () => {
    it('keeps the order processing with the ticket and the time to look again', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-7', retryAfterSeconds: 60 }));

      const result = await w.service.submit(order);

      expect(result).toMatchObject({ status: 'processing', ticket: 'APR-7', nextCheckAt: addMs(FINALIZE_AT, 60 * SECOND_MS), issuanceAttempts: 1, error: null });
      expect(await w.order(order.id)).toMatchObject({ status: 'processing', ticket: 'APR-7' });
    });

    it('makes the order valid once the request is approved and the reconciler asks again', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-7', retryAfterSeconds: 60 }));
      const waiting = await w.service.submit(order);
      w.connector.statusSteps.push(await w.ca.issue('05', ['www.example.test']));

      w.clock.set(waiting.nextCheckAt!);
      const result = await w.service.reconcile(order.id);

      expect(result).toMatchObject({ status: 'valid', ticket: 'APR-7', leaseOwner: null });
      expect(await w.order(order.id)).toMatchObject({ status: 'valid' });
    });

    it('asks about the pending request with its ticket and the order\'s CSR', async () => {
      // src/sdk/connector.ts RequestRef.csr: a backend that needs the CSR again after the approval
      // (EJBCA's pkcs10Request after an approved editUser) gets it from the caller that still has it.
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-7' }));
      await w.service.submit(order);
      w.connector.statusSteps.push(await w.ca.issue('06', ['www.example.test']));
      w.clock.advance(HOUR_MS);
      await w.service.reconcile(order.id);
      expect(w.connector.polled).toEqual([{ requestId: order.id, ticket: 'APR-7', csr: order.csr }]);
    });
  });

  describe('a backend that refuses', () => {
    it('makes the order invalid with unauthorized naming the backend\'s reason and ticket', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('rejected', 'officer declined: not our customer', { ticket: 'APR-9' }));

      const result = await w.service.submit(order);

      expect(result.status).toBe('invalid');
      expect((await w.order(order.id)).error).toEqual({
        type: `${URN}unauthorized`,
        status: 403,
        detail: 'the backend refused the request: officer declined: not our customer (backend request APR-9)',
      });
    });

    it('tells onUnauthorized about an unauthorized refusal (a disabled registration), and only about that', async () => {
      const told: string[] = [];
      const w2 = await world({ deps: { onUnauthorized: (o) => (told.push(o.id), Promise.resolve()) } });
      try {
        const refused = await w2.finalized();
        w2.connector.issueSteps.push(new ConnectorError('unauthorized', 'end entity is disabled'));
        expect((await w2.service.submit(refused)).status).toBe('invalid');
        const rejected = await w2.finalized();
        w2.connector.issueSteps.push(new ConnectorError('rejected', 'officer declined'));
        await w2.service.submit(rejected);
        expect(told).toEqual([refused.id]);
      } finally {
        await w2.close();
      }
    });

    it('names the order\'s ticket when a refusal after the approval step does not repeat it', async () => {
      // src/issuance/errors.ts: "The detail names the legacy request id where there is one".
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-8' }));
      await w.service.submit(order);
      w.clock.advance(HOUR_MS);
      w.connector.statusSteps.push(new ConnectorError('rejected', 'officer declined'));
      const result = await w.service.reconcile(order.id);
      expect(result?.error?.detail).toBe('the backend refused the request: officer declined (backend request APR-8)');
    });

    it('makes the order invalid with rejectedIdentifier, one subproblem per identifier the backend named', async () => {
      const order = await w.finalized(['a.example.test', 'b.example.test']);
      w.connector.issueSteps.push(new ConnectorError('rejected', 'name not in registration', { ticket: 'T-1', identifiers: [{ type: 'dns', value: 'b.example.test' }] }));
      await w.service.submit(order);
      const error = (await w.order(order.id)).error;
      expect(error).toMatchObject({ type: `${URN}rejectedIdentifier`, status: 400 });
      expect(error?.subproblems).toEqual([
        { type: `${URN}rejectedIdentifier`, status: 400, detail: 'name not in registration (backend request T-1)', identifier: { type: 'dns', value: 'b.example.test' } },
      ]);
    });

    it('makes the order invalid with badCSR when the backend refuses the request itself', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('bad-request', 'key too short for template'));
      await w.service.submit(order);
      expect((await w.order(order.id)).error).toMatchObject({ type: `${URN}badCSR`, detail: 'the backend refused the request: key too short for template' });
    });

    it('forgets the CSR of a refused order', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('rejected', 'declined'));
      await w.service.submit(order);
      expect((await w.order(order.id)).csr).toBeNull();
    });
  });

  describe('a backend that is down', () => {
    it('asks about a pending approval at the backend\'s own pace, without backing off', async () => {
      const order = await w.finalized();
      const pending = () => new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-2', retryAfterSeconds: 120 });
      w.connector.issueSteps.push(pending());
      let current = await w.service.submit(order);
      for (let i = 0; i < 3; i++) {
        w.clock.set(current.nextCheckAt!);
        w.connector.statusSteps.push(pending());
        current = (await w.service.reconcile(order.id))!;
      }
      expect(current.nextCheckAt!.getTime() - w.clock.now().getTime()).toBe(120 * SECOND_MS);
    });

    it('keeps the order processing and looks again after the backend\'s hint', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('unavailable', 'connection refused', { retryAfterSeconds: 30 }));
      const result = await w.service.submit(order);
      expect(result).toMatchObject({ status: 'processing', nextCheckAt: addMs(FINALIZE_AT, 30 * SECOND_MS), error: null });
    });

    it('doubles the wait after every failed attempt, up to ten minutes', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('unavailable', 'connection refused'));
      let current = await w.service.submit(order);
      const waits: number[] = [(current.nextCheckAt!.getTime() - w.clock.now().getTime()) / SECOND_MS];
      for (let i = 0; i < 7; i++) {
        w.clock.set(current.nextCheckAt!);
        w.connector.statusSteps.push(new ConnectorError('timeout', 'no answer'));
        current = (await w.service.reconcile(order.id))!;
        waits.push((current.nextCheckAt!.getTime() - w.clock.now().getTime()) / SECOND_MS);
      }
      expect(waits).toEqual([10, 20, 40, 80, 160, 320, 600, 600]);
      expect(current).toMatchObject({ status: 'processing', issuanceAttempts: 8 });
    });

    it('logs an outage as a warning and a misconfiguration as an error', async () => {
      const first = await w.finalized();
      const second = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('unavailable', 'connection refused'), new ConnectorError('misconfigured', 'unknown template "server"'));
      await w.service.submit(first);
      expect(await w.service.submit(second)).toMatchObject({ status: 'processing' });
      const waits = w.log.lines.filter((l) => l.msg === 'order waits for the backend');
      expect(waits.map((l) => [l.level, (l.obj as { orderId: string }).orderId])).toEqual([
        ['warn', first.id],
        ['error', second.id],
      ]);
    });

    it('gives up with serverInternal naming the ticket once the order waited longer than maxPending', async () => {
      const w2 = await world({ profile: { maxPendingMs: HOUR_MS } });
      try {
        const order = await w2.finalized();
        w2.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-3' }));
        await w2.service.submit(order);
        w2.clock.advance(HOUR_MS + SECOND_MS);
        w2.connector.statusSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-3' }));

        const result = await w2.service.reconcile(order.id);

        expect(result).toMatchObject({ status: 'invalid', csr: null, nextCheckAt: null });
        expect(result?.error).toEqual({ type: `${URN}serverInternal`, status: 500, detail: 'the backend did not issue within 3600 s (backend request APR-3)' });
        expect(w2.log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'order given up' }));
      } finally {
        await w2.close();
      }
    });

    it('measures maxPending from finalize, not from when the order was created', async () => {
      const w2 = await world({ profile: { maxPendingMs: HOUR_MS } });
      try {
        // The order was created at T0 and finalized an hour later (FINALIZE_AT).
        const order = await w2.finalized();
        w2.connector.issueSteps.push(new ConnectorError('unavailable', 'connection refused'));
        await w2.service.submit(order);
        w2.clock.advance(30 * 60 * SECOND_MS);
        w2.connector.statusSteps.push(new ConnectorError('unavailable', 'connection refused'));
        expect(await w2.service.reconcile(order.id)).toMatchObject({ status: 'processing' });
      } finally {
        await w2.close();
      }
    });
  });

  describe('a backend slower than finalizeWait', () => {
    it('answers processing at once and makes the order valid when the backend answers later', async () => {
      const w2 = await world({ profile: { finalizeWaitMs: 0 } });
      try {
        const order = await w2.finalized();
        const slow = held<Issued>();
        w2.connector.issueSteps.push(slow);

        const answered = await w2.service.submit(order);
        expect(answered).toMatchObject({ status: 'processing', certificateId: null });

        slow.resolve(await w2.ca.issue('07', ['www.example.test']));
        await w2.service.stop(); // waits for the attempt still in flight
        expect(await w2.order(order.id)).toMatchObject({ status: 'valid' });
      } finally {
        await w2.close();
      }
    });
  });

  describe('after a crash between intent and call', () => {
    it('submits the request again, with the same request id, when the backend never saw it', async () => {
      const order = await w.finalized();
      w.clock.set(order.nextCheckAt!);
      w.connector.statusSteps.push(new ConnectorError('not-found', 'no such request'));
      w.connector.issueSteps.push(await w.ca.issue('08', ['www.example.test']));

      const result = await w.service.reconcile(order.id);

      expect(w.connector.issued.map((r) => r.requestId)).toEqual([order.id]);
      expect(result).toMatchObject({ status: 'valid' });
    });

    it('does not submit again when the backend lost a request it had given a ticket for', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new ConnectorError('pending-approval', 'awaiting RA approval', { ticket: 'APR-5' }));
      await w.service.submit(order);
      w.clock.advance(HOUR_MS);
      w.connector.statusSteps.push(new ConnectorError('not-found', 'no such request'));

      const result = await w.service.reconcile(order.id);

      expect(w.connector.issued).toHaveLength(1);
      expect(result?.status).toBe('invalid');
      expect(result?.error?.detail).toContain('backend request APR-5');
    });

    it('links the certificate already stored for this order when the backend reports its serial again', async () => {
      const order = await w.finalized();
      const kept = certificateRecord(order, { serial: '9' });
      await w.store.transaction((tx) => tx.insertCertificate(kept));
      w.clock.set(order.nextCheckAt!);
      w.connector.statusSteps.push(await w.ca.issue('09', ['www.example.test']));
      expect(await w.service.reconcile(order.id)).toMatchObject({ status: 'valid', certificateId: kept.id });
    });
  });

  describe('leases between instances', () => {
    it('lets only one of two instances ask the backend about an order at a time', async () => {
      const order = await w.finalized();
      w.clock.set(order.nextCheckAt!);
      const answer = held<Issued>();
      w.connector.statusSteps.push(answer);
      const other = w.serviceAs('gw-2');

      const first = w.service.reconcile(order.id);
      await answer.entered;
      const second = await other.reconcile(order.id);

      expect(second).toBeUndefined();
      answer.resolve(await w.ca.issue('0a', ['www.example.test']));
      expect(await first).toMatchObject({ status: 'valid' });
      expect(w.connector.polled).toHaveLength(1);
    });

    it('lets the other instance take over once the lease has expired', async () => {
      const order = await w.finalized();
      const now = w.clock.now();
      // gw-1 took the lease and died: nothing will release it.
      await w.store.transaction((tx) => tx.tryLease(order.id, 'gw-1', addMs(now, 60 * SECOND_MS), now));
      const other = w.serviceAs('gw-2');
      expect(await other.reconcile(order.id)).toBeUndefined();

      w.clock.advance(60 * SECOND_MS);
      w.connector.statusSteps.push(await w.ca.issue('0b', ['www.example.test']));
      expect(await other.reconcile(order.id)).toMatchObject({ status: 'valid' });
    });
  });

  describe('a connector that breaks its contract', () => {
    it('keeps the order processing and logs the failure at error for the operator', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(new TypeError('Cannot read properties of undefined (reading "serial")'));

      const result = await w.service.submit(order);

      expect(result).toMatchObject({ status: 'processing', error: null, issuanceAttempts: 1 });
      expect(w.log.lines).toContainEqual(
        expect.objectContaining({ level: 'error', msg: 'connector call failed unexpectedly', obj: expect.objectContaining({ orderId: order.id, connector: 'scripted', err: expect.any(TypeError) }) }),
      );
    });
  });

  describe('orders that are no longer processing', () => {
    it('leaves a valid order alone and does not call the backend', async () => {
      const order = await w.finalized();
      w.connector.issueSteps.push(await w.ca.issue('0c', ['www.example.test']));
      await w.service.submit(order);
      w.clock.advance(HOUR_MS);
      expect(await w.service.reconcile(order.id)).toMatchObject({ status: 'valid' });
      expect(w.connector.polled).toEqual([]);
    });
  });
});
