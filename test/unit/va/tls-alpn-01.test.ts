import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNetClient } from '../../../src/va/net-node.js';
import { createTlsAlpn01Validator, reverseDnsName } from '../../../src/va/tls-alpn-01.js';
import type { ValidationInput, ValidationResult } from '../../../src/va/validator.js';
import { startChalltestsrv, type Challtestsrv } from '../../fakes/challtestsrv.js';
import {
  acmeIdentifierValue,
  closedPort,
  keyAuthorizationFor,
  selfSignedCert,
  sha256,
  startSilentServer,
  startTlsServer,
  type CertOptions,
  type TestServer,
  type TlsServer,
} from './fixtures.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTHORIZATION = keyAuthorizationFor(TOKEN);
const GOOD_EXTENSION = { extnValue: acmeIdentifierValue(sha256(KEY_AUTHORIZATION)), critical: true };
const input = (value = 'a.example.test', type: 'dns' | 'ip' = 'dns'): ValidationInput => ({
  identifier: { type, value },
  wildcard: false,
  token: TOKEN,
  keyAuthorization: KEY_AUTHORIZATION,
});
const signal = (): AbortSignal => AbortSignal.timeout(5_000);

let dns: Challtestsrv;
const servers: TestServer[] = [];
beforeAll(async () => {
  dns = await startChalltestsrv({ http01: false });
});
afterAll(async () => {
  await dns.stop();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(cert: CertOptions, alpn?: string[]): Promise<TlsServer> {
  const server = await startTlsServer(await selfSignedCert(cert), alpn);
  servers.push(server);
  return server;
}

function validatorFor(port: number, timeoutMs = 5_000) {
  return createTlsAlpn01Validator(createNetClient({ dnsResolver: dns.dns, http01Port: 1, tlsAlpn01Port: port, timeoutMs }));
}

function refusal(result: ValidationResult): { type: string; detail: string } {
  expect(result.status).toBe('invalid');
  return result.status === 'invalid' ? { type: result.problem.type, detail: result.problem.detail } : { type: '', detail: '' };
}

describe('tls-alpn-01', () => {
  it('is valid with one dNSName and a critical acmeIdentifier holding the digest, sending SNI', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'a.example.test' }], acmeIdentifier: GOOD_EXTENSION });
    const result = await validatorFor(server.port).validate(input(), signal());
    expect(result).toEqual({
      status: 'valid',
      records: [
        {
          hostname: 'a.example.test',
          port: String(server.port),
          addressesResolved: ['127.0.0.1'],
          addressUsed: '127.0.0.1',
          resolver: dns.dnsAddress,
        },
      ],
    });
    expect(server.servernames).toEqual(['a.example.test']);
  });

  it('compares the dNSName without regard to case (RFC 4343)', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'A.Example.TEST' }], acmeIdentifier: GOOD_EXTENSION });
    expect((await validatorFor(server.port).validate(input(), signal())).status).toBe('valid');
  });

  it('validates an IP with an iPAddress SAN and the reverse name as SNI (RFC 8738 §6)', async () => {
    const server = await serve({ san: [{ type: 'ip', value: '127.0.0.1' }], acmeIdentifier: GOOD_EXTENSION });
    const result = await validatorFor(server.port).validate(input('127.0.0.1', 'ip'), signal());
    expect(result).toEqual({
      status: 'valid',
      records: [{ hostname: '127.0.0.1', port: String(server.port), addressesResolved: ['127.0.0.1'], addressUsed: '127.0.0.1' }],
    });
    expect(server.servernames).toEqual(['1.0.0.127.in-addr.arpa']);
  });

  it('refuses a certificate without the acmeIdentifier extension', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'a.example.test' }] });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('unauthorized');
    expect(detail).toBe(
      `tls-alpn-01: the certificate from 127.0.0.1:${server.port} has 0 acmeIdentifier extensions (1.3.6.1.5.5.7.1.31); RFC 8737 §3 requires one`,
    );
  });

  it('refuses a non-critical acmeIdentifier extension', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'a.example.test' }], acmeIdentifier: { ...GOOD_EXTENSION, critical: false } });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('unauthorized');
    expect(detail).toContain('has an acmeIdentifier extension that is not critical');
  });

  it('refuses a digest of another key authorization with incorrectResponse', async () => {
    const server = await serve({
      san: [{ type: 'dns', value: 'a.example.test' }],
      acmeIdentifier: { extnValue: acmeIdentifierValue(sha256(keyAuthorizationFor(TOKEN, 'other'))), critical: true },
    });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('incorrectResponse');
    expect(detail).toContain('not the DER OCTET STRING of SHA-256 of the key authorization');
  });

  it('refuses the raw digest without its OCTET STRING header', async () => {
    const server = await serve({
      san: [{ type: 'dns', value: 'a.example.test' }],
      acmeIdentifier: { extnValue: sha256(KEY_AUTHORIZATION), critical: true },
    });
    expect(refusal(await validatorFor(server.port).validate(input(), signal())).type).toBe('incorrectResponse');
  });

  it('refuses a SAN naming another domain', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'b.example.test' }], acmeIdentifier: GOOD_EXTENSION });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('unauthorized');
    expect(detail).toBe(
      `tls-alpn-01: the certificate from 127.0.0.1:${server.port} has subjectAltName dns:b.example.test; RFC 8737 §3 requires a single dNSName a.example.test and no other entries`,
    );
  });

  it('refuses a SAN with the domain and another entry', async () => {
    const server = await serve({
      san: [{ type: 'dns', value: 'a.example.test' }, { type: 'dns', value: 'b.example.test' }],
      acmeIdentifier: GOOD_EXTENSION,
    });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('unauthorized');
    expect(detail).toContain('has subjectAltName dns:a.example.test, dns:b.example.test');
  });

  it('refuses a certificate without a SAN extension', async () => {
    const server = await serve({ san: [], acmeIdentifier: GOOD_EXTENSION });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('unauthorized');
    expect(detail).toContain('has 0 subjectAltName extensions');
  });

  it('refuses a dNSName SAN for an IP identifier', async () => {
    const server = await serve({ san: [{ type: 'dns', value: '127.0.0.1' }], acmeIdentifier: GOOD_EXTENSION });
    const { type, detail } = refusal(await validatorFor(server.port).validate(input('127.0.0.1', 'ip'), signal()));
    expect(type).toBe('unauthorized');
    expect(detail).toContain('requires a single iPAddress 127.0.0.1');
  });

  it('refuses a server that negotiates no ALPN protocol with tls', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'a.example.test' }], acmeIdentifier: GOOD_EXTENSION }, []);
    const { type, detail } = refusal(await validatorFor(server.port).validate(input(), signal()));
    expect(type).toBe('tls');
    expect(detail).toBe(
      `tls-alpn-01 for name a.example.test: 127.0.0.1:${server.port} did not negotiate ALPN protocol "acme-tls/1" (got no protocol)`,
    );
  });

  it('refuses a server that only speaks other ALPN protocols with tls', async () => {
    const server = await serve({ san: [{ type: 'dns', value: 'a.example.test' }], acmeIdentifier: GOOD_EXTENSION }, ['h2', 'http/1.1']);
    expect(refusal(await validatorFor(server.port).validate(input(), signal())).type).toBe('tls');
  });

  it('reports a refused connection with connection', async () => {
    const port = await closedPort();
    const { type, detail } = refusal(await validatorFor(port).validate(input(), signal()));
    expect(type).toBe('connection');
    expect(detail).toBe(`tls-alpn-01 for name a.example.test: connection to 127.0.0.1:${port} refused`);
  });

  it('gives up on a server that never completes the handshake', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const { type, detail } = refusal(await validatorFor(silent.port).validate(input(), AbortSignal.timeout(200)));
    expect(type).toBe('connection');
    expect(detail).toContain(`no TLS handshake with 127.0.0.1:${silent.port} before the deadline`);
  });

  it('accepts DNS and IP identifiers but not wildcards', () => {
    const v = validatorFor(1);
    expect(v.accepts({ type: 'dns', value: 'a.example.test' }, false)).toBe(true);
    expect(v.accepts({ type: 'ip', value: '192.0.2.1' }, false)).toBe(true);
    expect(v.accepts({ type: 'dns', value: 'example.test' }, true)).toBe(false);
  });

  it('builds reverse names as RFC 8738 §6 shows', () => {
    expect(reverseDnsName('2001:db8::1')).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
    expect(reverseDnsName('192.0.2.10')).toBe('10.2.0.192.in-addr.arpa');
    expect(reverseDnsName('::ffff:192.0.2.1')).toBe('1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa');
    expect(reverseDnsName('not-an-ip')).toBeUndefined();
  });
});
