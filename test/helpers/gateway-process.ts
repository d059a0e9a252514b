/**
 * The BUILT gateway (`node bin/acme-gateway.js serve`) as a child process on loopback, for e2e tests
 * with real ACME clients. `npm test` builds dist/ before vitest runs; run `npm run build` first when
 * running one file with `npx vitest run test/e2e/<file>`.
 *
 * ```ts
 * const dns = await startChalltestsrv();
 * const gw = await startGatewayProcess({ dnsResolver: dns.dnsAddress, config: { profiles: { default: {} } } });
 * ... gw.directoryUrl, gw.caBundlePath, gw.http01Port ...
 * await gw.stop();        // SIGTERM, then asserts exit code 0 (the error carries the gateway's logs)
 * ```
 *
 * The process prints `Directory: <url>` and `CA bundle: <path>` on stdout once it answers; start
 * resolves then, and rejects with the exit code and the logs when the process exits first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const GATEWAY_BIN = path.join(REPO_ROOT, 'bin', 'acme-gateway.js');
const BUILT_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const LOOPBACK = '127.0.0.1';

export interface GatewayProcessOptions {
  /** Raw config (written as YAML to a temp file and passed as `--config`), or YAML text. */
  config?: Record<string, unknown> | string;
  /** Data directory to use (kept on stop); default: a fresh temp directory removed on stop. */
  dataDir?: string;
  /** `--dns-resolver HOST:PORT`, e.g. a challtestsrv's `dnsAddress`. */
  dnsResolver?: string;
  /** `--http01-port`; default: a free loopback port picked now. */
  http01Port?: number;
  /** `--tlsalpn01-port`; default: a free loopback port picked now. */
  tlsAlpn01Port?: number;
  /** `--log-level`; default info, so that failure messages carry the request log. */
  logLevel?: string;
  /** More CLI arguments after the ones above. */
  extraArgs?: string[];
  /** How long to wait for the two stdout lines; default 30 s. */
  startTimeoutMs?: number;
}

export interface GatewayProcess {
  readonly directoryUrl: string;
  /** `https://localhost:PORT`: the directory URL without its path. */
  readonly baseUrl: string;
  readonly caBundlePath: string;
  /** Contents of the CA bundle at start. */
  readonly caPem: string;
  readonly dataDir: string;
  /** The `--config` file written from `options.config` (removed on stop), when one was given. */
  readonly configPath: string | undefined;
  readonly http01Port: number;
  readonly tlsAlpn01Port: number;
  readonly pid: number;
  /** Directory URL of another profile. */
  directory(profile: string): string;
  /** Everything the process wrote on stdout so far. */
  stdout(): string;
  /** Everything the process wrote on stderr so far (pino JSON lines). */
  stderr(): string;
  /** The last `lines` lines of stderr, for failure messages. */
  logTail(lines?: number): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** Sends a signal without waiting. */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, waits (bounded) for the exit and throws unless the exit code is 0. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A TCP port free on 127.0.0.1, found by binding port 0 and closing again. */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Throws a clear error (never skips) when an executable the e2e tests need is missing. */
export async function requireBinary(file: string, debianPackage: string): Promise<void> {
  try {
    await access(file, constants.X_OK);
  } catch (e) {
    throw new Error(`${file} is missing or not executable: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}; .ci/run does this)`, { cause: e });
  }
}

async function requireBuild(): Promise<void> {
  try {
    await access(BUILT_CLI, constants.R_OK);
  } catch (e) {
    throw new Error(`${BUILT_CLI} is missing: run "npm run build" first (npm test does it before vitest)`, { cause: e });
  }
}

/** Writes raw config (or YAML text) to a temp file and returns its path. */
export async function writeConfigFile(config: Record<string, unknown> | string, dir?: string): Promise<string> {
  const where = dir ?? (await mkdtemp(path.join(tmpdir(), 'acme-gw-config-')));
  const file = path.join(where, 'config.yaml');
  await writeFile(file, typeof config === 'string' ? config : stringify(config));
  return file;
}

interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<ExitInfo>;
  exitInfo(): ExitInfo | undefined;
}

function spawnCli(args: string[], env?: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, [GATEWAY_BIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ?? process.env,
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  let info: ExitInfo | undefined;
  // 'close' (not 'exit'): stdout and stderr are fully read by then.
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('close', (code, signal) => {
      info = { code, signal };
      resolve(info);
    });
    child.once('error', (e) => {
      err += `\nspawn error: ${e.message}`;
      info = { code: null, signal: null };
      resolve(info);
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited, exitInfo: () => info };
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `acme-gateway <args>` to completion (bounded) and returns exit code and output. */
export async function runGatewayCli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliRun> {
  await requireBuild();
  const run = spawnCli(args);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const outcome = await Promise.race([run.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    run.child.kill('SIGKILL');
    await run.exited;
    throw new Error(`acme-gateway ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout:\n${run.stdout()}\nstderr:\n${tail(run.stderr(), 40)}`);
  }
  return { ...outcome, stdout: run.stdout(), stderr: run.stderr() };
}

const READY = /^Directory: (\S+)\nCA bundle: (.+)\n/;

/** Starts `acme-gateway serve` on 127.0.0.1:0 and resolves once it printed its two lines. */
export async function startGatewayProcess(opts: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  await requireBuild();
  const ownDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'acme-gw-e2e-')));
  const http01Port = opts.http01Port ?? (await freePort());
  const tlsAlpn01Port = opts.tlsAlpn01Port ?? (await freePort());
  const args = ['serve', '--listen', `${LOOPBACK}:0`, '--data-dir', dataDir, '--http01-port', String(http01Port), '--tlsalpn01-port', String(tlsAlpn01Port), '--log-level', opts.logLevel ?? 'info'];
  if (opts.dnsResolver !== undefined) args.push('--dns-resolver', opts.dnsResolver);
  let configDir: string | undefined;
  let configPath: string | undefined;
  if (opts.config !== undefined) {
    configDir = await mkdtemp(path.join(tmpdir(), 'acme-gw-config-'));
    configPath = await writeConfigFile(opts.config, configDir);
    args.push('--config', configPath);
  }
  args.push(...(opts.extraArgs ?? []));

  const run = spawnCli(args);
  const cleanup = async (): Promise<void> => {
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
  };
  const describe = (what: string): string =>
    `acme-gateway ${args.join(' ')}: ${what}\nstdout:\n${run.stdout()}\nstderr (last 40 lines):\n${tail(run.stderr(), 40)}`;

  // Bounded wait for the two lines, failing at once when the process exits first.
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    const check = (): void => {
      const m = READY.exec(run.stdout());
      if (m) {
        finish();
        resolve(m);
      }
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(describe(`did not print its Directory and CA bundle lines within ${startTimeoutMs} ms`)));
    }, startTimeoutMs);
    const onExit = (info: ExitInfo): void => {
      check();
      finish();
      reject(new Error(describe(`exited early (code ${info.code}, signal ${info.signal})`)));
    };
    const finish = (): void => {
      clearTimeout(timer);
      run.child.stdout?.off('data', check);
    };
    run.child.stdout?.on('data', check);
    void run.exited.then(onExit);
    check();
  }).catch(async (e: unknown) => {
    if (run.exitInfo() === undefined) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
    await cleanup();
    throw e;
  });

  const directoryUrl = ready[1] ?? '';
  const caBundlePath = ready[2] ?? '';
  const caPem = await readFile(caBundlePath, 'utf8');
  const base = new URL(directoryUrl);
  const baseUrl = `${base.protocol}//${base.host}`;

  let stopping: Promise<void> | undefined;
  return {
    directoryUrl,
    baseUrl,
    caBundlePath,
    caPem,
    dataDir,
    configPath,
    http01Port,
    tlsAlpn01Port,
    pid: run.child.pid ?? -1,
    directory: (profile) => directoryUrl.replace(/\/acme\/[^/]+\/directory$/, `/acme/${profile}/directory`),
    stdout: run.stdout,
    stderr: run.stderr,
    logTail: (lines = 40) => tail(run.stderr(), lines),
    exited: run.exited,
    kill: (signal) => {
      if (run.exitInfo() === undefined) run.child.kill(signal);
    },
    stop() {
      stopping ??= (async () => {
        if (run.exitInfo() === undefined) run.child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 20_000)));
        const outcome = await Promise.race([run.exited, timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          run.child.kill('SIGKILL');
          await run.exited;
          await cleanup();
          throw new Error(describe('did not exit within 20 s of SIGTERM'));
        }
        await cleanup();
        if (outcome.code !== 0) throw new Error(describe(`exited with code ${outcome.code} (signal ${outcome.signal}) after SIGTERM; expected 0`));
      })();
      return stopping;
    },
  };
}
