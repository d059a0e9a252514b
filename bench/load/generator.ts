/**
 * The load generator: `concurrency` async workers in this process, each looping over whole orders
 * (order-flow.ts) with its own nonce pool and either one account for its life or a new account per
 * order. A run has a warm-up (not counted), then a measured window bounded by time, by completed
 * orders and by requests; it stops by itself. A server that completes no request for `stallMs` is
 * reported as stalled and the run ends at once, in-flight requests aborted.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { AcmeClient, AcmeError, newAccountKey, type RequestObserver } from './acme-client.js';
import type { Http01Responder } from './http01.js';
import { runOrder, type Account } from './order-flow.js';

export interface LoadOptions {
  directoryUrl: string;
  /** PEM the server's TLS certificate chains to. */
  ca: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Ends the window after this many completed orders. */
  maxOrders: number;
  /** Ends the window after this many completed requests. */
  maxRequests: number;
  /** A new account for every order (counted in the order's latency), else one per worker. */
  accountPerOrder: boolean;
  stallMs: number;
  http01: Http01Responder;
  pollDelaysMs?: readonly number[];
  pollDeadlineMs?: number;
  /** Called (synchronously) when the measured window starts and ends: sample the server there. */
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
}

export interface LoadResult {
  completedOrders: number;
  windowMs: number;
  ordersPerSecond: number;
  /** Whole-order latency in ms over the orders completed in the window. */
  latencyMs: { p50: number; p95: number; p99: number };
  /** Failed orders by kind (problem type, HTTP status or socket error), window and warm-up alike. */
  errors: Record<string, number>;
  badNonceRetries: number;
  /** Requests completed in the window, per completed order. */
  requestsPerOrder: number;
  stalled: boolean;
  /** Time from the start of the run to the last completed request, when stalled. */
  stalledAfterMs: number | undefined;
  /** This process's CPU (user + system) in the window, per completed order and as % of one core. */
  generatorCpuMsPerOrder: number;
  generatorCpuPercent: number;
}

const DEFAULT_POLL_DELAYS_MS = [5, 10, 20, 40, 80, 100];
const GRACE_MS = 2_000;
const ERROR_PAUSE_MS = 50;

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

type Phase = 'warmup' | 'measure' | 'done';

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every request in flight listens to it
  const dispatcher = new Agent({ connect: { ca: opts.ca }, keepAliveTimeout: 30_000 });
  const started = Date.now();
  let phase: Phase = 'warmup';
  let windowStart = 0;
  let windowEnd = 0;
  let cpuAtStart = process.cpuUsage();
  let cpuInWindow = { user: 0, system: 0 };
  let lastCompletedAt = started;
  let requestsInWindow = 0;
  let badNonceRetries = 0;
  let stalled = false;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let endWindow: () => void = () => undefined;
  const windowEnded = new Promise<void>((resolve) => (endWindow = resolve));

  const startWindow = (): void => {
    if (phase !== 'warmup') return;
    phase = 'measure';
    windowStart = Date.now();
    cpuAtStart = process.cpuUsage();
    opts.onWindowStart?.();
  };
  const finishWindow = (): void => {
    if (phase === 'done') return;
    if (phase === 'warmup') startWindow();
    phase = 'done';
    windowEnd = Date.now();
    cpuInWindow = process.cpuUsage(cpuAtStart);
    opts.onWindowEnd?.();
    endWindow();
  };

  const observer: RequestObserver = {
    completed() {
      lastCompletedAt = Date.now();
      if (phase !== 'measure') return;
      requestsInWindow++;
      if (requestsInWindow >= opts.maxRequests) finishWindow();
    },
    badNonceRetried() {
      badNonceRetries++;
    },
  };

  const flow = {
    http01: opts.http01,
    pollDelaysMs: opts.pollDelaysMs ?? DEFAULT_POLL_DELAYS_MS,
    pollDeadlineMs: opts.pollDeadlineMs ?? 30_000,
    signal: abort.signal,
  };

  const countError = (e: unknown): void => {
    if (abort.signal.aborted) return; // the end of the run, not the server's fault
    const kind = e instanceof AcmeError ? e.kind : e instanceof Error ? e.name : 'unknown';
    errors[kind] = (errors[kind] ?? 0) + 1;
  };

  const worker = async (): Promise<void> => {
    const client = new AcmeClient(opts.directoryUrl, dispatcher, observer, abort.signal);
    const makeAccount = async (): Promise<Account> => {
      const key = await newAccountKey();
      return { key, kid: await client.newAccount(key) };
    };
    let account: Account | undefined;
    while (phase !== 'done') {
      const t0 = performance.now();
      try {
        if (account === undefined || opts.accountPerOrder) account = await makeAccount();
        await runOrder(client, account, flow);
        if (phase === 'measure') {
          latencies.push(performance.now() - t0);
          if (latencies.length >= opts.maxOrders) finishWindow();
        }
      } catch (e) {
        countError(e);
        if (abort.signal.aborted) break;
        await sleep(ERROR_PAUSE_MS);
      }
    }
  };

  const warmupTimer = setTimeout(startWindow, opts.warmupMs);
  const endTimer = setTimeout(finishWindow, opts.warmupMs + opts.durationMs);
  const stallTimer = setInterval(() => {
    if (phase === 'done' || Date.now() - lastCompletedAt <= opts.stallMs) return;
    stalled = true;
    finishWindow();
    abort.abort();
  }, 250);

  const workers = Array.from({ length: opts.concurrency }, () => worker());
  await windowEnded;
  clearTimeout(warmupTimer);
  clearTimeout(endTimer);
  // Orders in flight may finish (uncounted) for a moment, so that the server is not cut mid-write;
  // then whatever is left is aborted.
  const all = Promise.all(workers);
  if (!abort.signal.aborted) await Promise.race([all, sleep(GRACE_MS)]);
  abort.abort();
  clearInterval(stallTimer);
  await Promise.race([all, sleep(5_000)]);
  await dispatcher.destroy().catch(() => undefined);

  const windowMs = Math.max(1, windowEnd - windowStart);
  const sorted = latencies.slice().sort((a, b) => a - b);
  const cpuMs = (cpuInWindow.user + cpuInWindow.system) / 1000;
  const n = latencies.length;
  return {
    completedOrders: n,
    windowMs,
    ordersPerSecond: (n * 1000) / windowMs,
    latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) },
    errors,
    badNonceRetries,
    requestsPerOrder: n > 0 ? requestsInWindow / n : Number.NaN,
    stalled,
    stalledAfterMs: stalled ? lastCompletedAt - started : undefined,
    generatorCpuMsPerOrder: n > 0 ? cpuMs / n : Number.NaN,
    generatorCpuPercent: (100 * cpuMs) / windowMs,
  };
}
