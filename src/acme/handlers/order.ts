import { z } from 'zod';
import { base64url } from '../../lib/base64url.js';
import { problem } from '../../protocol/problem.js';
import type { OrderRecord } from '../../storage/store.js';
import type { KidContext } from '../context.js';
import { parsePayload, requirePostAsGet } from '../payload.js';
import { orderView } from '../views.js';

function respond(ctx: KidContext, order: OrderRecord): void {
  const { links, svc } = ctx.state;
  // §7.4: a processing order tells the client when to look again.
  if (order.status === 'processing') ctx.set('Retry-After', String(retryAfter(order, svc.clock.now(), svc.retryAfterSeconds)));
  ctx.set('Location', links.order(order.id));
  ctx.body = orderView(order, links);
}

function retryAfter(order: OrderRecord, now: Date, fallback: number): number {
  if (!order.nextCheckAt) return fallback;
  const s = Math.ceil((order.nextCheckAt.getTime() - now.getTime()) / 1000);
  return Math.max(1, Math.min(s, 3600));
}

// §7.1.3, fetched with POST-as-GET
export async function order(ctx: KidContext): Promise<void> {
  requirePostAsGet(ctx.state.jws);
  respond(ctx, await ctx.state.svc.ra.orders.get(ctx.state.account, ctx.params.id ?? ''));
}

// §7.4 finalize
const FinalizePayload = z.object({ csr: z.string().min(1) });

export async function finalize(ctx: KidContext): Promise<void> {
  const { svc, profile, jws, account } = ctx.state;
  const req = parsePayload(FinalizePayload, jws);
  const der = base64url.decode(req.csr);
  if (!der || der.length === 0) throw problem.badCSR('"csr" is not base64url-encoded DER');
  respond(ctx, await svc.ra.orders.finalize(account, profile, ctx.params.id ?? '', der, ctx.state.links.account(account.id)));
}
