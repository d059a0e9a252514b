/** One log line per request: method, route, profile, account, status, problem type, duration. */
import type { Next } from 'koa';
import { randomUUID } from 'node:crypto';
import type { AcmeContext, AcmeServices } from '../context.js';

export function requestLog(svc: AcmeServices) {
  return async (ctx: AcmeContext, next: Next): Promise<void> => {
    const started = performance.now();
    ctx.state.svc = svc;
    ctx.state.reqId = randomUUID();
    ctx.state.log = svc.log.child({ reqId: ctx.state.reqId });
    try {
      await next();
    } finally {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      const entry = {
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms,
        ...(ctx.state.profile ? { profile: ctx.state.profile.name } : {}),
        ...(ctx.state.account ? { account: ctx.state.account.id } : {}),
        ...(typeof ctx.state.problemType === 'string' ? { problem: ctx.state.problemType } : {}),
      };
      if (ctx.status >= 500) ctx.state.log.warn(entry, 'request');
      else ctx.state.log.info(entry, 'request');
    }
  };
}
