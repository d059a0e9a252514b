/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): the functions with the most self time,
 * as a Markdown table. Several files are added together.
 *
 *   npx tsx bench/cpuprofile-top.ts [--top 15] PROFILE.cpuprofile...
 *
 * Prints three tables: functions by self time; self time by package (a node_modules package, a
 * node: module, or a file of the gateway); and the gateway's own functions (dist/src, dist/connectors)
 * by inclusive time, which says which handler or service the self time is spent under.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  name: string;
  where: string;
  selfMs: number;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  let file = frame.url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  const built = /\/(dist\/(?:src|connectors)\/.*)$/.exec(file); // also a --gateway-rev snapshot's
  if (nm >= 0) file = file.slice(nm);
  else if (built) file = built[1] ?? file;
  else if (file.startsWith(REPO_ROOT + '/')) file = file.slice(REPO_ROOT.length + 1);
  return `${file}:${frame.lineNumber + 1}`;
}

/** Self time per function (name and location), in ms, over all `profiles`. */
export function selfTimes(profiles: readonly CpuProfile[]): { entries: Entry[]; totalMs: number } {
  const byKey = new Map<string, Entry>();
  let totalMs = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    // Sample i lasted until sample i+1: timeDeltas[i+1] is its duration (µs).
    for (let i = 0; i < p.samples.length; i++) {
      const node = nodes.get(p.samples[i]!);
      const us = p.timeDeltas[i + 1] ?? 0;
      if (!node) continue;
      const name = node.callFrame.functionName || '(anonymous)';
      const loc = where(node.callFrame);
      const key = `${name}\u0000${loc}`;
      const e = byKey.get(key) ?? { name, where: loc, selfMs: 0 };
      e.selfMs += us / 1000;
      byKey.set(key, e);
      totalMs += us / 1000;
    }
  }
  return { entries: [...byKey.values()].sort((a, b) => b.selfMs - a.selfMs), totalMs };
}

/** The package (or node: module, or gateway file) a frame belongs to. */
function packageOf(frame: CallFrame): string {
  const w = where(frame);
  if (w === '') return frame.functionName || '(native)';
  const nm = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(w);
  if (nm) return nm[1] ?? w;
  if (w.startsWith('node:')) return w.split(':')[0] + ':' + (w.split(':')[1]?.split('/').slice(0, 2).join('/') ?? '');
  const own = /(?:^|\/)dist\/((?:src|connectors)\/.+):\d+$/.exec(w);
  return own ? own[1] ?? w : w.replace(/:\d+$/, '');
}

/** Self time summed per package. */
export function byPackage(profiles: readonly CpuProfile[]): { entries: Entry[]; totalMs: number } {
  const byKey = new Map<string, Entry>();
  let totalMs = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const node = nodes.get(p.samples[i]!);
      const us = p.timeDeltas[i + 1] ?? 0;
      if (!node) continue;
      const key = packageOf(node.callFrame);
      const e = byKey.get(key) ?? { name: key, where: '', selfMs: 0 };
      e.selfMs += us / 1000;
      byKey.set(key, e);
      totalMs += us / 1000;
    }
  }
  return { entries: [...byKey.values()].sort((a, b) => b.selfMs - a.selfMs), totalMs };
}

/** Inclusive time of the gateway's own functions (each counted once per sample, however deep). */
export function ownInclusive(profiles: readonly CpuProfile[]): { entries: Entry[]; totalMs: number } {
  const byKey = new Map<string, Entry>();
  let totalMs = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    for (let i = 0; i < p.samples.length; i++) {
      const us = p.timeDeltas[i + 1] ?? 0;
      totalMs += us / 1000;
      const seen = new Set<string>();
      for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) {
        const node = nodes.get(id);
        if (!node) break;
        const loc = where(node.callFrame);
        if (!/(?:^|\/)dist\/(?:src|connectors)\//.test(loc)) continue;
        const name = node.callFrame.functionName || '(anonymous)';
        const key = `${name}\u0000${loc}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const e = byKey.get(key) ?? { name, where: loc.replace(/^.*?dist\//, 'dist/'), selfMs: 0 };
        e.selfMs += us / 1000;
        byKey.set(key, e);
      }
    }
  }
  return { entries: [...byKey.values()].sort((a, b) => b.selfMs - a.selfMs), totalMs };
}

export function topTable(entries: readonly Entry[], totalMs: number, top: number, what: 'self' | 'package' | 'inclusive' = 'self'): string {
  const rows = [`| # | ${what} ms | ${what} % | ${what === 'self' ? 'function' : what === 'package' ? 'package or module' : 'gateway function'} | where |`, '| ---: | ---: | ---: | --- | --- |'];
  entries.slice(0, top).forEach((e, i) => {
    rows.push(`| ${i + 1} | ${e.selfMs.toFixed(0)} | ${((100 * e.selfMs) / totalMs).toFixed(1)} | \`${e.name}\` | ${e.where ? `\`${e.where}\`` : ''} |`);
  });
  return rows.join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '15' } }, allowPositionals: true });
  if (positionals.length === 0) throw new Error('usage: tsx bench/cpuprofile-top.ts [--top N] FILE.cpuprofile...');
  const profiles = await Promise.all(positionals.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as CpuProfile));
  const { entries, totalMs } = selfTimes(profiles);
  const idleMs = entries.filter((e) => e.name === '(idle)').reduce((n, e) => n + e.selfMs, 0);
  process.stdout.write(`${positionals.length} profile(s), ${(totalMs / 1000).toFixed(1)} s sampled, ${((100 * idleMs) / totalMs).toFixed(0)} % idle\n\n`);
  const top = Number(values.top);
  process.stdout.write(`Functions by self time:\n\n${topTable(entries, totalMs, top)}\n\n`);
  const pkgs = byPackage(profiles);
  process.stdout.write(`Self time by package:\n\n${topTable(pkgs.entries, pkgs.totalMs, top, 'package')}\n\n`);
  const own = ownInclusive(profiles);
  process.stdout.write(`The gateway's functions by inclusive time:\n\n${topTable(own.entries, own.totalMs, top, 'inclusive')}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
