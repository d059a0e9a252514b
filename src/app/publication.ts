/**
 * What a CA publishes over plain HTTP for relying parties: the built-in CA's CRL and issuing CA
 * certificate, at the URLs its certificates name (CRL distribution point, AIA caIssuers).
 */
import { Router } from '@koa/router';
import { X509Certificate } from 'node:crypto';
import { caIssuersPath, crlPath } from '../../connectors/embedded/index.js';
import type { AcmeState } from '../acme/context.js';
import { hasCrlPublisher, hasTrustAnchors, type Connector } from '../sdk/connector.js';

export function publicationRouter(connectors: ReadonlyMap<string, Connector>): Router<AcmeState> {
  const r = new Router<AcmeState>();
  for (const [name, connector] of connectors) {
    if (hasCrlPublisher(connector)) {
      r.get(crlPath(name), async (ctx) => {
        ctx.type = 'application/pkix-crl';
        ctx.set('Cache-Control', 'max-age=60');
        ctx.body = Buffer.from(await connector.crl(AbortSignal.timeout(10_000)));
      });
    }
    if (hasTrustAnchors(connector)) {
      r.get(caIssuersPath(name), (ctx) => {
        const pems = connector.caCertificatesPem();
        const issuing = pems[pems.length - 1];
        if (!issuing) return;
        ctx.type = 'application/pkix-cert';
        ctx.body = Buffer.from(new X509Certificate(issuing).raw);
      });
    }
  }
  return r;
}
