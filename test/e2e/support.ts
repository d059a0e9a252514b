/**
 * Shared pieces of the e2e files: running a real client with a bound, checking an issued
 * certificate with openssl, reading the gateway's CRL. Not a test file itself.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { Agent, fetch } from 'undici';
import { requireBinary } from '../helpers/gateway-process.js';

export const OPENSSL = '/usr/bin/openssl';
export const CURL = '/usr/bin/curl';

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`), never through a shell. */
export async function runTool(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<ToolRun> {
  const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timer = setTimeout(() => {
    stderr += `\n[killed after ${timeoutMs} ms]`;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  return { code, stdout, stderr };
}

/** Like runTool, but throws with the tool's output (and the gateway's log tail) unless it exits 0. */
export async function runOk(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; logs?: () => string } = {}): Promise<ToolRun> {
  const r = await runTool(file, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${file} ${args.join(' ')} exited ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-6000)}` +
        (opts.logs ? `\n--- gateway log (tail)\n${opts.logs()}` : ''),
    );
  }
  return r;
}

/** Writes an executable shell script. */
export async function writeScript(file: string, body: string): Promise<string> {
  await writeFile(file, `#!/bin/sh\nset -eu\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

export async function requireOpenssl(): Promise<void> {
  await requireBinary(OPENSSL, 'openssl');
}

export interface CertFacts {
  /** Lower-case hex without leading zeros, as the gateway stores serials. */
  serial: string;
  /** DNS names of the subjectAltName, sorted. */
  dnsNames: string[];
  issuer: string;
  notAfter: Date;
}

export function certFacts(pem: string): CertFacts {
  const cert = new X509Certificate(pem);
  const dnsNames = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4))
    .sort();
  return { serial: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''), dnsNames, issuer: cert.issuer, notAfter: new Date(cert.validTo) };
}

/** The first PEM certificate of a file's text (the leaf of a full chain). */
export function firstPem(text: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text);
  if (!m) throw new Error(`no PEM certificate in:\n${text.slice(0, 500)}`);
  return m[0];
}

/** Every PEM certificate after the first (the chain of a full-chain file). */
export function restPems(text: string): string {
  const all = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return all.slice(1).map((p) => `${p}\n`).join('');
}

/**
 * `openssl verify -CAfile <bundle> -untrusted <chain> <cert>`: the leaf chains to a root of the
 * bundle the gateway printed, through the intermediates the client stored. Throws with openssl's
 * output otherwise.
 */
export async function opensslVerify(caBundlePath: string, chainPath: string, certPath: string): Promise<void> {
  const r = await runTool(OPENSSL, ['verify', '-purpose', 'sslserver', '-CAfile', caBundlePath, '-untrusted', chainPath, certPath], { timeoutMs: 10_000 });
  if (r.code !== 0 || !r.stdout.includes(`${certPath}: OK`)) throw new Error(`openssl verify ${certPath} failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

export interface CrlEntry {
  serial: string;
  /** RFC 5280 §5.3.1 reason as openssl prints it ("Key Compromise"), undefined when absent. */
  reason: string | undefined;
}

/** Fetches the built-in CA's CRL from the gateway (trusting only the CA bundle) and lists its entries with openssl. */
export async function fetchCrl(baseUrl: string, caPem: string, connector = 'embedded'): Promise<CrlEntry[]> {
  const dispatcher = new Agent({ connect: { ca: caPem } });
  try {
    const res = await fetch(`${baseUrl}/crl/${connector}.crl`, { dispatcher, signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET /crl/${connector}.crl: HTTP ${res.status} ${await res.text()}`);
    const der = Buffer.from(await res.arrayBuffer());
    const text = await crlText(der);
    return parseCrlText(text);
  } finally {
    await dispatcher.close();
  }
}

async function crlText(der: Buffer): Promise<string> {
  const child = spawn(OPENSSL, ['crl', '-inform', 'DER', '-noout', '-text'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.end(der);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`openssl crl failed (${code}): ${err}`);
  return out;
}

function parseCrlText(text: string): CrlEntry[] {
  const entries: CrlEntry[] = [];
  const blocks = text.split(/Serial Number: /).slice(1);
  for (const block of blocks) {
    const serial = (block.split('\n')[0] ?? '').trim().toLowerCase().replace(/^0+(?=.)/, '');
    const reason = /X509v3 CRL Reason Code:\s*\n\s*(.+)/.exec(block)?.[1]?.trim();
    entries.push({ serial, reason });
  }
  return entries;
}

/**
 * Starts a file's shared fixture on first use and hands every later caller the same promise.
 * Tests call it first instead of relying on beforeAll: vitest reports the tests of a file whose
 * beforeAll failed as skipped, and a missing client must fail them.
 */
export function sharedFixture(start: () => Promise<void>): () => Promise<void> {
  let started: Promise<void> | undefined;
  return () => (started ??= start());
}
