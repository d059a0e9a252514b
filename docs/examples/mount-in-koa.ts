/**
 * A small existing Koa app that mounts the ACME gateway under /pki.
 *
 *   npx tsx docs/examples/mount-in-koa.ts            # then: curl http://127.0.0.1:3000/pki/acme/default/directory
 *
 * The host app keeps its own routes; everything below /pki is the gateway. Links, Location headers
 * and the JWS "url" check follow server.baseUrl, which must be the public URL of the prefix — here
 * plain HTTP on loopback; behind a TLS-terminating proxy it would be https://your.host/pki.
 * Mount the gateway before any body parser of the host app: it reads its own request bodies.
 */
import Koa from 'koa';
import { createAcmeGateway, loadGatewayConfig } from '../../src/index.js';

const port = Number(process.argv[2] ?? 3000);
const host = new Koa();
host.use(async (ctx, next) => {
  if (ctx.path === '/') {
    ctx.body = 'the host application; ACME lives under /pki';
    return;
  }
  await next();
});

const config = await loadGatewayConfig({
  raw: {
    dataDir: './data-mounted',
    server: { baseUrl: `http://127.0.0.1:${port}/pki`, tls: { mode: 'off' } },
  },
});
const gateway = await createAcmeGateway(config);
host.use(gateway.middleware('/pki'));
gateway.start(); // background work (the issuance reconciler); there is no listener of its own

const server = host.listen(port, '127.0.0.1', () => {
  process.stdout.write(`Directory: ${gateway.directoryUrl()}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  void gateway.stop();
});
