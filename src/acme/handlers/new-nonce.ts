import type { ProfiledContext } from '../context.js';

// RFC 8555 §7.2: HEAD answers 200, GET (and POST-as-GET, §6.3) 204; the profile middleware has set Replay-Nonce.
export async function newNonce(ctx: ProfiledContext): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  if (ctx.method === 'HEAD') {
    ctx.status = 200;
    return;
  }
  ctx.status = 204;
}
