import type { ProfiledContext } from '../context.js';

// RFC 9773 §4.1: an unauthenticated GET of renewalInfo/{certID}; Retry-After says when to ask again.
export async function renewalInfo(ctx: ProfiledContext): Promise<void> {
  const { svc, profile } = ctx.state;
  const info = await svc.ra.renewalInfo.renewalInfo(profile, String(ctx.params.certId ?? ''));
  ctx.set('Retry-After', String(info.retryAfterSeconds));
  ctx.body = { suggestedWindow: info.suggestedWindow, ...(info.explanationURL ? { explanationURL: info.explanationURL } : {}) };
}
