/**
 * The two servers under test, each a child process on loopback whose pid is the server itself
 * (so /proc figures are the server's), logs to a file in the run's temp dir (so the harness does
 * not pay for reading them):
 * - Pebble (Debian `pebble` 2.4, /usr/bin/pebble) with a TLS certificate made here at run time;
 * - the built gateway, `node bin/acme-gateway.js serve`, on a fresh (or given) data dir.
 * Both resolve names through the harness's pebble-challtestsrv (127.0.0.1 for every name) and
 * validate http-01 on the load generator's responder port.
 */
import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { webcrypto } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as x509 from '@peculiar/x509';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { REPO_ROOT, freePort } from '../test/helpers/gateway-process.js';

export const PEBBLE_BINARY = '/usr/bin/pebble';
export type ServerName = 'pebble' | 'gateway';
export type Scenario = 'a' | 'b';

export interface ServerHandle {
  readonly name: ServerName;
  readonly pid: number;
  readonly directoryUrl: string;
  /** PEM the server's TLS certificate chains to. */
  readonly ca: string;
  readonly logPath: string;
  /** What this server does for scenario (a), for the report ("always valid", "validation: none", ...). */
  readonly challengeMode: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface CommonOptions {
  scenario: Scenario;
  /** Where the generator answers http-01. */
  http01Port: number;
  /** pebble-challtestsrv's DNS, HOST:PORT. */
  dnsAddress: string;
  /** Temp dir of this run: logs, config, data. */
  runDir: string;
}

x509.cryptoProvider.set(globalThis.crypto);
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

export interface TlsMaterial {
  caPem: string;
  certPath: string;
  keyPath: string;
}

/** A throwaway CA and a localhost/127.0.0.1 server certificate for Pebble's listener. */
export async function makePebbleTls(dir: string): Promise<TlsMaterial> {
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(Date.now() + 7 * 86_400_000);
  const caKeys = (await globalThis.crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=acme-gateway bench TLS CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: EC_P256,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leafKeys = (await globalThis.crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const certPath = path.join(dir, 'pebble-tls.pem');
  const keyPath = path.join(dir, 'pebble-tls.key');
  await writeFile(certPath, leaf.toString('pem') + '\n');
  await writeFile(keyPath, pem('PRIVATE KEY', await globalThis.crypto.subtle.exportKey('pkcs8', leafKeys.privateKey)), { mode: 0o600 });
  return { caPem: ca.toString('pem') + '\n', certPath, keyPath };
}

async function requireExecutable(file: string, what: string): Promise<void> {
  try {
    await access(file, constants.X_OK);
  } catch (e) {
    throw new Error(`${file} is missing: ${what}`, { cause: e });
  }
}

interface Child {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

async function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, logPath: string, pipeStdout: boolean, cwd = REPO_ROOT): Promise<Child> {
  const log = await open(logPath, 'w');
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', pipeStdout ? 'pipe' : log.fd, log.fd] });
  await log.close(); // the child holds its own copy of the descriptor
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  // A harness that dies must not leave servers behind.
  const kill = (): void => {
    if (!done) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  void exited.then(() => process.removeListener('exit', kill));
  return { child, exited, hasExited: () => done };
}

function stopper(c: Child): ServerHandle['stop'] {
  return async (graceMs = 10_000) => {
    if (!c.hasExited()) c.child.kill('SIGTERM');
    const timer = setTimeout(() => c.child.kill('SIGKILL'), graceMs);
    try {
      return await c.exited;
    } finally {
      clearTimeout(timer);
    }
  };
}

async function tail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export interface PebbleOptions extends CommonOptions {
  tls: TlsMaterial;
}

/** Pebble on free loopback ports; resolves once its directory answers. */
export async function startPebble(opts: PebbleOptions): Promise<ServerHandle> {
  await requireExecutable(PEBBLE_BINARY, 'install the Debian package "pebble" (apt-get install pebble)');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const configPath = path.join(opts.runDir, 'pebble.json');
    await writeFile(
      configPath,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${port}`,
          managementListenAddress: `127.0.0.1:${await freePort()}`,
          certificate: opts.tls.certPath,
          privateKey: opts.tls.keyPath,
          httpPort: opts.http01Port,
          tlsPort: await freePort(),
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      PEBBLE_VA_NOSLEEP: '1', // both scenarios: otherwise Pebble sleeps up to 15 s before validating
      PEBBLE_WFE_NONCEREJECT: '0', // never reject a good nonce on purpose
      ...(opts.scenario === 'a' ? { PEBBLE_VA_ALWAYS_VALID: '1' } : {}),
    };
    const logPath = path.join(opts.runDir, 'pebble.log');
    const c = await spawnLogged(PEBBLE_BINARY, ['-config', configPath, '-dnsserver', opts.dnsAddress], env, logPath, false);
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    const ready = await waitForDirectory(directoryUrl, opts.tls.caPem, c, 15_000);
    if (ready) {
      return { name: 'pebble', pid: c.child.pid ?? -1, directoryUrl, ca: opts.tls.caPem, logPath, challengeMode: 'PEBBLE_VA_ALWAYS_VALID', stop: stopper(c) };
    }
    await stopper(c)(1_000);
    const log = await tail(logPath);
    if (attempt < 3 && /address already in use/i.test(log)) continue;
    throw new Error(`pebble did not start:\n${log}`);
  }
}

async function waitForDirectory(url: string, ca: string, c: Child, timeoutMs: number): Promise<boolean> {
  const dispatcher = new Agent({ connect: { ca } });
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline && !c.hasExited()) {
      try {
        const res = await request(url, { dispatcher, signal: AbortSignal.timeout(1_000) });
        await res.body.text();
        if (res.statusCode === 200) return true;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    return false;
  } finally {
    await dispatcher.destroy();
  }
}

let validationNone: boolean | undefined;

/**
 * True when the built gateway accepts `validation: none` on a profile (issue 5), asked of
 * `acme-gateway check-config` once, so the answer is the one of the code that will run.
 */
export async function gatewayHasValidationNone(dir: string, root = REPO_ROOT): Promise<boolean> {
  if (validationNone === undefined) {
    const configPath = path.join(dir, 'validation-none.yaml');
    await writeFile(configPath, stringify({ profiles: { default: { validation: 'none' } } }));
    validationNone = await new Promise<boolean>((resolve) => {
      execFile(process.execPath, [path.join(root, 'bin', 'acme-gateway.js'), 'check-config', '--config', configPath], { cwd: root, timeout: 30_000 }, (err) => resolve(err === null));
    });
  }
  return validationNone;
}

export interface GatewayOptions extends CommonOptions {
  /** The built checkout to run (see gatewaySnapshot); default this one. */
  root?: string;
  /** Data dir to serve from (e.g. a prefilled copy); default: a new one under runDir. */
  dataDir?: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir', DIR]. */
  nodeArgs?: string[];
  logLevel: string;
}

const READY = /^Directory: (\S+)\nCA bundle: (.+)\n/;

/** The built gateway; resolves once it printed its Directory and CA bundle lines. */
export async function startGateway(opts: GatewayOptions): Promise<ServerHandle> {
  const root = opts.root ?? REPO_ROOT;
  const useNone = opts.scenario === 'a' && (await gatewayHasValidationNone(opts.runDir, root));
  const profile: Record<string, unknown> = { challenges: ['http-01'] };
  if (useNone) profile.validation = 'none';
  const configPath = path.join(opts.runDir, 'gateway.yaml');
  await writeFile(configPath, stringify({ profiles: { default: profile }, defaultProfile: 'default' }));
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(opts.runDir, 'data-')));
  const args = [
    ...(opts.nodeArgs ?? []),
    path.join(root, 'bin', 'acme-gateway.js'),
    'serve',
    '--listen', '127.0.0.1:0',
    '--data-dir', dataDir,
    '--config', configPath,
    '--http01-port', String(opts.http01Port),
    '--dns-resolver', opts.dnsAddress,
    '--log-level', opts.logLevel,
  ];
  const logPath = path.join(opts.runDir, 'gateway.log');
  const c = await spawnLogged(process.execPath, args, { ...process.env }, logPath, true, root);
  let out = '';
  c.child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null = null;
  while (!(m = READY.exec(out))) {
    if (c.hasExited() || Date.now() > deadline) {
      await stopper(c)(1_000);
      throw new Error(`the gateway did not start (node ${args.join(' ')}):\n${out}\n${await tail(logPath)}`);
    }
    await sleep(25);
  }
  const ca = await readFile(m[2] ?? '', 'utf8');
  return {
    name: 'gateway',
    pid: c.child.pid ?? -1,
    directoryUrl: m[1] ?? '',
    ca,
    logPath,
    challengeMode: useNone ? 'validation: none' : 'http-01 (no validation: none yet)',
    stop: stopper(c),
  };
}

/**
 * A built copy of the gateway at git revision `rev` (e.g. HEAD, a tag, a commit before an
 * optimisation), under `dir`, sharing this checkout's node_modules: benchmarks that commit while
 * the working tree is mid-change, and gives before/after figures from one command.
 */
export async function gatewaySnapshot(rev: string, dir: string): Promise<{ root: string; commit: string }> {
  const root = path.join(dir, `gateway-${rev.replace(/[^A-Za-z0-9._-]/g, '_')}`);
  await mkdir(root, { recursive: true });
  const commit = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', `${rev}^{commit}`], { encoding: 'utf8' }).trim();
  execFileSync('sh', ['-c', 'git -C "$1" archive --format=tar "$2" | tar -x -C "$3"', 'sh', REPO_ROOT, commit, root], { stdio: 'inherit' });
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  return { root, commit };
}

export async function newRunDir(parent: string, label: string): Promise<string> {
  return mkdtemp(path.join(parent, `${label}-`));
}

export async function newSessionDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'acme-bench-'));
}
