/**
 * OCSP over HTTP (RFC 6960 Appendix A) for a connector that answers OCSP itself (OcspResponder,
 * the built-in CA): POST {path} with a DER body, or GET {path}/{url-encoded base64 DER}. Every
 * OCSP outcome, error statuses included, is 200 application/ocsp-response (RFC 5019 §2.2.3 does
 * the same); HTTP errors are kept for what never reached the responder.
 */
import type { Middleware, ParameterizedContext, Next } from 'koa';
import type { OcspResponder } from '../sdk/connector.js';
import type { Logger } from '../lib/logger.js';
import { below, rawTarget } from './path.js';

/** A request for a handful of certificates is a few hundred bytes; far more is not OCSP. */
export const MAX_OCSP_BODY_BYTES = 16 * 1024;
/** RFC 6960 §4.2.1 OCSPResponse { responseStatus tryLater (3) }: unsigned, for a responder that cannot answer now. */
const TRY_LATER = new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x03]);

export interface OcspEndpointOptions {
  log: Pick<Logger, 'warn'>;
  /** Deadline for one answer; default 5 s. */
  timeoutMs?: number;
}

/** The DER request in a GET path below the endpoint (RFC 6960 Appendix A.1), or an empty array when it does not decode. */
export function ocspRequestFromGetPath(encoded: string): Uint8Array {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return new Uint8Array(0); // the responder answers malformedRequest
  }
  // Base64 as sent; "+" may have become " " on the way, and some clients send base64url.
  return new Uint8Array(Buffer.from(text.replace(/ /g, '+'), 'base64'));
}

async function readBody(ctx: ParameterizedContext, limit: number): Promise<Uint8Array | 'too-large'> {
  const declared = Number(ctx.get('Content-Length') || '0');
  if (declared > limit) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > limit) return 'too-large';
    chunks.push(b);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Serves `responder` at `path` (e.g. ocspPath(name) of the built-in CA). Other paths pass through.
 * 405 with Allow for methods other than GET and POST, 413 for a body over MAX_OCSP_BODY_BYTES,
 * 415 for a POST whose Content-Type is set and not application/ocsp-request.
 */
export function createOcspEndpoint(path: string, responder: OcspResponder, opts: OcspEndpointOptions): Middleware {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return async (ctx: ParameterizedContext, next: Next): Promise<void> => {
    const target = rawTarget(ctx.req.url ?? '/');
    const rest = target === undefined ? undefined : below(target.path, path);
    if (rest === undefined) return next();
    const refuse = (status: number, body: string) => {
      ctx.status = status;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = body;
    };

    let request: Uint8Array;
    if (ctx.method === 'GET' && rest.length > 1) {
      request = ocspRequestFromGetPath(rest.slice(1));
    } else if (ctx.method === 'POST' && (rest === '' || rest === '/')) {
      // RFC 6960 Appendix A.1: "The Content-Type header has the value application/ocsp-request".
      const type = ctx.get('Content-Type');
      if (type !== '' && !ctx.is('application/ocsp-request')) return refuse(415, 'expected application/ocsp-request\n');
      const body = await readBody(ctx, MAX_OCSP_BODY_BYTES);
      if (body === 'too-large') return refuse(413, `an OCSP request is at most ${MAX_OCSP_BODY_BYTES} bytes\n`);
      request = body;
    } else if (ctx.method === 'GET' || ctx.method === 'POST') {
      return refuse(404, `GET ${path}/{base64 request} or POST ${path}\n`);
    } else {
      ctx.set('Allow', 'GET, POST');
      return refuse(405, 'method not allowed\n');
    }

    let answer: Uint8Array;
    try {
      answer = await responder.ocsp(request, AbortSignal.timeout(timeoutMs));
    } catch (e) {
      // RFC 6960 §2.3: "tryLater ... the service exists but is temporarily unable to respond".
      opts.log.warn({ path, err: e instanceof Error ? e.message : String(e) }, 'ocsp responder unavailable; answered tryLater');
      answer = TRY_LATER;
    }
    ctx.status = 200;
    ctx.type = 'application/ocsp-response'; // Appendix A.2
    ctx.body = Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
  };
}
