/**
 * RFC 8555 §6.2-6.5: the flattened JWS is parsed, its `url` must be the request URL (§6.4), the key
 * comes from `jwk` or from the account named by `kid` as the route requires, the signature is
 * verified, and only then is the nonce consumed (§6.5), so a forged request cannot burn nonces.
 */
import type { Next } from 'koa';
import { problem } from '../../protocol/problem.js';
import type { AccountRecord } from '../../storage/store.js';
import type { AcmeContext } from '../context.js';
import { importAccountKey, parseJws, verifyJws, type AccountKey } from '../jws.js';

export type KeySource = 'jwk' | 'kid' | 'jwk-or-kid';

/** The URL the client used, as the JWS must name it: public base URL + path and query. */
export function requestUrl(ctx: AcmeContext): string {
  return `${ctx.state.svc.baseUrl()}${ctx.url}`;
}

export function jws(source: KeySource) {
  return async (ctx: AcmeContext, next: Next): Promise<void> => {
    const { svc, links, profile } = ctx.state;
    if (!links || !profile) throw new Error('jws middleware runs behind the profile middleware');
    let body: unknown;
    try {
      body = JSON.parse((ctx.state.rawBody ?? Buffer.alloc(0)).toString('utf8'));
    } catch {
      throw problem.malformed('the request body is not JSON');
    }
    const { jws: envelope, header } = parseJws(body);
    const url = requestUrl(ctx);
    if (header.url !== url) throw problem.unauthorized(`the JWS "url" header (${header.url}) is not the request URL (${url})`);
    if (typeof header.nonce !== 'string' || header.nonce === '') throw problem.badNonce();

    let key: AccountKey;
    let account: AccountRecord | undefined;
    if (header.jwk) {
      if (source === 'kid') throw problem.malformed('this request must be signed with "kid" (your account URL), not "jwk"');
      key = await importAccountKey(header.jwk, header.alg);
    } else {
      if (source === 'jwk') throw problem.malformed('this request must carry the account key as "jwk", not "kid"');
      const kid = header.kid ?? '';
      const id = links.accountIdFromKid(kid);
      account = id ? await svc.ra.accounts.get(id) : undefined;
      if (!account || account.profile !== profile.name) throw problem.accountDoesNotExist(`"kid" ${kid} is not an account of profile ${profile.name}`);
      if (account.status !== 'valid') throw problem.accountNotValid(account.status);
      await svc.ra.registrations.checkAccount(profile, account);
      key = await importAccountKey(account.jwk, header.alg);
    }
    const payload = await verifyJws(envelope, header, key);
    if (!(await svc.nonces.consume(header.nonce))) throw problem.badNonce();
    ctx.state.jws = { header, payload, key };
    if (account) {
      ctx.state.account = account;
      ctx.state.log = ctx.state.log.child({ account: account.id });
    }
    await next();
  };
}
