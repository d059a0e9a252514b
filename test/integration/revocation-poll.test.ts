/**
 * Revocations made by an RA officer in the EJBCA double, learned by the gateway's status poller
 * (issue #5, RFC 9773): the poller, running every 100 ms, finds the revocation and records it;
 * renewalInfo then answers a window in the past from the record, without asking the backend, and
 * /health and /metrics show the rounds.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestClock } from '../../src/lib/clock.js';
import type { CertificateId } from '../../src/storage/store.js';
import { startEjbcaDouble, type EjbcaDouble } from '../fakes/ejbca-ws/server.js';
import { certIdOf } from '../helpers/cert-id.js';
import { memoryLogger } from '../helpers/memory-logger.js';
import { Harness, expectJson, idOf, waitFor } from './support.js';
import { ejbcaConnectorSection } from '../helpers/ejbca-connector.js';

interface RenewalInfoJson {
  suggestedWindow: { start: string; end: string };
}

interface PollHealth {
  enabled: boolean;
  lastRound: { outcome: string; good: number; revoked: number; errors: number; skipped: number } | null;
}

const serialOf = (pem: string) => new x509.X509Certificate(pem).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');

describe('revocations by an officer in the EJBCA double, learned by status polling', () => {
  // Starts a minute back, so certificates made at startup are valid for TLS already.
  const clock = new TestClock(new Date(Date.now() - 60_000));
  const log = memoryLogger();
  let ejbca: EjbcaDouble;
  let h: Harness;
  let work: string;

  const metric = async (outcome: string, name = 'acme_gateway_revocation_poll_rounds_total') => {
    const text = String((await h.raw('GET', `${h.gw.baseUrl}/metrics`)).body);
    return Number(new RegExp(`^${name}\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const health = async () => ((await h.raw('GET', `${h.gw.baseUrl}/health`)).body as { revocationPoll: PollHealth }).revocationPoll;
  /** Waits until `n` more rounds have finished, so none that started earlier is still in flight. */
  const moreRounds = async (n: number) => {
    const done = await metric('done');
    await waitFor(`${n} more poll rounds`, () => metric('done'), (v) => v >= done + n);
  };

  beforeAll(async () => {
    ejbca = await startEjbcaDouble({ clock });
    work = await mkdtemp(path.join(tmpdir(), 'acme-gw-poll-ejbca-'));
    h = await Harness.start(
      {
        connectors: {
          ejbca: await ejbcaConnectorSection(ejbca, work),
        },
        profiles: { legacy: { connector: 'ejbca', template: 'SERVER', challenges: ['http-01'] } },
        defaultProfile: 'legacy',
        background: { revocationPoll: { interval: '100ms', concurrency: 2, timeout: '5s' } },
      },
      { validation: true, gateway: { clock, log } },
    );
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await h?.stop();
    await ejbca?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('records the revocation, and renewalInfo answers a window in the past without asking the backend', async () => {
    const alice = await h.account({ profile: 'legacy' });
    const issued = await h.issue(alice, ['officer.poll.example.test']);
    const url = `${await alice.client.url('renewalInfo')}/${certIdOf(issued.leafPem)}`;
    const id = idOf(issued.certUrl) as CertificateId;
    const dir = h.directoryUrl('legacy');

    // Rounds find the certificate good while nobody revoked it.
    await waitFor('a round that found the certificate good', health, (p) => p.enabled && (p.lastRound?.good ?? 0) >= 1);
    expect((await h.store.getCertificate(id))?.revokedAt).toBeNull();

    // The officer, in the EJBCA admin GUI; no client asks renewalInfo meanwhile.
    ejbca.control.revoke(serialOf(issued.leafPem), 1);
    const stored = await waitFor('the revocation recorded', () => h.store.getCertificate(id), (c) => c?.revokedAt instanceof Date);
    expect(stored?.revocationReason).toBe(1);
    expect(await metric('revoked', 'acme_gateway_revocation_poll_certificates_total')).toBe(1);

    // Once no round that listed it can be in flight, renewalInfo must not reach the backend: past
    // its own one-minute cache, it answers from the record.
    await moreRounds(2);
    const asked = vi.spyOn(ejbca.state, 'revocationStatus');
    clock.advance(61_000);
    const info = expectJson<RenewalInfoJson>(await h.raw('GET', url), 200, dir);
    expect(new Date(info.suggestedWindow.end).getTime()).toBeLessThan(clock.now().getTime());
    expect(new Date(info.suggestedWindow.end).getTime()).toBeLessThan(Date.now());
    expect(asked).not.toHaveBeenCalled();

    // Later rounds leave the revoked certificate alone.
    await moreRounds(2);
    expect(asked).not.toHaveBeenCalled();
    expect(await health()).toMatchObject({ enabled: true, lastRound: { outcome: 'done', good: 0, revoked: 0, errors: 0, skipped: 0 } });
    expect(ejbca.protocolErrors).toEqual([]);
  });

  it('counts a backend outage as errors, logs it, and keeps polling', async () => {
    const alice = await h.account({ profile: 'legacy' });
    const issued = await h.issue(alice, ['outage.poll.example.test']);
    await ejbca.control.fail({ kind: 'http-500' });
    try {
      await waitFor('a round with the backend down', health, (p) => (p.lastRound?.errors ?? 0) >= 1);
      expect(await metric('error', 'acme_gateway_revocation_poll_certificates_total')).toBeGreaterThanOrEqual(1);
      expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'revocation status unavailable; will ask again next round', obj: expect.objectContaining({ component: 'revocation-poll', serial: serialOf(issued.leafPem), connector: 'ejbca' }) }));
      expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'revocation poll round', obj: expect.objectContaining({ outcome: 'done' }) }));
    } finally {
      await ejbca.control.heal();
    }
    ejbca.control.revoke(serialOf(issued.leafPem), 4);
    const stored = await waitFor('the revocation recorded after the outage', () => h.store.getCertificate(idOf(issued.certUrl) as CertificateId), (c) => c?.revokedAt instanceof Date);
    expect(stored?.revocationReason).toBe(4);
  });
});
