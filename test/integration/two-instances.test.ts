/**
 * Two gateway instances on one PostgreSQL database behind a round-robin TCP balancer: every other
 * request lands on the other instance, so nonces, accounts, orders, validations and issuance must
 * all work across instances (nonces: src/acme/nonces-shared.ts). PostgreSQL missing → failure.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { dropPgSchema, freshPgSchema, PG_URL } from '../helpers/pg.js';


describe('two instances on one PostgreSQL database', () => {
  const schema = freshPgSchema();
  let dataDir: string;
  let dns: Challtestsrv;
  let balancer: net.Server;
  let web: http.Server;
  let instances: TestGateway[] = [];
  const hits = [0, 0];
  const sockets = new Set<net.Socket>();
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'acme-gw-two-'));
    dns = await startChalltestsrv({ http01: false });
    web = http.createServer((req, res) => {
      const v = tokens.get(req.url?.split('/').pop() ?? '');
      res.writeHead(v ? 200 : 404).end(v ?? '');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const targets: number[] = [];
    let turn = 0;
    balancer = net.createServer((client) => {
      const i = turn++ % 2;
      hits[i] = (hits[i] ?? 0) + 1;
      const upstream = net.connect(targets[i] ?? 0, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => balancer.listen(0, '127.0.0.1', r));
    const port = (balancer.address() as net.AddressInfo).port;
    const config = {
      storage: { driver: 'postgres', url: PG_URL, schema, poolSize: 4 },
      server: { baseUrl: `https://localhost:${port}` },
      validation: { dnsResolver: dns.dnsAddress, http01Port: (web.address() as net.AddressInfo).port, timeout: '5s' },
    };
    // The first instance creates the schema, the CA and the listener certificate; the second reuses them.
    instances = [await startTestGateway(config, { dataDir })];
    instances.push(await startTestGateway(config, { dataDir }));
    for (const gw of instances) targets.push(gw.port);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    for (const gw of instances) {
      await gw.stop();
    }
    await new Promise<void>((r) => balancer.close(() => r()));
    web.close();
    await dns?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await dropPgSchema(schema);
  });

  it('issues and revokes through both instances, each answering part of the requests', async () => {
    const agent = new https.Agent({ ca: instances[0]?.caPem, keepAlive: false });
    acme.axios.defaults.httpsAgent = agent;
    const directoryUrl = `${instances[0]?.gateway.baseUrl()}/acme/default/directory`;
    const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateKey() });
    // Several names: their challenges are validated at once, often on both instances, and each
    // validation derives the order's status from all authorizations (the order row lock matters).
    const names = ['two.example.test', 'www.two.example.test', 'a.two.example.test', 'b.two.example.test', 'c.two.example.test'];
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
    const cert = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      skipChallengeVerification: true,
      challengePriority: ['http-01'],
      challengeCreateFn: async (_a, c, k) => void tokens.set(c.token, k),
      challengeRemoveFn: async () => undefined,
    });
    expect(cert).toContain('BEGIN CERTIFICATE');
    await client.revokeCertificate(cert, { reason: 4 });
    expect(hits[0]).toBeGreaterThan(3);
    expect(hits[1]).toBeGreaterThan(3);
  });
});
