import { describe, it, expect, beforeEach } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { ConnectorError, type OcspResponder } from '../../../src/sdk/index.js';
import { createOcspEndpoint, MAX_OCSP_BODY_BYTES } from '../../../src/proxy/ocsp-http.js';
import { memoryLog, send } from './helpers.js';

/** Answers with "echo:" and the request bytes, so the test sees what the endpoint decoded. */
class EchoResponder implements OcspResponder {
  received: Uint8Array[] = [];
  failWith?: Error;
  async ocsp(requestDer: Uint8Array): Promise<Uint8Array> {
    if (this.failWith) throw this.failWith;
    this.received.push(requestDer);
    return new Uint8Array(Buffer.concat([Buffer.from('echo:'), requestDer]));
  }
}

describe('createOcspEndpoint', () => {
  let port: number;
  let responder: EchoResponder;
  let log: ReturnType<typeof memoryLog>;
  beforeEach(async () => {
    responder = new EchoResponder();
    log = memoryLog();
    const app = new Koa();
    app.use(createOcspEndpoint('/ocsp/embedded', responder, { log }));
    app.use((ctx) => {
      ctx.status = 404;
      ctx.body = 'next';
    });
    const server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const request = Buffer.from([0x30, 0x0b, 0xfb, 0xff, 0xfe, 0x3e, 0x3f, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05]); // base64 has "+" and "/"

  it('answers a POST with the DER body as application/ocsp-response', async () => {
    const r = await send(port, { method: 'POST', path: '/ocsp/embedded', body: request, headers: { 'content-type': 'application/ocsp-request' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/ocsp-response');
    expect(r.body).toEqual(Buffer.concat([Buffer.from('echo:'), request]));
  });

  it('decodes a GET with url-encoded base64 (RFC 6960 Appendix A.1)', async () => {
    const b64 = request.toString('base64');
    expect(b64).toMatch(/[+/]/);
    const r = await send(port, { path: `/ocsp/embedded/${encodeURIComponent(b64)}` });
    expect(r.status).toBe(200);
    expect(Buffer.from(responder.received[0]!)).toEqual(request);
  });

  it('decodes a GET whose base64 was sent without url-encoding, "/" and all', async () => {
    const r = await send(port, { path: `/ocsp/embedded/${request.toString('base64')}` });
    expect(r.status).toBe(200);
    expect(Buffer.from(responder.received[0]!)).toEqual(request);
  });

  it('refuses a POST of another content type with 415 and a large one with 413', async () => {
    expect((await send(port, { method: 'POST', path: '/ocsp/embedded', body: request, headers: { 'content-type': 'application/json' } })).status).toBe(415);
    const big = Buffer.alloc(MAX_OCSP_BODY_BYTES + 1);
    expect((await send(port, { method: 'POST', path: '/ocsp/embedded', body: big, headers: { 'content-type': 'application/ocsp-request' } })).status).toBe(413);
    expect(responder.received).toHaveLength(0);
  });

  it('answers 405 with Allow to other methods', async () => {
    const r = await send(port, { method: 'PUT', path: '/ocsp/embedded', body: request });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, POST');
  });

  it('passes other paths to the next middleware', async () => {
    expect((await send(port, { path: '/ocsp/embeddedx/abc' })).body.toString()).toBe('next');
    expect((await send(port, { path: '/ocsp/other/abc' })).body.toString()).toBe('next');
  });

  it('answers tryLater, unsigned, when the responder cannot answer', async () => {
    responder.failWith = new ConnectorError('unavailable', 'closed');
    const r = await send(port, { method: 'POST', path: '/ocsp/embedded', body: request });
    expect(r.status).toBe(200);
    expect(r.body.toString('hex')).toBe('30030a0103');
    expect(log.lines).toMatchObject([{ level: 'warn', msg: 'ocsp responder unavailable; answered tryLater' }]);
  });
});
