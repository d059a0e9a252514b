import { z } from 'zod';
import type { KidContext } from '../context.js';
import { parsePayload } from '../payload.js';
import { authzView, challengeView } from '../views.js';

// RFC 8555 §7.5 (POST-as-GET) and §7.5.2 deactivation ({"status": "deactivated"}).
const AuthzUpdate = z.object({ status: z.literal('deactivated') });

export async function authz(ctx: KidContext): Promise<void> {
  const { svc, links, jws, account } = ctx.state;
  const id = ctx.params.id ?? '';
  if (jws.payload === undefined) {
    ctx.body = authzView(await svc.ra.authorizations.get(account, id), links);
    return;
  }
  parsePayload(AuthzUpdate, jws); // the only update a client may make is deactivation
  ctx.body = authzView(await svc.ra.authorizations.deactivate(account, id), links);
}

// §7.5.1: POST {} starts validation; POST-as-GET only reads.
export async function challenge(ctx: KidContext): Promise<void> {
  const { svc, links, jws, account } = ctx.state;
  const id = ctx.params.id ?? '';
  const { challenge: ch, authz: az } = jws.payload === undefined ? await svc.ra.authorizations.challenge(account, id) : await svc.ra.authorizations.respond(account, id, links.account(account.id));
  ctx.append('Link', `<${links.authz(az.id)}>;rel="up"`);
  if (ch.status === 'processing') ctx.set('Retry-After', String(svc.retryAfterSeconds));
  ctx.body = challengeView(ch, links);
}
