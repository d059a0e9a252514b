import { openStore } from '../../app/storage.js';
import type { Config } from '../../config/schema.js';
import type { AccountId, AccountRecord, OrderRecord, Store } from '../../storage/store.js';
import type { CliValues } from '../main.js';

/**
 * `orders list --account ID | --registration R`: every order of the account(s) with its audit
 * record (profile, binding, template, validation mode, refusal), one JSON object per line.
 */
export async function orders(config: Config, sub: string | undefined, values: CliValues): Promise<number> {
  if (sub !== 'list' || (!values.account && !values.registration)) {
    process.stderr.write('usage: acme-gateway orders list (--account ID | --registration R) [--config FILE]\n');
    return 64;
  }
  const store = await openStore(config);
  try {
    const accounts = values.account ? [await store.getAccount(values.account as AccountId)].filter((a): a is AccountRecord => a !== undefined) : await store.listAccountsByRegistration(values.registration ?? '');
    if (accounts.length === 0) {
      process.stderr.write(`acme-gateway: no account ${values.account ? `"${values.account}"` : `for registration "${values.registration}"`}\n`);
      return 1;
    }
    for (const account of accounts) {
      for await (const order of ordersOf(store, account)) {
        process.stdout.write(`${JSON.stringify(auditLine(account, order))}\n`);
      }
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function* ordersOf(store: Store, account: AccountRecord): AsyncGenerator<OrderRecord> {
  let cursor: string | null = null;
  do {
    const page = await store.listOrders(account.id, cursor, 200);
    for (const id of page.items) {
      const order = await store.getOrder(id);
      if (order) yield order;
    }
    cursor = page.next;
  } while (cursor);
}

export function auditLine(account: AccountRecord, o: OrderRecord): Record<string, unknown> {
  return {
    order: o.id,
    account: account.id,
    registration: account.registrationId,
    createdAt: o.createdAt.toISOString(),
    status: o.status,
    identifiers: o.identifiers.map((i) => i.value),
    policy: o.policy,
    ...(o.ticket ? { backendRequest: o.ticket } : {}),
    ...(o.error ? { refused: { type: o.error.type, detail: o.error.detail } } : {}),
    ...(o.certificateId ? { certificate: o.certificateId } : {}),
  };
}
