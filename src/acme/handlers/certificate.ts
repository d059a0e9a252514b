import { problem } from '../../protocol/problem.js';
import type { CertificateId } from '../../storage/store.js';
import type { KidContext } from '../context.js';
import { requirePostAsGet } from '../payload.js';

// RFC 8555 §7.4.2: the leaf and its chain as application/pem-certificate-chain, POST-as-GET.
export async function certificate(ctx: KidContext): Promise<void> {
  const { svc, jws, account } = ctx.state;
  requirePostAsGet(jws);
  const cert = await svc.ra.certificates.get(ctx.params.id as CertificateId);
  if (!cert || cert.profile !== account.profile) throw problem.notFound('certificate');
  if (cert.accountId !== account.id) throw problem.unauthorized('this certificate belongs to another account');
  ctx.type = 'application/pem-certificate-chain';
  ctx.body = cert.chainPem;
}
