import { problem } from '../../protocol/problem.js';
import type { KidContext } from '../context.js';
import { requirePostAsGet } from '../payload.js';

// RFC 8555 §7.1.2.1: the account's orders, paginated with Link rel="next".
export async function accountOrders(ctx: KidContext): Promise<void> {
  const { svc, profile, links, jws, account } = ctx.state;
  requirePostAsGet(jws);
  if (ctx.params.id !== account.id) throw problem.unauthorized('an account can list only its own orders');
  const cursor = typeof ctx.query.cursor === 'string' ? ctx.query.cursor : null;
  const page = await svc.ra.orders.list(account, cursor, profile.config.ordersPageSize);
  if (page.next) ctx.append('Link', `<${links.accountOrders(account.id, page.next)}>;rel="next"`);
  ctx.body = { orders: page.items.map((id) => links.order(id)) };
}
