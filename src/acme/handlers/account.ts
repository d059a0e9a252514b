import { z } from 'zod';
import { problem } from '../../protocol/problem.js';
import type { KidContext } from '../context.js';
import { parsePayload } from '../payload.js';
import { accountView } from '../views.js';

// RFC 8555 §7.3.2 update, §7.3.6 deactivation; an empty object or POST-as-GET returns the account.
const AccountUpdatePayload = z.object({
  contact: z.array(z.string()).optional(),
  termsOfServiceAgreed: z.boolean().optional(),
  status: z.string().optional(),
});

export async function account(ctx: KidContext): Promise<void> {
  const { svc, profile, links, jws } = ctx.state;
  if (ctx.params.id !== ctx.state.account.id) throw problem.unauthorized('the account URL is not the one of the signing account');
  let current = ctx.state.account;
  if (jws.payload !== undefined) {
    const update = parsePayload(AccountUpdatePayload, jws);
    current = await svc.ra.accounts.update(current, profile, {
      ...(update.contact !== undefined ? { contact: update.contact } : {}),
      ...(update.termsOfServiceAgreed !== undefined ? { termsOfServiceAgreed: update.termsOfServiceAgreed } : {}),
      ...(update.status !== undefined ? { status: update.status } : {}),
    });
  }
  ctx.set('Location', links.account(current.id));
  ctx.body = accountView(current, links);
}
