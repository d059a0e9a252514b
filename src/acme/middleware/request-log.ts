/** One log line per request: method, route, profile, account, status, problem type, duration. */
import type { Next } from 'koa';
import { randomUUID } from 'node:crypto';
import type { AcmeContext, AcmeServices } from '../context.js';
import { LazyChildLogger } from '../../lib/logger.js';

export function requestLog(svc: AcmeServices) {
  return async (ctx: AcmeContext, next: Next): Promise<void> => {
    const started = performance.now();
    ctx.state.svc = svc;
    ctx.state.reqId = randomUUID();
    const reqId = ctx.state.reqId;
    ctx.state.log = new LazyChildLogger(svc.log, { reqId });
    try {
      await next();
    } finally {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      const entry = {
        reqId,
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms,
        ...(ctx.state.profile ? { profile: ctx.state.profile.name } : {}),
        ...(ctx.state.account ? { account: ctx.state.account.id } : {}),
        ...(typeof ctx.state.problemType === 'string' ? { problem: ctx.state.problemType } : {}),
      };
      // The request line goes straight to the service logger: the same fields as through the
      // request's child, without making one for it.
      if (ctx.status >= 500) svc.log.warn(entry, 'request');
      else svc.log.info(entry, 'request');
    }
  };
}
