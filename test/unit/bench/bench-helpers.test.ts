/** The benchmark's own arithmetic and its hand-built CSR; no timing is asserted here. */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { newCsr } from '../../../bench/load/csr.js';
import { percentile } from '../../../bench/load/generator.js';
import type { LoadResult } from '../../../bench/load/generator.js';
import { cpuMs, peakRssMb } from '../../../bench/proc.js';
import { median, pairedRatios, type RunResult } from '../../../bench/report.js';

x509.cryptoProvider.set(globalThis.crypto);

function run(server: 'pebble' | 'gateway', repetition: number, ordersPerSecond: number, stalled = false): RunResult {
  const load: LoadResult = {
    completedOrders: 10, windowMs: 1000, ordersPerSecond, latencyMs: { p50: 1, p95: 2, p99: 3 }, errors: {}, badNonceRetries: 0,
    requestsPerOrder: 8, stalled, stalledAfterMs: stalled ? 500 : undefined, generatorCpuMsPerOrder: 1, generatorCpuPercent: 10,
  };
  return { cell: { scenario: 'a', concurrency: 8, accountPerOrder: false }, server, repetition, load, serverCpuMsPerOrder: 5, peakRssMb: 100, challengeMode: 'x', loadAvg: 1, failure: undefined };
}

describe('bench helpers', () => {
  it('builds a CSR whose signature verifies and whose SAN is the order name', async () => {
    const csr = new x509.Pkcs10CertificateRequest(await newCsr('abc.bench.test'));
    expect(await csr.verify()).toBe(true);
    const ext = csr.extensions.find((e) => e.type === '2.5.29.17');
    expect(ext).toBeDefined();
    const san = new x509.SubjectAlternativeNameExtension(ext!.rawData);
    expect(san.names.items.map((n) => n.value)).toEqual(['abc.bench.test']);
    expect(csr.subject).toBe('CN=abc.bench.test');
  });

  it('takes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('takes the median of the finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5])).toBe(5);
  });

  it('pairs ratios by repetition and leaves out a repetition where a server stalled', () => {
    const runs = [run('pebble', 1, 10), run('gateway', 1, 20), run('pebble', 2, 1, true), run('gateway', 2, 20), run('pebble', 3, 10), run('gateway', 3, 30)];
    expect(pairedRatios(runs).ordersPerSecond).toBe(2.5);
  });

  it('reads CPU time and peak RSS of a process from /proc', () => {
    expect(cpuMs(process.pid)).toBeGreaterThan(0);
    expect(peakRssMb(process.pid)).toBeGreaterThan(1);
  });
});
