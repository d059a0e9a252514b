/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): the functions with the most self time,
 * as a Markdown table. Several files are added together.
 *
 *   npx tsx bench/cpuprofile-top.ts [--top 15] PROFILE.cpuprofile...
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
  if (nm >= 0) file = file.slice(nm);
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

export function topTable(entries: readonly Entry[], totalMs: number, top: number): string {
  const rows = ['| # | self ms | self % | function | where |', '| ---: | ---: | ---: | --- | --- |'];
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
  process.stdout.write(`${topTable(entries, totalMs, Number(values.top))}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
