import { z } from 'zod';
import { base64url } from '../../lib/base64url.js';
import { problem } from '../../protocol/problem.js';
import type { JwsContext } from '../context.js';
import { parsePayload } from '../payload.js';

// RFC 8555 §7.6: signed by an account (kid) or by the certificate's key (jwk).
const RevokePayload = z.object({ certificate: z.string().min(1), reason: z.number().int().optional() });

export async function revokeCert(ctx: JwsContext): Promise<void> {
  const { svc, profile, jws, account } = ctx.state;
  const req = parsePayload(RevokePayload, jws);
  const der = base64url.decode(req.certificate);
  if (!der || der.length === 0) throw problem.malformed('"certificate" is not base64url-encoded DER');
  const requester = account ? ({ kind: 'account', account } as const) : ({ kind: 'certificate-key', key: jws.key } as const);
  await svc.ra.revocation.revoke(profile, requester, der, req.reason);
  // §7.6: "200 (OK)" with an empty body; an empty string keeps Koa from turning it into 204.
  ctx.status = 200;
  ctx.body = '';
}
