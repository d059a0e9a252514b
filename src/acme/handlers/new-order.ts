import { z } from 'zod';
import type { KidContext } from '../context.js';
import { parsePayload } from '../payload.js';
import { orderView } from '../views.js';

// RFC 8555 §7.4: the client names the identifiers it wants in one certificate.
const NewOrderPayload = z.object({
  identifiers: z.array(z.object({ type: z.string(), value: z.string() })).min(1),
  notBefore: z.string().optional(),
  notAfter: z.string().optional(),
  profile: z.string().min(1).optional(), // draft-ietf-acme-profiles-01 §4
  replaces: z.string().min(1).optional(), // RFC 9773 §5
});

export async function newOrder(ctx: KidContext): Promise<void> {
  const { svc, profile, links, jws, account } = ctx.state;
  const req = parsePayload(NewOrderPayload, jws);
  svc.ra.rateLimits.newOrders.take(`${profile.name}\u0000${account.id}`, profile.config.rateLimits.newOrders);
  const { order } = await svc.ra.orders.newOrder(account, profile, {
    identifiers: req.identifiers,
    ...(req.notBefore !== undefined ? { notBefore: req.notBefore } : {}),
    ...(req.notAfter !== undefined ? { notAfter: req.notAfter } : {}),
    ...(req.profile !== undefined ? { profile: req.profile } : {}),
    ...(req.replaces !== undefined ? { replaces: req.replaces } : {}),
  });
  // §7.4: "201 (Created)", the order URL in Location, the order object in the body.
  ctx.status = 201;
  ctx.set('Location', links.order(order.id));
  ctx.body = orderView(order, links);
}
