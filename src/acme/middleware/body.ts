/** RFC 8555 §6.2: POST bodies are application/jose+json, read raw and bounded in size. */
import type { Next } from 'koa';
import { problem } from '../../protocol/problem.js';
import type { AcmeContext } from '../context.js';

export async function body(ctx: AcmeContext, next: Next): Promise<void> {
  const type = (ctx.get('Content-Type') || '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/jose+json') {
    throw problem.malformed(`Content-Type must be application/jose+json, not "${type || 'none'}"`, 415);
  }
  const limit = ctx.state.svc.bodyLimitBytes;
  const declared = Number(ctx.get('Content-Length') || '0');
  if (declared > limit) throw problem.malformed(`the request body is larger than ${limit} bytes`, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw problem.malformed(`the request body is larger than ${limit} bytes`, 413);
    chunks.push(chunk);
  }
  ctx.state.rawBody = Buffer.concat(chunks);
  await next();
}
