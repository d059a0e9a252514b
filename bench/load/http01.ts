/**
 * The load generator's http-01 responder (RFC 8555 §8.3): serves the key authorization at
 * `/.well-known/acme-challenge/{token}` on 127.0.0.1. Both servers validate against this port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const PREFIX = '/.well-known/acme-challenge/';

export interface Http01Responder {
  readonly port: number;
  /** Number of challenge requests answered (to see that the server really validated). */
  readonly served: () => number;
  set(token: string, keyAuthorization: string): void;
  delete(token: string): void;
  close(): Promise<void>;
}

export async function startHttp01Responder(port = 0): Promise<Http01Responder> {
  const answers = new Map<string, string>();
  let served = 0;
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    const answer = url.startsWith(PREFIX) ? answers.get(url.slice(PREFIX.length)) : undefined;
    if (answer === undefined) {
      res.writeHead(404).end();
      return;
    }
    served++;
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(answer);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    served: () => served,
    set: (token, keyAuthorization) => answers.set(token, keyAuthorization),
    delete: (token) => answers.delete(token),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
