import type { ZodType } from 'zod';
import { problem } from '../protocol/problem.js';
import type { VerifiedRequest } from './context.js';

/** Parses a JWS payload with its schema; a failure is `malformed` naming the field. */
export function parsePayload<T>(schema: ZodType<T>, jws: VerifiedRequest): T {
  if (jws.payload === undefined) throw problem.malformed('this resource needs a JSON payload, not POST-as-GET');
  const r = schema.safeParse(jws.payload);
  if (!r.success) {
    const i = r.error.issues[0];
    const where = i && i.path.length ? i.path.map(String).join('.') : 'payload';
    throw problem.malformed(`${where}: ${i?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** RFC 8555 §6.3: POST-as-GET carries an empty payload. */
export function requirePostAsGet(jws: VerifiedRequest): void {
  if (jws.payload !== undefined) throw problem.malformed('this resource is fetched with POST-as-GET (an empty payload)');
}
