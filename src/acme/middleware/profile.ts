/** Maps `{profile}` in the path to its runtime; an unknown or disabled profile is a problem. */
import type { Next } from 'koa';
import { problem } from '../../protocol/problem.js';
import type { AcmeContext } from '../context.js';
import { createLinks } from '../links.js';

export async function profile(ctx: AcmeContext, next: Next): Promise<void> {
  const params = (ctx as AcmeContext & { params?: Record<string, string> }).params ?? {};
  const name = params.binding !== undefined ? `raProfile/${params.binding}` : (params.profile ?? '');
  const runtime = ctx.state.svc.profiles.get(name);
  if (!runtime) throw problem.notFound(params.binding !== undefined ? `issuance binding "${params.binding}" with ACME enabled` : `ACME profile "${name}"`);
  ctx.state.profile = runtime;
  ctx.state.links = createLinks(ctx.state.svc.baseUrl(), runtime.name);
  // RFC 8555 §7.1: every response carries the directory as Link rel="index" and a fresh nonce (§6.5).
  ctx.append('Link', `<${ctx.state.links.directory()}>;rel="index"`);
  ctx.set('Replay-Nonce', await ctx.state.svc.nonces.issue());
  const isDirectory = ctx.path.endsWith('/directory');
  // Issue #5: a disabled profile or binding answers everything but its directory with a problem.
  if (!isDirectory && !runtime.config.enabled) throw problem.unauthorized(`ACME profile "${runtime.acmeProfile}" is disabled`);
  if (!isDirectory && !runtime.bindingEnabled) throw problem.unauthorized(`issuance binding "${runtime.binding}" is disabled`);
  await next();
}
