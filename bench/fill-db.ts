/**
 * Fills a gateway SQLite database with history for the scale run: `--orders` valid orders (default
 * 100,000), each with a valid authorization (http-01 valid, dns-01 pending) and a certificate,
 * spread over `--accounts` accounts, created over the last 90 days. Written through the store API
 * (createSqlStore) in big transactions, with records shaped like test/helpers/records.ts.
 *
 *   npx tsx bench/fill-db.ts --data-dir /tmp/gw-data [--orders 100000] [--accounts 1000]
 *
 * The gateway then serves that data dir (its CA is created on first start, beside the database).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DAY_MS, addMs } from '../src/lib/clock.js';
import { createSqlStore } from '../src/storage/sql/index.js';
import type { AccountRecord, AuthzRecord, CertificateId, CertificateRecord, OrderRecord } from '../src/storage/store.js';
import { accountRecord, certificateRecord, orderRecord } from '../test/helpers/records.js';
import { randomName } from './load/order-flow.js';

export interface FillOptions {
  /** The database file, `<data dir>/gateway.sqlite` for the gateway. */
  dbPath: string;
  orders: number;
  accounts: number;
  /** Orders per transaction. */
  batch?: number;
  profile?: string;
  onProgress?: (done: number) => void;
}

const HISTORY_MS = 90 * DAY_MS;

/** One issued order with its authorization and certificate, created at `at`. */
function issuedOrder(account: AccountRecord, at: Date): { order: OrderRecord; authzs: AuthzRecord[]; cert: CertificateRecord } {
  const { order, authzs } = orderRecord(account, [randomName()], { createdAt: at, updatedAt: at, expires: addMs(at, 7 * DAY_MS) });
  const validAuthzs = authzs.map((a): AuthzRecord => ({
    ...a,
    status: 'valid',
    expires: addMs(at, 30 * DAY_MS),
    createdAt: at,
    updatedAt: at,
    challenges: a.challenges.map((c) => (c.type === 'http-01' ? { ...c, status: 'valid', validatedAt: at, validationRecord: [{ url: `http://${a.identifier.value}/` }], updatedAt: at } : { ...c, updatedAt: at })),
  }));
  const cert = certificateRecord(order, { notBefore: at, notAfter: addMs(at, 90 * DAY_MS), createdAt: at });
  const valid: OrderRecord = { ...order, status: 'valid', certificateId: cert.id as CertificateId, policy: { profile: account.profile, template: 'server' } };
  return { order: valid, authzs: validAuthzs, cert };
}

/** Writes accounts and orders; returns the elapsed time in ms. */
export async function fillDb(opts: FillOptions): Promise<number> {
  const started = performance.now();
  const store = await createSqlStore({ driver: 'sqlite', path: opts.dbPath });
  const profile = opts.profile ?? 'default';
  const batch = opts.batch ?? 5_000;
  const now = Date.now();
  try {
    const accounts = Array.from({ length: opts.accounts }, () => accountRecord({ profile, createdAt: new Date(now - HISTORY_MS), updatedAt: new Date(now - HISTORY_MS) }));
    await store.transaction(async (tx) => {
      for (const a of accounts) await tx.insertAccount(a);
    });
    for (let done = 0; done < opts.orders; ) {
      const n = Math.min(batch, opts.orders - done);
      await store.transaction(async (tx) => {
        for (let i = 0; i < n; i++) {
          const k = done + i;
          const account = accounts[k % accounts.length]!;
          const { order, authzs, cert } = issuedOrder(account, new Date(now - HISTORY_MS + Math.floor((k * HISTORY_MS) / opts.orders)));
          await tx.insertOrder(order, authzs);
          await tx.insertCertificate(cert);
        }
      });
      done += n;
      opts.onProgress?.(done);
    }
  } finally {
    await store.close();
  }
  return performance.now() - started;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, orders: { type: 'string', default: '100000' }, accounts: { type: 'string', default: '1000' } },
  });
  const dataDir = values['data-dir'];
  if (dataDir === undefined) throw new Error('usage: tsx bench/fill-db.ts --data-dir DIR [--orders N] [--accounts N]');
  const orders = Number(values.orders);
  const accounts = Number(values.accounts);
  const dbPath = path.join(path.resolve(dataDir), 'gateway.sqlite');
  const ms = await fillDb({ dbPath, orders, accounts, onProgress: (d) => process.stderr.write(`\r${d} orders`) });
  process.stderr.write(`\n${orders} orders over ${accounts} accounts in ${(ms / 1000).toFixed(1)} s: ${dbPath}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
