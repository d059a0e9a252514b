/**
 * The built command line (`node bin/acme-gateway.js`) as an operator runs it: what it prints when
 * ready, what it keeps across restarts, how it refuses a bad configuration, how it stops.
 */
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, fetch } from 'undici';
import { runGatewayCli, startGatewayProcess, writeConfigFile, type GatewayProcess } from '../helpers/gateway-process.js';
import { AcmeHttpClient, generateAccountKey, signJws } from '../helpers/jws-client.js';

const started: GatewayProcess[] = [];
const tempDirs: string[] = [];

afterAll(async () => {
  await Promise.allSettled(started.map((g) => g.stop()));
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'acme-gw-cli-'));
  tempDirs.push(d);
  return d;
}

async function getWithCa(url: string, ca: string): Promise<{ status: number; body: Buffer; contentType: string | null }> {
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await fetch(url, { dispatcher, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') };
  } finally {
    await dispatcher.close();
  }
}

/** Resolves true once a new TLS connection to host:port is refused (bounded poll, no sleep). */
async function waitUntilRefused(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = tlsConnect({ host, port, rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
    });
    if (refused) return true;
  }
  return false;
}

describe('acme-gateway serve (built CLI)', { timeout: 90_000 }, () => {
  it('prints exactly the Directory and CA bundle lines, and the directory answers over TLS the bundle trusts', async () => {
    const gw = await startGatewayProcess();
    started.push(gw);

    expect(gw.stdout()).toMatch(/^Directory: https:\/\/localhost:\d+\/acme\/default\/directory\nCA bundle: \S+\n$/);
    expect(gw.caBundlePath).toBe(path.join(gw.dataDir, 'ca-bundle.pem'));
    expect(gw.caPem).toMatch(/^-----BEGIN CERTIFICATE-----/);

    const res = await getWithCa(gw.directoryUrl, gw.caPem);
    expect(res.status).toBe(200);
    const directory = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    for (const resource of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange']) {
      expect(directory[resource], resource).toMatch(new RegExp(`^${gw.baseUrl}/acme/default/`));
    }

    await gw.stop();
    // Nothing else on stdout, before or during shutdown: logs go to stderr.
    expect(gw.stdout().split('\n')).toHaveLength(3);
    expect(gw.stderr()).toContain('"msg":"gateway ready"');
  });

  it('reuses its CA when started again on the same data directory', async () => {
    const dataDir = await tempDir();
    const first = await startGatewayProcess({ dataDir });
    started.push(first);
    const issuing1 = await getWithCa(`${first.baseUrl}/ca/embedded/issuing.crt`, first.caPem);
    await first.stop();

    const second = await startGatewayProcess({ dataDir });
    started.push(second);
    expect(second.caBundlePath).toBe(first.caBundlePath);
    expect(second.caPem).toBe(first.caPem);
    expect(await readFile(second.caBundlePath, 'utf8')).toBe(first.caPem);
    // The listener's new port is served with a certificate the old bundle still trusts, by the same issuing CA.
    const issuing2 = await getWithCa(`${second.baseUrl}/ca/embedded/issuing.crt`, first.caPem);
    expect(issuing2.status).toBe(200);
    expect(issuing2.body.equals(issuing1.body)).toBe(true);
    await second.stop();
  });

  it('prints every configuration problem with its key and exits 78 before listening', async () => {
    const dir = await tempDir();
    const dataDir = path.join(dir, 'data');
    const config = await writeConfigFile(
      ['server:', '  listen: "nope"', 'profiles:', '  web:', '    connector: x', '    validity:', '      max: nope', 'defaultProfile: web', ''].join('\n'),
      dir,
    );

    const run = await runGatewayCli(['serve', '--config', config, '--data-dir', dataDir]);

    expect(run.code).toBe(78);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n');
    expect(lines.some((l) => /^\s*server\.listen: \S/.test(l)), run.stderr).toBe(true);
    expect(lines.some((l) => /^\s*profiles\.web\.validity\.max: .*nope/.test(l)), run.stderr).toBe(true);
    expect(lines.some((l) => /^\s*profiles\.web\.connector: .*"x"/.test(l)), run.stderr).toBe(true);
    // Nothing was created: no CA, no database, no listener certificate.
    await expect(stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('exits non-zero without printing the ready lines when its port is taken', async () => {
    const busy = createNetServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      // The last --listen wins, so this replaces the helper's 127.0.0.1:0.
      const start = startGatewayProcess({ extraArgs: ['--listen', `127.0.0.1:${port}`] });
      await expect(start).rejects.toThrow(/exited early \(code 1, signal null\)[\s\S]*stdout:\n\nstderr[\s\S]*cannot listen/);
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
  });

  it('drains a request in flight on SIGTERM, refuses new connections, and exits 0', async () => {
    const gw = await startGatewayProcess();
    started.push(gw);
    const client = new AcmeHttpClient(gw.directoryUrl, await generateAccountKey('ES256'), { ca: gw.caPem });
    const newAccountUrl = await client.url('newAccount');
    const jws = await signJws({ key: client.key, jwk: true, nonce: await client.nonce(), url: newAccountUrl, payload: { termsOfServiceAgreed: true } });
    await client.close();
    const body = Buffer.from(JSON.stringify(jws));

    // Headers go out with "Expect: 100-continue": once the gateway answers 100, it has parsed
    // them and the request is in flight; the body is held back until after SIGTERM.
    const url = new URL(newAccountUrl);
    const req = httpsRequest(url, {
      method: 'POST',
      ca: gw.caPem,
      agent: false,
      headers: { 'content-type': 'application/jose+json', 'content-length': body.length, expect: '100-continue' },
    });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => (text += s));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.once('error', reject);
      });
      req.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      req.once('continue', () => resolve());
      req.once('error', reject);
      req.flushHeaders();
    });

    gw.kill('SIGTERM');
    expect(await waitUntilRefused('127.0.0.1', Number(url.port), 10_000), 'the listener still accepts after SIGTERM').toBe(true);

    req.end(body);
    const res = await response;
    expect(res.status, res.text).toBe(201);
    expect(JSON.parse(res.text)).toMatchObject({ status: 'valid' });

    const exit = await Promise.race([gw.exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref())]);
    expect(exit, gw.logTail()).toEqual({ code: 0, signal: null });
    await gw.stop();
    expect(gw.stderr()).toContain('draining and stopping');
  });
});
