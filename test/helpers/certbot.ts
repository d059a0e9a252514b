/**
 * certbot (Debian's 2.x) as the e2e tests drive it: its state (config, work and logs directories)
 * under one test directory, one ACME server, no proxy, and only the given CA bundle trusted for the
 * server's TLS (REQUESTS_CA_BUNDLE).
 *
 * ```ts
 * await requireCertbot();                       // fails, never skips, when certbot is missing
 * const certbot = certbotRunner({ dir, server: gw.directoryUrl, caBundlePath: gw.caBundlePath });
 * await certbot.run(['certonly', '--standalone', '--http-01-port', '5002', '-d', 'a.example.test']);
 * const refused = await certbot.attempt([...]); // exit code and output, whatever the outcome
 * certbot.live('a.example.test', 'cert.pem');
 * const { url, id, key } = await certbot.account(); // the ACME account certbot registered
 * ```
 */
import { webcrypto } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { runOk, runTool, type ToolRun } from '../e2e/support.js';
import { requireBinary } from './gateway-process.js';
import type { TestKey } from './jws-client.js';

export const CERTBOT = '/usr/bin/certbot';

/** certbot's own wait for an order to become valid (`--issuance-timeout`, default 90 s). */
export const CERTBOT_ISSUANCE_TIMEOUT_S = 90;

export async function requireCertbot(): Promise<void> {
  await requireBinary(CERTBOT, 'certbot');
}

export interface CertbotOptions {
  /** Where config/, work/ and logs/ live; one directory per certbot "installation" (account). */
  dir: string;
  /** The ACME directory URL (`--server`). */
  server: string;
  /** The only CA bundle trusted for the server's TLS. */
  caBundlePath: string;
  /** Contact address; default test@example.org. */
  email?: string;
  /** Kill certbot after this long; default 85 s. */
  timeoutMs?: number;
  /** Appended to the error of a failed run(), e.g. the gateway's log tail. */
  logs?: () => string;
}

export interface CertbotAccount {
  /** The account URL (regr.json "uri"). */
  url: string;
  /** Its last path segment: the gateway's account id. */
  id: string;
  /** The account key, for signing requests with the raw client (`kid: url`). */
  key: TestKey;
}

export interface CertbotRunner {
  readonly dir: string;
  readonly configDir: string;
  /** certbot's environment: REQUESTS_CA_BUNDLE set, proxies unset. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs certbot with `args` plus the common ones; throws with its output unless it exits 0. */
  run(args: string[]): Promise<ToolRun>;
  /** Runs certbot and returns its exit code and output, whatever they are. */
  attempt(args: string[]): Promise<ToolRun>;
  /** A file of a lineage: config/live/<name>/<file>. */
  live(name: string, file: string): string;
  /**
   * certbot's debug log (logs/letsencrypt.log) of its latest run: the server's answers, problem
   * documents included. Debian's certbot 2.1 on Python 3.11 prints "AttributeError: can't set
   * attribute" instead of a problem raised at newOrder or newAccount (certbot/certbot#9539, fixed in
   * 2.2), so the log is where a test finds what the server said.
   */
  log(): Promise<string>;
  /** The one account certbot holds for `server`. */
  account(): Promise<CertbotAccount>;
}

export function certbotRunner(opts: CertbotOptions): CertbotRunner {
  const configDir = path.join(opts.dir, 'config');
  const env: NodeJS.ProcessEnv = { ...process.env, REQUESTS_CA_BUNDLE: opts.caBundlePath, NO_PROXY: '*', no_proxy: '*' };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) delete env[k];
  const timeoutMs = opts.timeoutMs ?? 85_000;
  const full = (args: string[]) => [
    ...args,
    '--config-dir', configDir,
    '--work-dir', path.join(opts.dir, 'work'),
    '--logs-dir', path.join(opts.dir, 'logs'),
    '--server', opts.server,
    '--non-interactive',
    '--agree-tos',
    '-m', opts.email ?? 'test@example.org',
    '--no-eff-email',
  ];
  return {
    dir: opts.dir,
    configDir,
    env,
    run: (args) => runOk(CERTBOT, full(args), { env, timeoutMs, ...(opts.logs ? { logs: opts.logs } : {}) }),
    attempt: (args) => runTool(CERTBOT, full(args), { env, timeoutMs }),
    live: (name, file) => path.join(configDir, 'live', name, file),
    log: async () => {
      // The file grows run after run; each run starts with this line.
      const text = await readFile(path.join(opts.dir, 'logs', 'letsencrypt.log'), 'utf8').catch(() => '');
      const start = text.lastIndexOf(':DEBUG:certbot._internal.main:certbot version:');
      return start === -1 ? text : text.slice(text.lastIndexOf('\n', start) + 1);
    },
    account: () => readAccount(configDir, opts.server),
  };
}

/** certbot keeps accounts under config/accounts/<host:port><path of the server>/<hash>/ (on Linux, unescaped). */
async function readAccount(configDir: string, server: string): Promise<CertbotAccount> {
  const u = new URL(server);
  const dir = path.join(configDir, 'accounts', u.host, ...u.pathname.split('/').filter(Boolean));
  const ids = await readdir(dir).catch(() => [] as string[]);
  if (ids.length !== 1) throw new Error(`expected one certbot account in ${dir}, found ${ids.length}`);
  const accountDir = path.join(dir, ids[0] ?? '');
  const regr = JSON.parse(await readFile(path.join(accountDir, 'regr.json'), 'utf8')) as { uri?: unknown };
  if (typeof regr.uri !== 'string') throw new Error(`${accountDir}/regr.json has no "uri"`);
  const jwk = JSON.parse(await readFile(path.join(accountDir, 'private_key.json'), 'utf8')) as webcrypto.JsonWebKey;
  return { url: regr.uri, id: regr.uri.split('/').at(-1) ?? '', key: await importCertbotKey(jwk) };
}

/** certbot's account key (a private JWK, RSA unless told otherwise) as a jws-client TestKey. */
async function importCertbotKey(jwk: webcrypto.JsonWebKey): Promise<TestKey> {
  const { subtle } = webcrypto;
  if (jwk.kty === 'RSA') {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const pub = { kty: 'RSA', n: jwk.n, e: jwk.e };
    return {
      alg: 'RS256',
      privateKey: await subtle.importKey('jwk', { ...jwk, alg: 'RS256' }, alg, false, ['sign']),
      publicKey: await subtle.importKey('jwk', pub, alg, true, ['verify']),
      jwk: pub,
    };
  }
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    const alg = { name: 'ECDSA', namedCurve: 'P-256' };
    const pub = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    return {
      alg: 'ES256',
      privateKey: await subtle.importKey('jwk', jwk, alg, false, ['sign']),
      publicKey: await subtle.importKey('jwk', pub, alg, true, ['verify']),
      jwk: pub,
    };
  }
  throw new Error(`certbot account key of type ${jwk.kty}/${jwk.crv ?? ''} is not supported here`);
}
