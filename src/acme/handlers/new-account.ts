import { z } from 'zod';
import type { JwsContext } from '../context.js';
import { verifyExternalAccountBinding } from '../jws.js';
import { requestUrl } from '../middleware/jws.js';
import { parsePayload } from '../payload.js';
import { accountView } from '../views.js';

// RFC 8555 §7.3
const NewAccountPayload = z.object({
  contact: z.array(z.string()).optional(),
  termsOfServiceAgreed: z.boolean().optional(),
  onlyReturnExisting: z.boolean().optional(),
  externalAccountBinding: z.unknown().optional(),
});

export async function newAccount(ctx: JwsContext): Promise<void> {
  const { svc, profile, links, jws } = ctx.state;
  const req = parsePayload(NewAccountPayload, jws);
  let eabKid: string | undefined;
  const existing = await svc.ra.accounts.findByKey(profile, jws.key.thumbprint);
  // §6.6: attempts to create an account count, whether or not they succeed (EAB guesses included).
  if (!existing && !req.onlyReturnExisting) svc.ra.rateLimits.newAccounts.take(`${profile.name}\u0000${ctx.ip}`, profile.config.rateLimits.newAccounts);
  // §7.3.4: the binding is checked for a new account; an existing key is answered as §7.3.1 says.
  if (!existing && !req.onlyReturnExisting && req.externalAccountBinding !== undefined) {
    eabKid = await verifyExternalAccountBinding(req.externalAccountBinding, jws.key.jwk, requestUrl(ctx), async (kid) => {
      const key = await svc.ra.eab.lookup(profile, kid);
      return key?.hmacKey;
    });
  }
  const { account, created } = await svc.ra.accounts.newAccount(profile, jws.key, {
    ...(req.contact !== undefined ? { contact: req.contact } : {}),
    ...(req.termsOfServiceAgreed !== undefined ? { termsOfServiceAgreed: req.termsOfServiceAgreed } : {}),
    ...(req.onlyReturnExisting !== undefined ? { onlyReturnExisting: req.onlyReturnExisting } : {}),
    ...(eabKid ? { eabKid } : {}),
  }, (id) => links.account(id));
  ctx.state.account = account;
  ctx.status = created ? 201 : 200;
  ctx.set('Location', links.account(account.id));
  // §7.3.4: "The account object the CA returns MUST include an "externalAccountBinding" field with
  // the same value as the field in the request" (once verified, i.e. when it created the account).
  ctx.body = created && eabKid ? { ...accountView(account, links), externalAccountBinding: req.externalAccountBinding } : accountView(account, links);
}
