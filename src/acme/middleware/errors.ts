/**
 * The outermost ACME middleware: whatever happens below ends as an RFC 7807 problem document with
 * an RFC 8555 §6.7 type, a fresh Replay-Nonce (§6.5: required on badNonce) and Link rel="index".
 * Anything that is not an AcmeProblem is logged in full and shown as serverInternal without detail.
 */
import type { Next } from 'koa';
import { AcmeProblem, problem } from '../../protocol/problem.js';
import { isConnectorError } from '../../sdk/errors.js';
import { toProblem } from '../../issuance/errors.js';
import { ConflictError, NotFoundError } from '../../storage/store.js';
import type { AcmeContext } from '../context.js';
import { createLinks } from '../links.js';

/**
 * RFC 8555 §7.1: "The "index" link relation is present on all resources other than the directory".
 * The profile middleware sets it, but the router runs it only for a route whose method matches, so
 * a 405 (or a 404 below a profile) gets it here, for a path under a profile that exists.
 */
function indexLinkOutsideRoutes(ctx: AcmeContext): void {
  if (ctx.state.links) return;
  const name = /^\/acme\/([^/]+)\//.exec(ctx.path)?.[1];
  let profile: string;
  try {
    profile = decodeURIComponent(name ?? '');
  } catch {
    return;
  }
  if (!ctx.state.svc.profiles.has(profile)) return;
  ctx.append('Link', `<${createLinks(ctx.state.svc.baseUrl(), profile).directory()}>;rel="index"`);
}

function asProblem(ctx: AcmeContext, err: unknown): AcmeProblem {
  if (err instanceof AcmeProblem) return err;
  if (isConnectorError(err)) {
    ctx.state.log.warn({ err, code: err.code }, 'connector error');
    return toProblem(err);
  }
  if (err instanceof NotFoundError) return problem.notFound(err.what);
  if (err instanceof ConflictError) return problem.malformed(err.message, 409);
  ctx.state.log.error({ err }, 'unhandled error');
  return problem.serverInternal();
}

export async function render(ctx: AcmeContext, p: AcmeProblem): Promise<void> {
  ctx.status = p.status;
  ctx.type = 'application/problem+json';
  ctx.body = JSON.stringify(p.toDocument());
  for (const [name, value] of Object.entries(p.headers)) {
    if (name === 'Link') ctx.append('Link', value);
    else ctx.set(name, value);
  }
  ctx.state.problemType = p.type;
  try {
    ctx.set('Replay-Nonce', await ctx.state.svc.nonces.issue());
  } catch (err) {
    ctx.state.log.error({ err }, 'could not issue a nonce for a problem response');
  }
}

export async function errors(ctx: AcmeContext, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      indexLinkOutsideRoutes(ctx);
      await render(ctx, problem.notFound(`resource ${ctx.path}`));
    } else if (ctx.status === 405 && (ctx.body === undefined || typeof ctx.body === 'string')) {
      indexLinkOutsideRoutes(ctx);
      await render(ctx, problem.methodNotAllowed(`${ctx.method} is not allowed on ${ctx.path}${ctx.response.get('Allow') ? `; use ${ctx.response.get('Allow')}` : ''}`));
    }
  } catch (err) {
    await render(ctx, asProblem(ctx, err));
  }
}
