/**
 * A real cfssl for tests: Debian's `golang-cfssl` (/usr/bin/cfssl) running `cfssl serve` on
 * 127.0.0.1 with a fresh CA from `cfssl gencert -initca`, an OCSP responder certificate, a signing
 * config with an `auth_key` profile, and a certificate database whose schema is made here by hand
 * (../shared/reference/cfssl/NOTES.md quirk 1: the package ships no migrations).
 *
 * In front of it sits a small TCP proxy, which is the URL the connector gets: it can hold every
 * request (a slow backend) or answer HTTP 500 (a broken reverse proxy), and it passes through
 * whatever cfssl says otherwise. `stopCfssl()` really stops the process, `startCfssl()` starts it
 * again on the same port with the same files. Nothing is skipped when cfssl is missing: start fails
 * and says which package to install.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';

const run = promisify(execFile);

/** The cfssl profile with an auth_key (for authsign) and one without (for sign). */
export const CFSSL_PROFILES = { authenticated: 'acme', open: 'acme-open' } as const;
export const CFSSL_AUTH_KEY_NAME = 'gateway';

// NOTES.md "The script": column names from certdb/sql/database_accessor.go of this cfssl.
const CERTDB_SCHEMA = `
CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob,
  status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, body blob NOT NULL,
  expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier));
`;

/** cfssl logs every API call as `<addr> - "POST /api/v1/cfssl/<name>" <code>`; code 400 is its "bad request" (parse, auth). */
const ACCESS_LINE = /- "(\w+) (\/\S*)" (\d+)\s*$/;
const PROTOCOL_CODES = new Set(['400', '404', '405']);

export type ProxyMode = 'pass' | 'hold' | 'http-500';

export interface CfsslFiles {
  dir: string;
  caCert: string;
  caKey: string;
  responderCert: string;
  responderKey: string;
  config: string;
  dbConfig: string;
  /** The SQLite certificate database (what the connector's `certdb` names). */
  certdb: string;
  /** The auth_key as hex, one line (what the connector's `authKeyFile` names). */
  authKey: string;
}

export interface CfsslBackend {
  /** The proxy in front of cfssl: what the connector talks to. */
  url: string;
  /** cfssl itself, for what an operator does behind the connector's back. */
  directUrl: string;
  files: CfsslFiles;
  caPem: string;
  authKeyHex: string;
  /** Stops `cfssl serve` (SIGTERM) and waits until it has exited. */
  stopCfssl(): Promise<void>;
  /** Starts it again on the same port with the same CA and certdb; no-op while it runs. */
  startCfssl(): Promise<void>;
  /** pass: forward; hold: swallow requests until the mode changes; http-500: answer 500 without asking cfssl. */
  setProxyMode(mode: ProxyMode): void;
  /** POST to an API endpoint of cfssl directly (not through the proxy); resolves with the parsed JSON envelope. */
  api(endpoint: string, body: unknown): Promise<{ success: boolean; result: unknown; errors: { code: number; message: string }[] }>;
  /** Calls cfssl's REST revoke directly, as an operator would with curl (empty AKI: NOTES.md quirk 2). */
  revokeDirect(serialHex: string, reason: number): Promise<void>;
  /** API calls cfssl answered with code 400, 404 or 405: requests off its wire format. */
  protocolErrors(): string[];
  /** Forgets the protocol errors so far, after a test provoked them on purpose. */
  forgetProtocolErrors(): void;
  /**
   * The static-file OCSP flow (NOTES.md 7b, quirk 3): `cfssl ocsprefresh` (certdb → ocsp_responses),
   * `cfssl ocspdump` (→ a file), then `cfssl ocspserve` (re)started on it. Resolves with its URL.
   */
  refreshOcspServe(): Promise<string>;
  /** cfssl's log so far (stderr). */
  log(): string;
  stop(): Promise<void>;
}

export interface CfsslBackendOptions {
  /** ocsp_url of the signing profiles (what leaves name in their AIA). */
  ocspUrl?: string;
  /** Default expiry of leaves. */
  expiry?: string;
}

/** /usr/bin/cfssl, or the first cfssl on PATH; throws with the package to install when there is none. */
export function cfsslBinary(): string {
  const dirs = ['/usr/bin', ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '')];
  for (const dir of dirs) {
    const candidate = join(dir, 'cfssl');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; next
    }
  }
  throw new Error('cfssl is not installed (looked for /usr/bin/cfssl and on PATH): install the Debian package golang-cfssl (.ci/run does)');
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `cfssl gencert … ` prints {cert, key, csr} as JSON. */
async function gencert(bin: string, cwd: string, args: string[]): Promise<{ cert: string; key: string }> {
  const { stdout } = await run(bin, ['gencert', ...args], { cwd, maxBuffer: 1 << 20 });
  const out = JSON.parse(stdout) as { cert?: unknown; key?: unknown };
  if (typeof out.cert !== 'string' || typeof out.key !== 'string') throw new Error(`cfssl gencert ${args.join(' ')} printed no cert and key`);
  return { cert: out.cert, key: out.key };
}

async function makeFiles(bin: string, opts: CfsslBackendOptions): Promise<{ files: CfsslFiles; caPem: string; authKeyHex: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cfssl-'));
  const p = (name: string) => join(dir, name);
  const files: CfsslFiles = {
    dir,
    caCert: p('ca.pem'),
    caKey: p('ca-key.pem'),
    responderCert: p('ocsp.pem'),
    responderKey: p('ocsp-key.pem'),
    config: p('config.json'),
    dbConfig: p('db.json'),
    certdb: p('certs.db'),
    authKey: p('gateway-hmac.hex'),
  };
  // 1. The CA (NOTES.md step 1), then the OCSP responder certificate it signs.
  await writeFile(p('ca-csr.json'), JSON.stringify({ CN: 'cfssl Test Root CA', key: { algo: 'ecdsa', size: 256 }, names: [{ O: 'ACME Gateway Tests', C: 'SE' }], ca: { expiry: '87600h' } }));
  const ca = await gencert(bin, dir, ['-initca', 'ca-csr.json']);
  await writeFile(files.caCert, ca.cert);
  await writeFile(files.caKey, ca.key, { mode: 0o600 });

  const authKeyHex = randomBytes(16).toString('hex');
  await writeFile(files.authKey, `${authKeyHex}\n`, { mode: 0o600 });
  const expiry = opts.expiry ?? '2160h';
  const usages = ['digital signature', 'key encipherment', 'server auth'];
  const ocsp = opts.ocspUrl === undefined ? {} : { ocsp_url: opts.ocspUrl };
  await writeFile(
    files.config,
    JSON.stringify({
      signing: {
        default: { expiry, usages },
        profiles: {
          [CFSSL_PROFILES.authenticated]: { expiry, usages, ...ocsp, auth_key: CFSSL_AUTH_KEY_NAME },
          [CFSSL_PROFILES.open]: { expiry, usages, ...ocsp },
          ocsp: { expiry: '8760h', usages: ['digital signature', 'ocsp signing'] },
        },
      },
      auth_keys: { [CFSSL_AUTH_KEY_NAME]: { type: 'standard', key: authKeyHex } },
    }),
  );
  await writeFile(p('ocsp-csr.json'), JSON.stringify({ CN: 'cfssl Test OCSP Responder', key: { algo: 'ecdsa', size: 256 } }));
  const responder = await gencert(bin, dir, ['-ca', files.caCert, '-ca-key', files.caKey, '-config', files.config, '-profile', 'ocsp', 'ocsp-csr.json']);
  await writeFile(files.responderCert, responder.cert);
  await writeFile(files.responderKey, responder.key, { mode: 0o600 });

  // 2. The certdb, schema by hand (NOTES.md quirk 1).
  const db = new Database(files.certdb);
  db.exec(CERTDB_SCHEMA);
  db.close();
  await writeFile(files.dbConfig, JSON.stringify({ driver: 'sqlite3', data_source: files.certdb }));
  return { files, caPem: ca.cert, authKeyHex };
}

/** A TCP proxy to 127.0.0.1:`target()`; the mode is looked at per chunk, so keep-alive connections obey it too. */
function startProxy(target: () => number): Promise<{ server: Server; port: number; setMode(m: ProxyMode): void; close(): Promise<void> }> {
  let mode: ProxyMode = 'pass';
  const sockets = new Set<Socket>();
  /** Connections whose request was swallowed: useless afterwards, closed when the mode changes. */
  const swallowed = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      swallowed.delete(s);
    });
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    let upstream: Socket | undefined;
    const open = (): Socket => {
      if (upstream !== undefined) return upstream;
      const u = connect(target(), '127.0.0.1');
      track(u);
      u.on('data', (chunk: Buffer) => client.write(chunk));
      // cfssl gone (stopped, refused): the client sees its connection closed.
      u.on('close', () => client.destroy());
      upstream = u;
      return u;
    };
    client.on('data', (chunk: Buffer) => {
      if (mode === 'hold') {
        swallowed.add(client);
        return;
      }
      if (mode === 'http-500') {
        const body = 'upstream failed\n';
        client.end(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        upstream?.destroy();
        return;
      }
      open().write(chunk);
    });
    client.on('close', () => upstream?.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        setMode(m) {
          mode = m;
          for (const s of swallowed) s.destroy();
        },
        async close() {
          for (const s of sockets) s.destroy();
          await new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}

/** Resolves once something accepts connections on 127.0.0.1:`port`. */
async function listening(port: number, proc: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within 15 s`);
    await new Promise((r) => setTimeout(r, 50)); // polling a starting process, not a test sleep
  }
}

async function terminate(proc: ChildProcess | undefined): Promise<void> {
  if (proc === undefined) return;
  const done = exited(proc);
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
  await done;
  clearTimeout(timer);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts cfssl with a fresh CA and certdb, and the proxy in front of it; resolves once cfssl answers `info`. */
export async function startCfsslBackend(opts: CfsslBackendOptions = {}): Promise<CfsslBackend> {
  const bin = cfsslBinary();
  const { files, caPem, authKeyHex } = await makeFiles(bin, opts);
  let port = await freePort();
  let child: ChildProcess | undefined;
  let logText = '';
  const protocol: string[] = [];

  const directUrl = () => `http://127.0.0.1:${port}`;
  const api: CfsslBackend['api'] = async (endpoint, body) => {
    const res = await fetch(`${directUrl()}/api/v1/cfssl/${endpoint}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
    return (await res.json()) as Awaited<ReturnType<CfsslBackend['api']>>;
  };

  async function launch(): Promise<void> {
    // NOTES.md step 3: serve with signer, config, certdb and OCSP responder.
    const proc = spawn(
      bin,
      ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', files.caCert, '-ca-key', files.caKey, '-config', files.config, '-db-config', files.dbConfig, '-responder', files.responderCert, '-responder-key', files.responderKey],
      { cwd: files.dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    let partial = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (text: string) => {
      logText += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = ACCESS_LINE.exec(line);
        if (m !== null && PROTOCOL_CODES.has(m[3] ?? '')) protocol.push(`${m[1]} ${m[2]} answered ${m[3]}`);
      }
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`cfssl serve exited (${proc.exitCode ?? proc.signalCode}) before answering:\n${logText.slice(-2000)}`);
      const ok = await api('info', {}).then(
        (r) => r.success,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`cfssl serve did not answer on ${directUrl()} within 15 s:\n${logText.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50)); // polling a starting process, not a test sleep
    }
  }

  async function stopCfssl(): Promise<void> {
    const proc = child;
    child = undefined;
    await terminate(proc);
  }

  let ocspServe: { proc: ChildProcess; port: number } | undefined;
  async function refreshOcspServe(): Promise<string> {
    const db = ['-db-config', files.dbConfig];
    await run(bin, ['ocsprefresh', ...db, '-ca', files.caCert, '-responder', files.responderCert, '-responder-key', files.responderKey], { cwd: files.dir });
    const { stdout } = await run(bin, ['ocspdump', ...db], { cwd: files.dir, maxBuffer: 16 << 20 });
    const responses = join(files.dir, 'ocsp-responses.txt');
    await writeFile(responses, stdout);
    // ocspserve reads the file at start only: a restart is the refresh.
    const port = ocspServe?.port ?? (await freePort());
    await terminate(ocspServe?.proc);
    const proc = spawn(bin, ['ocspserve', '-address', '127.0.0.1', '-port', String(port), '-responses', responses], { cwd: files.dir, stdio: 'ignore' });
    ocspServe = { proc, port };
    await listening(port, proc, 'cfssl ocspserve');
    return `http://127.0.0.1:${port}`;
  }

  // The port is picked free, then bound by cfssl: another process may take it in between, so try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (e) {
      await stopCfssl();
      if (attempt >= 3 || !/address already in use/.test(logText)) {
        await rm(files.dir, { recursive: true, force: true });
        throw e;
      }
      port = await freePort();
    }
  }
  const proxy = await startProxy(() => port);

  return {
    url: `http://127.0.0.1:${proxy.port}`,
    get directUrl() {
      return directUrl();
    },
    files,
    caPem,
    authKeyHex,
    stopCfssl,
    async startCfssl() {
      if (child !== undefined) return;
      await launch();
    },
    setProxyMode: (m) => proxy.setMode(m),
    api,
    async revokeDirect(serialHex, reason) {
      const serial = BigInt(`0x${serialHex}`).toString(10);
      const r = await api('revoke', { serial, authority_key_id: '', reason: String(reason) });
      if (!r.success) throw new Error(`cfssl revoke ${serialHex}: ${JSON.stringify(r.errors)}`);
    },
    protocolErrors: () => [...protocol],
    forgetProtocolErrors: () => {
      protocol.length = 0;
    },
    log: () => logText,
    refreshOcspServe,
    async stop() {
      await proxy.close();
      await stopCfssl();
      await terminate(ocspServe?.proc);
      await rm(files.dir, { recursive: true, force: true });
    },
  };
}
