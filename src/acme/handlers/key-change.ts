import { problem } from '../../protocol/problem.js';
import { ConflictError } from '../../storage/store.js';
import type { KidContext } from '../context.js';
import { sameKey, verifyKeyChangeInner } from '../jws.js';
import { requestUrl } from '../middleware/jws.js';
import { accountView } from '../views.js';

// RFC 8555 §7.3.5: the outer JWS is signed by the old key (kid), the inner one by the new key.
export async function keyChange(ctx: KidContext): Promise<void> {
  const { svc, links, jws, account } = ctx.state;
  if (jws.payload === undefined) throw problem.malformed('keyChange needs the inner JWS as payload');
  const inner = await verifyKeyChangeInner(jws.payload, requestUrl(ctx));
  if (inner.account !== links.account(account.id)) throw problem.unauthorized('the inner JWS names another account than the one signing');
  if (!(await sameKey(inner.oldKey, account.jwk))) throw problem.unauthorized('"oldKey" is not the account\'s current key');
  try {
    const next = await svc.ra.accounts.changeKey(account, ctx.state.profile, inner.newKey);
    ctx.body = accountView(next, links);
  } catch (e) {
    if (e instanceof ConflictError && e.existingId) {
      throw problem.malformed('the new key is already in use by another account', 409).withHeader('Location', links.account(e.existingId));
    }
    throw e;
  }
}
