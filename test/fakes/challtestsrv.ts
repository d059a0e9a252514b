/**
 * pebble-challtestsrv (Debian package `pebble`) as a loopback DNS server and http-01 responder.
 *
 * ```ts
 * const srv = await startChalltestsrv();          // fails, never skips, when the binary is missing
 * await srv.addTxt('_acme-challenge.a.example.test', digest);
 * createNetClient({ dnsResolver: srv.dns, ... });  // or pass srv.dnsAddress ("127.0.0.1:PORT") to config
 * await srv.stop();
 * ```
 *
 * Every name without an explicit A record answers 127.0.0.1 (`-defaultIPv4`) and no name answers
 * AAAA (`-defaultIPv6 ""`), so any test name reaches a loopback listener. DNS is served on one
 * free port for both UDP and TCP (TCP matters for truncated answers). Its http-01 responder gets a
 * free port of its own (`http01Port`); its https-01 and tls-alpn-01 responders are off. Names may
 * be given with or without the trailing dot; the server itself only matches the dotted form.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { access, constants } from 'node:fs/promises';
import { createServer } from 'node:net';

export const CHALLTESTSRV_BINARY = '/usr/bin/pebble-challtestsrv';

export interface ChalltestsrvOptions {
  /** Path of the binary; default /usr/bin/pebble-challtestsrv. */
  binary?: string;
  /** Answer for A queries without an explicit record; default 127.0.0.1. */
  defaultIPv4?: string;
  /** Start the http-01 responder (addHttp01, addRedirect); default true. */
  http01?: boolean;
  /** How long to wait for the server to answer on DNS and management; default 10 s. */
  startTimeoutMs?: number;
}

export interface CaaPolicy {
  tag: 'issue' | 'issuewild' | 'iodef' | (string & {});
  value: string;
}

export interface Challtestsrv {
  /** DNS server as `127.0.0.1:PORT`, the form config's `validation.dnsResolver` takes. */
  readonly dnsAddress: string;
  /** The same as an object, the form `createNetClient({ dnsResolver })` takes. */
  readonly dns: { host: string; port: number };
  /** Management API base URL, e.g. `http://127.0.0.1:PORT`. */
  readonly managementUrl: string;
  /** Port of the built-in http-01 responder (undefined when started with `http01: false`). */
  readonly http01Port: number | undefined;

  /** Adds A records for `host` (replacing the default 127.0.0.1 for that name). */
  addA(host: string, addresses: string[]): Promise<void>;
  /** Removes the explicit A records of `host`; it answers the default again. */
  clearA(host: string): Promise<void>;
  /** Adds AAAA records for `host` (no name has AAAA records otherwise). */
  addAaaa(host: string, addresses: string[]): Promise<void>;
  clearAaaa(host: string): Promise<void>;
  /** Adds one TXT record; several calls for the same name give several records. */
  addTxt(host: string, value: string): Promise<void>;
  /** Removes every TXT record of `host`. */
  clearTxt(host: string): Promise<void>;
  /** Adds CAA records (flags 0) for `host`. */
  addCaa(host: string, policies: CaaPolicy[]): Promise<void>;
  clearCaa(host: string): Promise<void>;
  /** Makes `host` a CNAME for `target`; the server follows it for other query types. */
  addCname(host: string, target: string): Promise<void>;
  clearCname(host: string): Promise<void>;
  /** Makes every query for `host` answer SERVFAIL. */
  setServfail(host: string): Promise<void>;
  clearServfail(host: string): Promise<void>;
  /** Serves `content` at `/.well-known/acme-challenge/{token}` on the http-01 responder. */
  addHttp01(token: string, content: string): Promise<void>;
  delHttp01(token: string): Promise<void>;
  /** Answers requests for `path` on the http-01 responder with a redirect to `targetUrl`. */
  addRedirect(path: string, targetUrl: string): Promise<void>;
  delRedirect(path: string): Promise<void>;
  /** Stops the process and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
const START_ATTEMPTS = 5;

/** Starts pebble-challtestsrv on free loopback ports and resolves once DNS and management answer. */
export async function startChalltestsrv(options: ChalltestsrvOptions = {}): Promise<Challtestsrv> {
  const binary = options.binary ?? CHALLTESTSRV_BINARY;
  try {
    await access(binary, constants.X_OK);
  } catch (e) {
    throw new Error(
      `${binary} is missing or not executable: install the Debian package "pebble" (apt-get install pebble; .ci/run does this)`,
      { cause: e },
    );
  }
  // A port picked free can be taken again before the server binds it: start again on new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (e) {
      lastError = e;
      if (!(e instanceof PortClash)) throw e;
    }
  }
  throw new Error(`pebble-challtestsrv did not start after ${START_ATTEMPTS} attempts`, { cause: lastError });
}

class PortClash extends Error {}

async function startOnce(binary: string, options: ChalltestsrvOptions): Promise<Challtestsrv> {
  const dnsPort = await freePort({ udp: true });
  const managementPort = await freePort({ udp: false });
  const http01Port = options.http01 === false ? undefined : await freePort({ udp: false });
  const args = [
    '-dns01', `${LOOPBACK}:${dnsPort}`,
    '-management', `${LOOPBACK}:${managementPort}`,
    '-http01', http01Port === undefined ? '' : `${LOOPBACK}:${http01Port}`,
    '-https01', '',
    '-tlsalpn01', '',
    '-defaultIPv4', options.defaultIPv4 ?? LOOPBACK,
    '-defaultIPv6', '',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A test runner that exits without calling stop() must not leave the server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString('utf8'));
    if (output.length > 50) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((info) => {
    exitInfo = info;
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => undefined); // observed through the race below

  const managementUrl = `http://${LOOPBACK}:${managementPort}`;
  const dns = { host: LOOPBACK, port: dnsPort };
  try {
    await Promise.race([
      spawnError,
      waitUntilReady(managementUrl, dns, options.startTimeoutMs ?? 10_000, () => exitInfo),
    ]);
  } catch (e) {
    await stopChild(child, exited);
    const log = output.join('').trim();
    if (/address already in use/i.test(log)) throw new PortClash(log);
    throw new Error(`pebble-challtestsrv did not become ready: ${e instanceof Error ? e.message : String(e)}\n${log}`, { cause: e });
  }

  const post = async (endpoint: string, body: Record<string, unknown>): Promise<void> => {
    const res = await fetch(`${managementUrl}/${endpoint}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`pebble-challtestsrv ${endpoint} ${JSON.stringify(body)}: HTTP ${res.status} ${text}`);
  };

  let stopped: Promise<void> | undefined;
  return {
    dnsAddress: `${LOOPBACK}:${dnsPort}`,
    dns,
    managementUrl,
    http01Port,
    addA: (host, addresses) => post('add-a', { host: fqdn(host), addresses }),
    clearA: (host) => post('clear-a', { host: fqdn(host) }),
    addAaaa: (host, addresses) => post('add-aaaa', { host: fqdn(host), addresses }),
    clearAaaa: (host) => post('clear-aaaa', { host: fqdn(host) }),
    // This version names the endpoint set-txt, but it appends a record.
    addTxt: (host, value) => post('set-txt', { host: fqdn(host), value }),
    clearTxt: (host) => post('clear-txt', { host: fqdn(host) }),
    addCaa: (host, policies) => post('add-caa', { host: fqdn(host), policies }),
    clearCaa: (host) => post('clear-caa', { host: fqdn(host) }),
    addCname: (host, target) => post('set-cname', { host: fqdn(host), target: fqdn(target) }),
    clearCname: (host) => post('clear-cname', { host: fqdn(host) }),
    setServfail: (host) => post('set-servfail', { host: fqdn(host) }),
    clearServfail: (host) => post('clear-servfail', { host: fqdn(host) }),
    addHttp01: (token, content) => post('add-http01', { token, content }),
    delHttp01: (token) => post('del-http01', { token }),
    addRedirect: (path, targetUrl) => post('add-redirect', { path, targetURL: targetUrl }),
    delRedirect: (path) => post('del-redirect', { path }),
    stop: () => (stopped ??= stopChild(child, exited)),
  };
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/**
 * A port free on 127.0.0.1 for TCP (and for UDP too when asked), found by binding port 0 and
 * closing again. Another process may take it before the caller binds it; startChalltestsrv retries.
 */
async function freePort(opts: { udp: boolean }): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => {
        const address = server.address();
        server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
      });
    });
    if (!opts.udp) return port;
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => {
        socket.close();
        resolve(false);
      });
      socket.bind(port, LOOPBACK, () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no loopback port free for both TCP and UDP after 20 attempts');
}

/** Polls, within a bound, until the management API answers HTTP and the DNS server answers a query. */
async function waitUntilReady(
  managementUrl: string,
  dns: { host: string; port: number },
  timeoutMs: number,
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined,
): Promise<void> {
  const deadline = AbortSignal.timeout(timeoutMs);
  let managementUp = false;
  let dnsUp = false;
  let lastError: unknown;
  while (!(managementUp && dnsUp)) {
    const info = exited();
    if (info !== undefined) throw new Error(`the process exited (code ${info.code}, signal ${info.signal})`);
    if (deadline.aborted) throw new Error(`not ready after ${timeoutMs} ms`, { cause: lastError });
    try {
      if (!managementUp) {
        // Any HTTP answer (even 404) means the management listener is up.
        await fetch(`${managementUrl}/`, { signal: AbortSignal.timeout(500) }).then((r) => r.arrayBuffer());
        managementUp = true;
      }
      if (!dnsUp) {
        const resolver = new Resolver({ timeout: 200, tries: 1 });
        resolver.setServers([`${dns.host}:${dns.port}`]);
        // Any answer means DNS is up; an empty one (with -defaultIPv4 "") is an answer too.
        await resolver.resolve4('ready.challtestsrv.test').catch((e: unknown) => {
          if (!(e instanceof Error && 'code' in e && (e.code === 'ENODATA' || e.code === 'ENOTFOUND'))) throw e;
        });
        dnsUp = true;
      }
    } catch (e) {
      lastError = e;
      await new Promise((resolve) => setTimeout(resolve, 20)); // poll interval, bounded by the deadline above
    }
  }
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
