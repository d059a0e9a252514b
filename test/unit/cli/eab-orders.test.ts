/**
 * The admin commands on a gateway data directory: `eab create`, `eab remove [--deactivate-accounts]`
 * (issue #4: removing a key stops new bindings and optionally deactivates the bound accounts) and
 * `orders list` (issue #5: the audit record of each order).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { createSqlStore } from '../../../src/storage/sql/index.js';
import { accountRecord, orderRecord } from '../../helpers/records.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('admin commands', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an EAB key, prints kid and key once, and removes it deactivating the bound accounts', async () => {
    const created = await run(['eab', 'create', '--profile', 'default', '--max-bindings', '2', '--data-dir', dir]);
    expect(created.code).toBe(0);
    const kid = /^kid: (\S+)$/m.exec(created.out)?.[1] ?? '';
    expect(created.out).toMatch(/^hmac: [A-Za-z0-9_-]{43}$/m);

    const store = await createSqlStore({ driver: 'sqlite', path: path.join(dir, 'gateway.sqlite') });
    const bound = accountRecord({ eabKid: kid });
    const other = accountRecord({ eabKid: 'another' });
    await store.transaction(async (tx) => {
      await tx.insertAccount(bound);
      await tx.insertAccount(other);
    });
    await store.close();

    const removed = await run(['eab', 'remove', '--kid', kid, '--deactivate-accounts', '--data-dir', dir]);
    expect(removed).toMatchObject({ code: 0, out: `removed: ${kid}\ndeactivated accounts: 1\n` });

    const after = await createSqlStore({ driver: 'sqlite', path: path.join(dir, 'gateway.sqlite') });
    try {
      expect((await after.getEabKey(kid))?.revokedAt).toBeInstanceOf(Date);
      expect((await after.getAccount(bound.id))?.status).toBe('deactivated');
      expect((await after.getAccount(other.id))?.status).toBe('valid');
    } finally {
      await after.close();
    }
  });

  it('removes a key without touching its accounts unless asked, and says so for an unknown kid', async () => {
    const kid = /^kid: (\S+)$/m.exec((await run(['eab', 'create', '--data-dir', dir])).out)?.[1] ?? '';
    expect(await run(['eab', 'remove', '--kid', kid, '--data-dir', dir])).toMatchObject({ code: 0, out: `removed: ${kid}\ndeactivated accounts: 0\n` });
    expect(await run(['eab', 'remove', '--kid', 'nope', '--data-dir', dir])).toMatchObject({ code: 1, err: 'acme-gateway: no EAB key "nope"\n' });
  });

  it('refuses an EAB key for a pre-registered profile without the registration it is for', async () => {
    const { writeFile } = await import('node:fs/promises');
    const file = path.join(dir, 'gw.yaml');
    await writeFile(file, 'profiles:\n  default: {}\n  partners: { accounts: pre-registered, eab: { required: true } }\n');
    expect((await run(['eab', 'create', '--profile', 'partners', '--config', file, '--data-dir', dir])).code).toBe(64);
    const made = await run(['eab', 'create', '--profile', 'partners', '--registration', 'ee-ops-7', '--config', file, '--data-dir', dir]);
    expect(made.out).toMatch(/^kid: ee-ops-7$/m);
  });

  it('lists the orders of an account with their audit record', async () => {
    const store = await createSqlStore({ driver: 'sqlite', path: path.join(dir, 'gateway.sqlite') });
    const account = accountRecord({ registrationId: 'ee-42' });
    const { order, authzs } = orderRecord(account, ['a.example.test'], { policy: { acmeProfile: 'default', template: 'server', validation: 'required' } });
    await store.transaction(async (tx) => {
      await tx.insertAccount(account);
      await tx.insertOrder(order, authzs);
    });
    await store.close();
    const listed = await run(['orders', 'list', '--registration', 'ee-42', '--data-dir', dir]);
    expect(listed.code).toBe(0);
    const line = JSON.parse(listed.out.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ order: order.id, account: account.id, registration: 'ee-42', identifiers: ['a.example.test'], policy: { template: 'server', validation: 'required' } });
    expect((await run(['orders', 'list', '--account', 'missing', '--data-dir', dir])).code).toBe(1);
  });
});
