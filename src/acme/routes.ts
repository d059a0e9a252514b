/**
 * The ACME route table (RFC 8555 §7.1): each resource, its methods, and where its key comes from.
 * POST-as-GET everywhere the RFC requires it; plain GET only for the directory and newNonce, which
 * answer POST-as-GET as well (§6.3).
 */
import { Router } from '@koa/router';
import type { Middleware } from 'koa';
import type { AcmeState, Handler, JwsContext, ProfiledContext } from './context.js';
import { account } from './handlers/account.js';
import { accountOrders } from './handlers/account-orders.js';
import { authz, challenge } from './handlers/authz.js';
import { certificate } from './handlers/certificate.js';
import { directory } from './handlers/directory.js';
import { keyChange } from './handlers/key-change.js';
import { newAccount } from './handlers/new-account.js';
import { newNonce } from './handlers/new-nonce.js';
import { newOrder } from './handlers/new-order.js';
import { finalize, order } from './handlers/order.js';
import { renewalInfo } from './handlers/renewal-info.js';
import { revokeCert } from './handlers/revoke-cert.js';
import { body } from './middleware/body.js';
import { jws, type KeySource } from './middleware/jws.js';
import { profile } from './middleware/profile.js';
import { requirePostAsGet } from './payload.js';

// Handlers are typed by what the middleware before them guarantees; Koa sees them as middleware.
const mw = <C>(h: Handler<C>) => h as unknown as Middleware<AcmeState>;
const post = <C>(source: KeySource, h: Handler<C>) => [body, jws(source), mw(h)] as Middleware<AcmeState>[];
// §6.3: "The server MUST allow GET requests for the directory and newNonce resources ..., in
// addition to POST-as-GET requests for these resources": same answer, once the JWS is verified.
const asPostAsGet = (h: Handler<ProfiledContext>): Handler<JwsContext> => async (ctx) => {
  requirePostAsGet(ctx.state.jws);
  await h(ctx);
};

/** The routes under one prefix: `/acme/:profile`, or `/acme/raProfile/:binding` (issue #5). */
export function acmeRouter(prefix = '/acme/:profile'): Router<AcmeState> {
  const r = new Router<AcmeState>({ prefix });
  r.use(profile);
  r.get('/directory', mw(directory));
  r.get('/new-nonce', mw(newNonce)); // HEAD is routed with GET
  r.get('/renewal-info/:certId', mw(renewalInfo)); // RFC 9773 §4.1: plain GET
  r.post('/directory', ...post('kid', asPostAsGet(directory)));
  r.post('/new-nonce', ...post('kid', asPostAsGet(newNonce)));
  r.post('/new-account', ...post('jwk', newAccount));
  r.post('/new-order', ...post('kid', newOrder));
  r.post('/revoke-cert', ...post('jwk-or-kid', revokeCert));
  r.post('/key-change', ...post('kid', keyChange));
  r.post('/acct/:id', ...post('kid', account));
  r.post('/acct/:id/orders', ...post('kid', accountOrders));
  r.post('/order/:id', ...post('kid', order));
  r.post('/order/:id/finalize', ...post('kid', finalize));
  r.post('/authz/:id', ...post('kid', authz));
  r.post('/chall/:id', ...post('kid', challenge));
  r.post('/cert/:id', ...post('kid', certificate));
  return r;
}
