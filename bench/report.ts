/** Medians over repetitions, ratios gateway / Pebble, and the Markdown report. */
import type { LoadResult } from './load/generator.js';
import type { Scenario, ServerName } from './servers.js';

export interface Cell {
  scenario: Scenario;
  concurrency: number;
  accountPerOrder: boolean;
}

export interface RunResult {
  cell: Cell;
  server: ServerName;
  repetition: number;
  load: LoadResult;
  serverCpuMsPerOrder: number;
  peakRssMb: number;
  /** How the server handled challenges in this run (scenario (a) differs per server). */
  challengeMode: string;
  /** 1-minute load average at the end of the window: how busy the shared machine was. */
  loadAvg: number;
  /** Set when the server process exited by itself during the run, or failed to start. */
  failure: string | undefined;
}

export function cellKey(c: Cell): string {
  return `${c.scenario}/${c.accountPerOrder ? 'order' : 'worker'}/${c.concurrency}`;
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface Summary {
  runs: number;
  ordersPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  cpuMsPerOrder: number;
  peakRssMb: number;
  requestsPerOrder: number;
  generatorCpuPercent: number;
  /** Failed orders by kind, summed over the runs. */
  errors: Record<string, number>;
  badNonceRetries: number;
  stalledRuns: number;
  /** Seconds into the run of the last completed request, per stalled run. */
  stalledAfterSeconds: number[];
  failures: string[];
  challengeModes: string[];
}

export function summarise(runs: readonly RunResult[]): Summary {
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.load.errors)) errors[k] = (errors[k] ?? 0) + n;
  const m = (f: (r: RunResult) => number): number => median(runs.map(f));
  return {
    runs: runs.length,
    ordersPerSecond: m((r) => r.load.ordersPerSecond),
    p50: m((r) => r.load.latencyMs.p50),
    p95: m((r) => r.load.latencyMs.p95),
    p99: m((r) => r.load.latencyMs.p99),
    cpuMsPerOrder: m((r) => r.serverCpuMsPerOrder),
    peakRssMb: m((r) => r.peakRssMb),
    requestsPerOrder: m((r) => r.load.requestsPerOrder),
    generatorCpuPercent: m((r) => r.load.generatorCpuPercent),
    errors,
    badNonceRetries: runs.reduce((n, r) => n + r.load.badNonceRetries, 0),
    stalledRuns: runs.filter((r) => r.load.stalled).length,
    stalledAfterSeconds: runs.filter((r) => r.load.stalled).map((r) => (r.load.stalledAfterMs ?? 0) / 1000),
    failures: runs.flatMap((r) => (r.failure ? [r.failure] : [])),
    challengeModes: [...new Set(runs.map((r) => r.challengeMode))],
  };
}

function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return `${(a / b).toFixed(2)}×`;
}

function times(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a';
}

const FIGURES = {
  ordersPerSecond: (r: RunResult) => r.load.ordersPerSecond,
  p50: (r: RunResult) => r.load.latencyMs.p50,
  p95: (r: RunResult) => r.load.latencyMs.p95,
  p99: (r: RunResult) => r.load.latencyMs.p99,
  cpuMsPerOrder: (r: RunResult) => r.serverCpuMsPerOrder,
  peakRssMb: (r: RunResult) => r.peakRssMb,
};

/**
 * Ratios gateway / Pebble taken within each repetition (the two runs are back to back, so they
 * share the machine's mood), then the median over repetitions: steadier on a shared machine than
 * the ratio of the two medians. A repetition where either server stalled or failed is left out:
 * a stalled run's figures cover only the seconds before the stall.
 */
export function pairedRatios(runs: readonly RunResult[]): Record<keyof typeof FIGURES, number> {
  const out = {} as Record<keyof typeof FIGURES, number>;
  for (const [name, f] of Object.entries(FIGURES) as [keyof typeof FIGURES, (r: RunResult) => number][]) {
    const ratios: number[] = [];
    const usable = (r: RunResult): boolean => !r.load.stalled && r.failure === undefined;
    for (const g of runs.filter((r) => r.server === 'gateway' && usable(r))) {
      const p = runs.find((r) => r.server === 'pebble' && r.repetition === g.repetition && usable(r));
      if (p && f(p) !== 0) ratios.push(f(g) / f(p));
    }
    out[name] = median(ratios);
  }
  return out;
}

function pairedCount(runs: readonly RunResult[]): number {
  const usable = (r: RunResult): boolean => !r.load.stalled && r.failure === undefined;
  return runs.filter((g) => g.server === 'gateway' && usable(g) && runs.some((p) => p.server === 'pebble' && p.repetition === g.repetition && usable(p))).length;
}

function errorText(s: Summary): string {
  const parts = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`);
  if (s.badNonceRetries > 0) parts.push(`(badNonce retried ${s.badNonceRetries})`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

function statusText(s: Summary): string {
  const notes: string[] = [];
  if (s.stalledRuns > 0) notes.push(`**stalled ${s.stalledRuns}/${s.runs}** (last reply at ${s.stalledAfterSeconds.map((x) => `${x.toFixed(1)} s`).join(', ')})`);
  if (s.failures.length > 0) notes.push(`**failed**: ${s.failures.join('; ')}`);
  return notes.length === 0 ? 'ok' : notes.join('; ');
}

export const SCENARIO_TITLE: Record<Scenario, string> = {
  a: '(a) no challenge work',
  b: '(b) http-01',
};

const HEADER =
  '| scenario | accounts | workers | server | orders/s | p50 ms | p95 ms | p99 ms | server CPU ms/order | peak RSS MB | req/order | generator CPU % | errors (all runs) | status |\n' +
  '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |';

/** The main table: one row per cell and server (medians), then the ratio row. */
export function resultsTable(cells: readonly Cell[], results: readonly RunResult[], servers: readonly ServerName[]): string {
  const rows: string[] = [HEADER];
  for (const cell of cells) {
    const key = cellKey(cell);
    const label = `${SCENARIO_TITLE[cell.scenario]} | ${cell.accountPerOrder ? 'new per order' : 'one per worker'} | ${cell.concurrency}`;
    const sums = new Map<ServerName, Summary>();
    for (const server of servers) {
      const runs = results.filter((r) => r.server === server && cellKey(r.cell) === key);
      if (runs.length === 0) continue;
      const s = summarise(runs);
      sums.set(server, s);
      rows.push(
        `| ${label} | ${server} | ${fmt(s.ordersPerSecond)} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.p99)} | ${fmt(s.cpuMsPerOrder, 2)} | ${fmt(s.peakRssMb)} | ${fmt(s.requestsPerOrder)} | ${fmt(s.generatorCpuPercent)} | ${errorText(s)} | ${statusText(s)} |`,
      );
    }
    if (sums.has('gateway') && sums.has('pebble')) {
      const r = pairedRatios(results.filter((x) => cellKey(x.cell) === key));
      const pairs = pairedCount(results.filter((x) => cellKey(x.cell) === key));
      rows.push(
        `| ${label} | **gateway / Pebble** (${pairs === 0 ? 'no repetition without a stall' : `${pairs} rep.`}) | **${times(r.ordersPerSecond)}** | ${times(r.p50)} | ${times(r.p95)} | ${times(r.p99)} | **${times(r.cpuMsPerOrder)}** | ${times(r.peakRssMb)} | | | | |`,
      );
    }
  }
  return rows.join('\n');
}

export interface ScaleResult {
  prefilledOrders: number;
  empty: RunResult[];
  filled: RunResult[];
}

export function scaleTable(s: ScaleResult): string {
  const e = summarise(s.empty);
  const f = summarise(s.filled);
  const cell = s.empty[0]?.cell ?? s.filled[0]?.cell;
  const workers = cell ? `${cell.concurrency}` : '?';
  return [
    '| gateway database | workers | orders/s | p50 ms | p95 ms | p99 ms | server CPU ms/order | peak RSS MB | errors | status |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    `| empty | ${workers} | ${fmt(e.ordersPerSecond)} | ${fmt(e.p50)} | ${fmt(e.p95)} | ${fmt(e.p99)} | ${fmt(e.cpuMsPerOrder, 2)} | ${fmt(e.peakRssMb)} | ${errorText(e)} | ${statusText(e)} |`,
    `| ${s.prefilledOrders.toLocaleString('en-US')} orders | ${workers} | ${fmt(f.ordersPerSecond)} | ${fmt(f.p50)} | ${fmt(f.p95)} | ${fmt(f.p99)} | ${fmt(f.cpuMsPerOrder, 2)} | ${fmt(f.peakRssMb)} | ${errorText(f)} | ${statusText(f)} |`,
    `| **prefilled / empty** | | ${ratio(f.ordersPerSecond, e.ordersPerSecond)} | **${ratio(f.p50, e.p50)}** | ${ratio(f.p95, e.p95)} | ${ratio(f.p99, e.p99)} | ${ratio(f.cpuMsPerOrder, e.cpuMsPerOrder)} | ${ratio(f.peakRssMb, e.peakRssMb)} | | |`,
  ].join('\n');
}

export interface RoundResult {
  server: ServerName;
  cell: Cell;
  round: number;
  load: LoadResult;
  cpuMsPerOrder: number;
  /** VmRSS at the end of the round, and VmHWM so far. */
  rssMb: number;
  peakRssMb: number;
}

export function roundsTable(rounds: readonly RoundResult[]): string {
  const rows = [
    '| server | scenario | workers | round | orders/s | p50 ms | p99 ms | server CPU ms/order | RSS at end MB | peak RSS MB | RSS vs round before | errors | status |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  rounds.forEach((r, i) => {
    const before = i > 0 && rounds[i - 1]?.server === r.server ? rounds[i - 1] : undefined;
    const errors = Object.entries(r.load.errors).map(([k, n]) => `${k} ${n}`).join(', ') || '0';
    rows.push(
      `| ${r.server} | ${SCENARIO_TITLE[r.cell.scenario]} | ${r.cell.concurrency} | ${r.round} | ${fmt(r.load.ordersPerSecond)} | ${fmt(r.load.latencyMs.p50)} | ${fmt(r.load.latencyMs.p99)} | ${fmt(r.cpuMsPerOrder, 2)} | ${fmt(r.rssMb)} | ${fmt(r.peakRssMb)} | ${before ? ratio(r.rssMb, before.rssMb) : ''} | ${errors} | ${r.load.stalled ? '**stalled**' : 'ok'} |`,
    );
  });
  return rows.join('\n');
}
