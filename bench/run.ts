/**
 * `npm run bench`: Pebble and the gateway side by side on loopback, driven by the same load
 * generator (bench/load/), interleaved and repeated; medians and ratios gateway / Pebble go to
 * bench/results/<timestamp>.md (and .json) and stdout. See docs/performance.md.
 *
 *   npm run bench                       # full matrix: scenarios a,b × workers 1,8,32 (+ new account per order at 8), 3 repetitions
 *   npm run bench -- --quick            # 1 repetition, 10 s, 8 workers: for development
 *   npm run bench -- --scale            # also: gateway on 100,000 stored orders vs an empty database
 *   npm run bench -- --help
 */
import { execFile, execFileSync } from 'node:child_process';
import { access, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startChalltestsrv } from '../test/fakes/challtestsrv.js';
import { REPO_ROOT } from '../test/helpers/gateway-process.js';
import { startHttp01Responder, type Http01Responder } from './load/http01.js';
import { runLoad } from './load/generator.js';
import { cpuMs, peakRssMb, rssMb } from './proc.js';
import { cellKey, median, resultsTable, roundsTable, scaleTable, SCENARIO_TITLE, type Cell, type RoundResult, type RunResult, type ScaleResult } from './report.js';
import {
  gatewayHasValidationNone,
  gatewaySnapshot,
  makePebbleTls,
  newRunDir,
  newSessionDir,
  startGateway,
  startPebble,
  type Scenario,
  type ServerHandle,
  type ServerName,
  type TlsMaterial,
} from './servers.js';

const USAGE = `usage: npm run bench -- [options]
  --quick                  1 repetition, 10 s, 8 workers, no per-order cell (development)
  --reps N                 repetitions of every cell, interleaved (default 3)
  --concurrency LIST       workers, e.g. 1,8,32 (default 1,8,32)
  --per-order LIST         workers for the cells with a new account per order (default 8; "none")
  --duration S             measured seconds per run (default 10)
  --warmup S               unmeasured seconds before (default 2)
  --scenario LIST          a (no challenge work), b (http-01) (default a,b)
  --servers LIST           pebble, gateway (default pebble,gateway)
  --stall S                no completed request for S seconds: the run is stalled (default 5)
  --max-orders N           end a run's window after N completed orders (default 1000000)
  --max-requests N         end a run's window after N completed requests (default 10000000)
  --scale                  also run the gateway on a prefilled database vs an empty one
  --scale-only             only the scale run (same as --parts scale)
  --parts LIST             which parts to run: matrix, scale, rounds (default: matrix, plus scale
                           with --scale and rounds with --rounds)
  --scale-orders N         orders in the prefilled database (default 100000)
  --scale-concurrency N    workers for the scale run (default 8)
  --rounds N               memory check: N back-to-back rounds (default 3) on ONE process per
                           server, at the largest --concurrency, first --scenario; RSS after each
  --cpu-prof DIR           run the gateway under node --cpu-prof, profiles written to DIR
  --gateway-node-args=ARGS more node flags for the gateway, e.g. --gateway-node-args=--max-old-space-size=96
  --gateway-log-level L    the gateway's --log-level (default info)
  --gateway-rev REV        run the gateway built from git revision REV (a snapshot), not the work tree
  --keep                   keep the temp dirs (logs, data) of every run
  --out DIR                where the report goes (default bench/results)
`;

interface Options {
  reps: number;
  concurrency: number[];
  perOrder: number[];
  durationMs: number;
  warmupMs: number;
  scenarios: Scenario[];
  servers: ServerName[];
  stallMs: number;
  maxOrders: number;
  maxRequests: number;
  scale: boolean;
  matrix: boolean;
  roundsPart: boolean;
  scaleOrders: number;
  scaleConcurrency: number;
  rounds: number;
  cpuProfDir: string | undefined;
  gatewayNodeArgs: string[];
  gatewayLogLevel: string;
  gatewayRev: string | undefined;
  keep: boolean;
  outDir: string;
  quick: boolean;
}

function list(v: string | undefined, fallback: string): string[] {
  return (v ?? fallback).split(',').map((s) => s.trim()).filter((s) => s.length > 0 && s !== 'none');
}

function positiveNumber(name: string, v: string): number {
  const n = Number(v.replace(/s$/, ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: "${v}" is not a positive number`);
  return n;
}

function parts(given: string | undefined, scale: boolean, scaleOnly: boolean, rounds: boolean): { matrix: boolean; scale: boolean; roundsPart: boolean } {
  if (given !== undefined) {
    const p = list(given, '');
    for (const x of p) if (!['matrix', 'scale', 'rounds'].includes(x)) throw new Error(`--parts: "${x}" is not matrix, scale or rounds`);
    return { matrix: p.includes('matrix'), scale: p.includes('scale'), roundsPart: p.includes('rounds') };
  }
  if (scaleOnly) return { matrix: false, scale: true, roundsPart: false };
  return { matrix: true, scale, roundsPart: rounds };
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      reps: { type: 'string' },
      concurrency: { type: 'string' },
      'per-order': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      scenario: { type: 'string' },
      servers: { type: 'string' },
      stall: { type: 'string' },
      'max-orders': { type: 'string' },
      'max-requests': { type: 'string' },
      scale: { type: 'boolean' },
      'scale-only': { type: 'boolean' },
      parts: { type: 'string' },
      'scale-orders': { type: 'string' },
      'scale-concurrency': { type: 'string' },
      rounds: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'gateway-node-args': { type: 'string' },
      'gateway-log-level': { type: 'string' },
      'gateway-rev': { type: 'string' },
      keep: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const quick = values.quick === true;
  const scenarios = list(values.scenario, 'a,b');
  for (const s of scenarios) if (s !== 'a' && s !== 'b') throw new Error(`--scenario: "${s}" is not a or b`);
  const servers = list(values.servers, 'pebble,gateway');
  for (const s of servers) if (s !== 'pebble' && s !== 'gateway') throw new Error(`--servers: "${s}" is not pebble or gateway`);
  return {
    quick,
    reps: positiveNumber('reps', values.reps ?? (quick ? '1' : '3')),
    concurrency: list(values.concurrency, quick ? '8' : '1,8,32').map((v) => positiveNumber('concurrency', v)),
    perOrder: list(values['per-order'], quick ? 'none' : '8').map((v) => positiveNumber('per-order', v)),
    durationMs: positiveNumber('duration', values.duration ?? (quick ? '9' : '10')) * 1000,
    warmupMs: Number((values.warmup ?? (quick ? '1' : '2')).replace(/s$/, '')) * 1000,
    scenarios: scenarios as Scenario[],
    servers: servers as ServerName[],
    stallMs: positiveNumber('stall', values.stall ?? '5') * 1000,
    maxOrders: positiveNumber('max-orders', values['max-orders'] ?? '1000000'),
    maxRequests: positiveNumber('max-requests', values['max-requests'] ?? '10000000'),
    ...parts(values.parts, values.scale === true, values['scale-only'] === true, values.rounds !== undefined),
    scaleOrders: positiveNumber('scale-orders', values['scale-orders'] ?? '100000'),
    scaleConcurrency: positiveNumber('scale-concurrency', values['scale-concurrency'] ?? '8'),
    rounds: positiveNumber('rounds', values.rounds ?? '3'),
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']),
    gatewayNodeArgs: (values['gateway-node-args'] ?? '').split(/\s+/).filter((a) => a.length > 0),
    gatewayLogLevel: values['gateway-log-level'] ?? 'info',
    gatewayRev: values['gateway-rev'],
    keep: values.keep === true,
    outDir: path.resolve(values.out ?? path.join(REPO_ROOT, 'bench', 'results')),
  };
}

interface Session {
  opts: Options;
  dir: string;
  http01: Http01Responder;
  dnsAddress: string;
  tls: TlsMaterial;
  /** The gateway checkout to run, and what to call it in the report. */
  gatewayRoot: string;
  gatewayVersion: string;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'n/a';
  }
}

async function startServer(s: Session, server: ServerName, scenario: Scenario, runDir: string, dataDir?: string): Promise<ServerHandle> {
  const common = { scenario, http01Port: s.http01.port, dnsAddress: s.dnsAddress, runDir };
  if (server === 'pebble') return startPebble({ ...common, tls: s.tls });
  const nodeArgs = [...s.opts.gatewayNodeArgs, ...(s.opts.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', s.opts.cpuProfDir])];
  return startGateway({ ...common, root: s.gatewayRoot, logLevel: s.opts.gatewayLogLevel, nodeArgs, ...(dataDir === undefined ? {} : { dataDir }) });
}

/** One server, fresh, one run of the generator; the server is stopped afterwards. */
async function runOne(s: Session, cell: Cell, server: ServerName, repetition: number, dataDir?: string): Promise<RunResult> {
  const runDir = await newRunDir(s.dir, `${server}-${cellKey(cell).replaceAll('/', '-')}-r${repetition}`);
  const failed = (failure: string): RunResult => ({
    cell,
    server,
    repetition,
    load: {
      completedOrders: 0, windowMs: 0, ordersPerSecond: Number.NaN, latencyMs: { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN },
      errors: {}, badNonceRetries: 0, requestsPerOrder: Number.NaN, stalled: false, stalledAfterMs: undefined,
      generatorCpuMsPerOrder: Number.NaN, generatorCpuPercent: Number.NaN,
    },
    serverCpuMsPerOrder: Number.NaN,
    peakRssMb: Number.NaN,
    challengeMode: 'n/a',
    loadAvg: os.loadavg()[0] ?? Number.NaN,
    failure,
  });
  let handle: ServerHandle;
  try {
    handle = await startServer(s, server, cell.scenario, runDir, dataDir);
  } catch (e) {
    return failed(`${server} did not start: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  let cpuStart = Number.NaN;
  let cpuEnd = Number.NaN;
  let peak = Number.NaN;
  let loadAvg = Number.NaN;
  const sample = (f: () => number): number => {
    try {
      return f();
    } catch {
      return Number.NaN; // the process is gone; reported as a failure below
    }
  };
  const load = await runLoad({
    directoryUrl: handle.directoryUrl,
    ca: handle.ca,
    concurrency: cell.concurrency,
    warmupMs: s.opts.warmupMs,
    durationMs: s.opts.durationMs,
    maxOrders: s.opts.maxOrders,
    maxRequests: s.opts.maxRequests,
    accountPerOrder: cell.accountPerOrder,
    stallMs: s.opts.stallMs,
    http01: s.http01,
    onWindowStart: () => (cpuStart = sample(() => cpuMs(handle.pid))),
    onWindowEnd: () => {
      cpuEnd = sample(() => cpuMs(handle.pid));
      peak = sample(() => peakRssMb(handle.pid));
      loadAvg = os.loadavg()[0] ?? Number.NaN;
    },
  });
  const exit = await handle.stop();
  const exitedEarly = Number.isNaN(cpuEnd);
  if (!s.opts.keep && !exitedEarly && !load.stalled) await rm(runDir, { recursive: true, force: true });
  const n = load.completedOrders;
  return {
    cell,
    server,
    repetition,
    load,
    serverCpuMsPerOrder: n > 0 ? (cpuEnd - cpuStart) / n : Number.NaN,
    peakRssMb: peak,
    challengeMode: handle.challengeMode,
    loadAvg,
    failure: exitedEarly ? `${server} exited during the run (code ${exit.code}, signal ${exit.signal}); log: ${handle.logPath}` : undefined,
  };
}

function progress(r: RunResult, done: number, total: number): void {
  const l = r.load;
  const state = r.failure ? `FAILED ${r.failure}` : l.stalled ? `STALLED after ${((l.stalledAfterMs ?? 0) / 1000).toFixed(1)} s` : 'ok';
  const errors = Object.entries(l.errors).map(([k, n]) => `${k}=${n}`).join(' ') || 'none';
  process.stdout.write(
    `[${done}/${total}] ${SCENARIO_TITLE[r.cell.scenario]}, ${r.cell.accountPerOrder ? 'account per order' : 'account per worker'}, ${r.cell.concurrency} workers, ${r.server} r${r.repetition}: ` +
      `${l.ordersPerSecond.toFixed(1)} orders/s, p50 ${l.latencyMs.p50.toFixed(0)} ms, p99 ${l.latencyMs.p99.toFixed(0)} ms, ` +
      `CPU ${r.serverCpuMsPerOrder.toFixed(2)} ms/order, RSS ${r.peakRssMb.toFixed(0)} MB, gen CPU ${l.generatorCpuPercent.toFixed(0)}%, errors ${errors}: ${state}\n`,
  );
}

function cellsOf(opts: Options): Cell[] {
  const cells: Cell[] = [];
  for (const scenario of opts.scenarios) {
    for (const concurrency of opts.concurrency) cells.push({ scenario, concurrency, accountPerOrder: false });
    for (const concurrency of opts.perOrder) cells.push({ scenario, concurrency, accountPerOrder: true });
  }
  return cells;
}

async function runMatrix(s: Session, cells: Cell[]): Promise<RunResult[]> {
  const results: RunResult[] = [];
  const total = cells.length * s.opts.servers.length * s.opts.reps;
  for (let rep = 1; rep <= s.opts.reps; rep++) {
    // Interleaved: every cell once per repetition, servers alternating which goes first.
    const servers = rep % 2 === 1 ? s.opts.servers : [...s.opts.servers].reverse();
    for (const cell of cells) {
      for (const server of servers) {
        const r = await runOne(s, cell, server, rep);
        results.push(r);
        progress(r, results.length, total);
      }
    }
  }
  return results;
}

/**
 * Runs bench/fill-db.ts of the gateway checkout under test (a --gateway-rev snapshot has its own),
 * so the database gets that revision's migrations and record shapes.
 */
async function fill(root: string, dataDir: string, orders: number): Promise<number> {
  const own = path.join(root, 'bench', 'fill-db.ts');
  const script = (await access(own).then(() => true, () => false)) ? own : path.join(REPO_ROOT, 'bench', 'fill-db.ts');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    execFile(path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [script, '--data-dir', dataDir, '--orders', String(orders), '--accounts', '1000'], { cwd: root, maxBuffer: 16 * 1024 * 1024 }, (err, _out, errText) =>
      err ? reject(new Error(`${script} failed: ${errText.slice(-2000)}`, { cause: err })) : resolve(),
    );
  });
  return performance.now() - started;
}

async function runScale(s: Session): Promise<ScaleResult> {
  const template = path.join(s.dir, 'prefilled');
  await mkdir(template, { recursive: true });
  process.stdout.write(`filling a gateway database with ${s.opts.scaleOrders} orders ...\n`);
  const ms = await fill(s.gatewayRoot, template, s.opts.scaleOrders);
  process.stdout.write(`filled in ${(ms / 1000).toFixed(1)} s\n`);
  const cell: Cell = { scenario: 'a', concurrency: s.opts.scaleConcurrency, accountPerOrder: false };
  const out: ScaleResult = { prefilledOrders: s.opts.scaleOrders, empty: [], filled: [] };
  const total = 2 * s.opts.reps;
  for (let rep = 1; rep <= s.opts.reps; rep++) {
    for (const filled of rep % 2 === 1 ? [false, true] : [true, false]) {
      let dataDir: string | undefined;
      if (filled) {
        dataDir = path.join(s.dir, `prefilled-copy-r${rep}`);
        await cp(template, dataDir, { recursive: true });
      }
      const r = await runOne(s, cell, 'gateway', rep, dataDir);
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
      (filled ? out.filled : out.empty).push(r);
      process.stdout.write(`scale (${filled ? 'prefilled' : 'empty'}) `);
      progress(r, out.empty.length + out.filled.length, total);
    }
  }
  return out;
}

/**
 * Back-to-back rounds on one server process (a leak shows as RSS growing round after round);
 * for the gateway, issue 6 asks round 3 to be within 10 % of round 2.
 */
async function runRounds(s: Session, server: ServerName): Promise<RoundResult[]> {
  const cell: Cell = { scenario: s.opts.scenarios[0] ?? 'b', concurrency: Math.max(...s.opts.concurrency), accountPerOrder: false };
  const runDir = await newRunDir(s.dir, `${server}-rounds`);
  const handle = await startServer(s, server, cell.scenario, runDir);
  const out: RoundResult[] = [];
  try {
    for (let round = 1; round <= s.opts.rounds; round++) {
      let cpuStart = Number.NaN;
      let cpuEnd = Number.NaN;
      const load = await runLoad({
        directoryUrl: handle.directoryUrl, ca: handle.ca, concurrency: cell.concurrency, warmupMs: round === 1 ? s.opts.warmupMs : 0,
        durationMs: s.opts.durationMs, maxOrders: s.opts.maxOrders, maxRequests: s.opts.maxRequests, accountPerOrder: false,
        stallMs: s.opts.stallMs, http01: s.http01,
        onWindowStart: () => (cpuStart = cpuMs(handle.pid)),
        onWindowEnd: () => (cpuEnd = cpuMs(handle.pid)),
      });
      const r: RoundResult = { server, cell, round, load, cpuMsPerOrder: (cpuEnd - cpuStart) / load.completedOrders, rssMb: rssMb(handle.pid), peakRssMb: peakRssMb(handle.pid) };
      out.push(r);
      process.stdout.write(`rounds ${server} ${round}/${s.opts.rounds}: ${load.ordersPerSecond.toFixed(1)} orders/s, p50 ${load.latencyMs.p50.toFixed(0)} ms, RSS ${r.rssMb.toFixed(0)} MB, peak ${r.peakRssMb.toFixed(0)} MB${load.stalled ? ', STALLED' : ''}\n`);
      if (load.stalled) break;
    }
  } finally {
    await handle.stop();
    if (!s.opts.keep) await rm(runDir, { recursive: true, force: true });
  }
  return out;
}

function machine(gatewayVersion: string): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return [
    `- machine: \`nproc\` = ${sh('nproc', [])}, ${cpu}, Linux ${os.release()}`,
    '- memory (`free -h`):',
    '',
    '```',
    sh('free', ['-h']),
    '```',
    '',
    `- Node ${process.version}; Pebble ${sh('dpkg-query', ['-W', '-f=${Version}', 'pebble'])} (Debian); gateway: ${gatewayVersion}`,
  ].join('\n');
}

function loadLine(runs: RunResult[]): string {
  const loads = runs.map((r) => r.loadAvg).filter((x) => Number.isFinite(x));
  if (loads.length === 0) return '- machine load: n/a';
  return `- machine load (1-min load average at the end of each run, ${os.availableParallelism()} cores): median ${median(loads).toFixed(1)}, range ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; above the core count means other work shared the machine`;
}

function report(s: Session, started: Date, cells: Cell[], results: RunResult[], scale: ScaleResult | undefined, rounds: RoundResult[]): string {
  const o = s.opts;
  const modes = [...new Set(results.filter((r) => r.server === 'gateway' && r.cell.scenario === 'a').map((r) => r.challengeMode))];
  const lines = [
    `# Benchmark ${started.toISOString()}`,
    '',
    machine(s.gatewayVersion),
    ...(o.gatewayNodeArgs.length > 0 ? [`- gateway node flags: \`${o.gatewayNodeArgs.join(' ')}\``] : []),
    `- settings: ${o.reps} repetition(s), interleaved; ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured per run; stall after ${o.stallMs / 1000} s without a reply; a fresh server process per run; medians over the repetitions; ratios gateway / Pebble are medians of per-repetition ratios, leaving out repetitions where either server stalled`,
    `- scenario (a): Pebble with PEBBLE_VA_ALWAYS_VALID=1; gateway: ${modes.length > 0 ? modes.join(', ') : 'not run'}. Both scenarios: PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0; http-01 answered by the load generator`,
    loadLine([...results, ...(scale ? [...scale.empty, ...scale.filled] : [])]),
    `- the generator polls at 5, 10, 20, 40, 80, then every 100 ms (Retry-After not honoured, same for both)`,
    '',
  ];
  if (results.length > 0) lines.push(resultsTable(cells, results, o.servers), '');
  if (scale) lines.push(`## Scale: gateway, ${SCENARIO_TITLE.a}`, '', scaleTable(scale), '');
  if (rounds.length > 0) lines.push(`## Memory: back-to-back rounds on one process`, '', roundsTable(rounds), '');
  return lines.join('\n');
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return 0;
  const started = new Date();
  const dir = await newSessionDir();
  const dns = await startChalltestsrv({ http01: false });
  const http01 = await startHttp01Responder();
  let gatewayRoot = REPO_ROOT;
  let gatewayVersion = `work tree at ${sh('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])}${sh('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']) === '' ? '' : ' with uncommitted changes'}`;
  if (opts.gatewayRev !== undefined) {
    const snap = await gatewaySnapshot(opts.gatewayRev, dir);
    gatewayRoot = snap.root;
    gatewayVersion = `commit ${snap.commit} (--gateway-rev ${opts.gatewayRev})`;
  }
  const session: Session = { opts, dir, http01, dnsAddress: dns.dnsAddress, tls: await makePebbleTls(dir), gatewayRoot, gatewayVersion };
  if (opts.cpuProfDir !== undefined) await mkdir(opts.cpuProfDir, { recursive: true });
  const cells = opts.matrix ? cellsOf(opts) : [];
  const runs = cells.length * opts.servers.length * opts.reps + (opts.scale ? 2 * opts.reps : 0) + (opts.roundsPart ? opts.rounds * opts.servers.length : 0);
  process.stdout.write(
    `bench: ${runs} runs of ~${(opts.warmupMs + opts.durationMs) / 1000} s; gateway scenario (a): ${(await gatewayHasValidationNone(dir, gatewayRoot)) ? 'validation: none' : 'http-01 (no profile key validation: none yet)'}; temp ${dir}\n`,
  );
  let results: RunResult[] = [];
  let scale: ScaleResult | undefined;
  const rounds: RoundResult[] = [];
  try {
    results = await runMatrix(session, cells);
    if (opts.scale) scale = await runScale(session);
    for (const server of opts.roundsPart ? opts.servers : []) rounds.push(...(await runRounds(session, server)));
  } finally {
    await http01.close();
    await dns.stop();
  }
  const kept = [...results, ...(scale ? [...scale.empty, ...scale.filled] : [])].some((r) => r.failure !== undefined || r.load.stalled);
  if (opts.keep || kept) process.stdout.write(`logs of ${opts.keep ? 'every run' : 'failed and stalled runs'} kept in ${dir}\n`);
  else await rm(dir, { recursive: true, force: true });
  const md = report(session, started, cells, results, scale, rounds);
  await mkdir(opts.outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const mdPath = path.join(opts.outDir, `${stamp}.md`);
  await writeFile(mdPath, md);
  await writeFile(path.join(opts.outDir, `${stamp}.json`), JSON.stringify({ started, opts, results, scale, rounds }, null, 1));
  process.stdout.write(`\n${md}\nwritten: ${mdPath}\n`);
  return 0;
}

// A signal ends the run through process.exit, so the 'exit' handlers of servers.ts and the
// challtestsrv helper kill the child processes instead of leaving them behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
process.exitCode = await main();
