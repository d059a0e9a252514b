/**
 * A challenge whose validation was running when its instance died stays `processing` in the
 * database; nothing in memory remembers it. Here the first instance stops with such a challenge
 * (written as the crash leaves it: processing since an hour ago), and two new instances start at
 * once on the same PostgreSQL database: one of them resumes the validation at startup (the other
 * finds it taken), the http-01 responder is asked once, and the client sees the challenge, its
 * authorization and its order move on without sending the challenge POST again. PostgreSQL
 * missing → failure.
 */
import http from 'node:http';
import type net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqlStore } from '../../src/storage/sql/index.js';
import type { ChallengeId } from '../../src/storage/store.js';
import { startChalltestsrv, type Challtestsrv } from '../fakes/challtestsrv.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { AcmeHttpClient, generateAccountKey, type TestKey } from '../helpers/jws-client.js';
import { memoryLogger, type LogLine } from '../helpers/memory-logger.js';
import { idOf, keyAuthorization, waitFor, type AuthzJson, type ChallengeJson, type OrderJson } from './support.js';
import { dropPgSchema, freshPgSchema, PG_URL } from '../helpers/pg.js';

const NAME = 'resume.example.test';

describe('a validation left in processing by a stopped instance', () => {
  const schema = freshPgSchema();
  let dataDir: string;
  let dns: Challtestsrv;
  let web: http.Server;
  const answers = new Map<string, string>();
  const asked: string[] = [];
  let config: Record<string, unknown>;
  const running: TestGateway[] = [];
  const clients: AcmeHttpClient[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'acme-gw-resume-'));
    dns = await startChalltestsrv({ http01: false });
    web = http.createServer((req, res) => {
      const token = req.url?.split('/').pop() ?? '';
      asked.push(token);
      const answer = answers.get(token);
      res.writeHead(answer ? 200 : 404).end(answer ?? '');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    config = {
      storage: { driver: 'postgres', url: PG_URL, schema, poolSize: 4 },
      validation: { dnsResolver: dns.dnsAddress, http01Port: (web.address() as net.AddressInfo).port, timeout: '2s' },
    };
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const gw of running) await gw.stop();
    web?.close();
    await dns?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await dropPgSchema(schema);
  });

  function clientOf(gw: TestGateway, key: TestKey): AcmeHttpClient {
    const c = new AcmeHttpClient(gw.directoryUrl, key, { ca: gw.caPem });
    clients.push(c);
    return c;
  }

  it('is resumed at startup by one of two new instances, and the client sees it validated without a new POST', async () => {
    // The first instance: an account, an order, its http-01 challenge answered by the web server.
    const first = await startTestGateway(config, { dataDir });
    const key = await generateAccountKey();
    const c1 = clientOf(first, key);
    const acct = await c1.post(await c1.url('newAccount'), { termsOfServiceAgreed: true }, { jwk: true });
    expect(acct.status).toBe(201);
    const accountId = idOf(acct.headers.get('location') ?? '');
    const kid1 = acct.headers.get('location') ?? '';
    const created = await c1.post(await c1.url('newOrder'), { identifiers: [{ type: 'dns', value: NAME }] }, { kid: kid1 });
    expect(created.status).toBe(201);
    const orderId = idOf(created.headers.get('location') ?? '');
    const authzId = idOf((created.body as OrderJson).authorizations[0] ?? '');
    const authz = (await c1.post((created.body as OrderJson).authorizations[0] ?? '', '', { kid: kid1 })).body as AuthzJson;
    const challenge = authz.challenges.find((ch) => ch.type === 'http-01') as ChallengeJson;
    answers.set(challenge.token, await keyAuthorization(challenge.token, key));
    await first.stop();

    // What the instance leaves when it dies between the challenge POST (processing committed) and
    // the validation's outcome: the challenge in processing, since an hour ago.
    const store = await createSqlStore({ driver: 'postgres', url: PG_URL, schema });
    try {
      const stored = await store.getChallenge(idOf(challenge.url) as ChallengeId);
      expect(stored?.status).toBe('pending');
      await store.transaction((tx) => tx.updateChallenge({ ...stored!, status: 'processing', updatedAt: new Date(Date.now() - 3_600_000) }));
    } finally {
      await store.close();
    }

    // Two new instances start at once on the same database.
    const logs: LogLine[][] = [[], []];
    const [b, c] = await Promise.all(logs.map((lines) => startTestGateway(config, { dataDir, log: memoryLogger(lines) })));
    running.push(b!, c!);

    const client = clientOf(b!, key);
    const kid = `${b!.baseUrl}/acme/default/acct/${accountId}`;
    const base = `${b!.baseUrl}/acme/default`;
    const seen = await waitFor(
      'challenge validated',
      async () => (await client.post(`${base}/chall/${idOf(challenge.url)}`, '', { kid })).body as ChallengeJson,
      (ch) => ch.status !== 'processing',
    );
    expect(seen).toMatchObject({ status: 'valid', token: challenge.token });
    expect(((await client.post(`${base}/authz/${authzId}`, '', { kid })).body as AuthzJson).status).toBe('valid');
    expect(((await client.post(`${base}/order/${orderId}`, '', { kid })).body as OrderJson).status).toBe('ready');

    // Validated once: one instance took it, the web server was asked once, one resume was logged.
    expect(asked.filter((t) => t === challenge.token)).toHaveLength(1);
    const resumed = logs.flat().filter((l) => l.msg?.startsWith('resuming a validation left in processing'));
    expect(resumed).toHaveLength(1);
    expect(resumed[0]?.obj).toMatchObject({ challengeId: idOf(challenge.url), identifier: NAME });
    expect(logs.flat().filter((l) => l.level === 'error')).toEqual([]);
  });
});
