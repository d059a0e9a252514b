import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetClient } from '../../../src/va/net-node.js';
import type { NetClient } from '../../../src/va/net.js';
import { startChalltestsrv, type Challtestsrv } from '../../fakes/challtestsrv.js';
import { startDnsResponder } from '../../fakes/dns-responder.js';

const signal = (): AbortSignal => AbortSignal.timeout(5_000);

let dns: Challtestsrv;
let net: NetClient;
beforeAll(async () => {
  dns = await startChalltestsrv();
  net = createNetClient({ dnsResolver: dns.dns, http01Port: dns.http01Port ?? 0, tlsAlpn01Port: 1, timeoutMs: 5_000 });
});
afterAll(async () => {
  await dns.stop();
});

describe('createNetClient against pebble-challtestsrv', () => {
  it('names the configured resolver and ports', () => {
    expect(net.resolverName).toBe(dns.dnsAddress);
    expect(net.ports).toEqual({ http01: dns.http01Port, tlsAlpn01: 1 });
  });

  it('resolves every name to 127.0.0.1 by default, and explicit A and AAAA records', async () => {
    expect(await net.resolveAddresses('anything.example.test', signal())).toEqual(['127.0.0.1']);
    await dns.addA('multi.example.test', ['127.0.0.2', '127.0.0.3']);
    await dns.addAaaa('multi.example.test', ['::1']);
    expect(await net.resolveAddresses('multi.example.test', signal())).toEqual(['::1', '127.0.0.2', '127.0.0.3']);
  });

  it('follows a CNAME for addresses', async () => {
    await dns.addA('target.example.test', ['127.0.0.9']);
    await dns.addCname('alias.example.test', 'target.example.test');
    expect(await net.resolveAddresses('alias.example.test', signal())).toEqual(['127.0.0.9']);
  });

  it('reads CAA records as tag and value', async () => {
    await dns.addCaa('caa.example.test', [{ tag: 'issue', value: 'ca.example.test' }, { tag: 'iodef', value: 'mailto:ops@example.test' }]);
    expect(await net.resolveCaa('caa.example.test', signal())).toEqual([
      { critical: 0, tag: 'issue', value: 'ca.example.test' },
      { critical: 0, tag: 'iodef', value: 'mailto:ops@example.test' },
    ]);
    expect(await net.resolveCaa('no-caa.example.test', signal())).toEqual([]);
  });

  it('reads the CAA flags octet whole, so the critical flag is 128', async () => {
    const responder = await startDnsResponder();
    try {
      responder.set('flags.example.test', { caa: [{ flags: 128, tag: 'tbs', value: 'Unknown' }, { flags: 1, tag: 'issue', value: 'ca.example.test' }] });
      const client = createNetClient({ dnsResolver: responder.dns, http01Port: 1, tlsAlpn01Port: 1, timeoutMs: 5_000 });
      expect(await client.resolveCaa('flags.example.test', signal())).toEqual([
        { critical: 128, tag: 'tbs', value: 'Unknown' },
        { critical: 1, tag: 'issue', value: 'ca.example.test' },
      ]);
    } finally {
      await responder.stop();
    }
  });

  it('reads a CNAME target without the trailing dot, and none for a name that is not an alias', async () => {
    await dns.addCname('cname-alias.example.test', 'cname-target.example.test');
    expect(await net.resolveCname('cname-alias.example.test', signal())).toEqual(['cname-target.example.test']);
    expect(await net.resolveCname('cname-target.example.test', signal())).toEqual([]);
    await dns.setServfail('cname-fail.example.test');
    await expect(net.resolveCname('cname-fail.example.test', signal())).rejects.toMatchObject({ name: 'NetError', kind: 'dns' });
  });

  it('returns no TXT records for a name without any, and each record once', async () => {
    expect(await net.resolveTxt('_acme-challenge.empty.example.test', signal())).toEqual([]);
    await dns.addTxt('_acme-challenge.two.example.test', 'one');
    await dns.addTxt('_acme-challenge.two.example.test.', 'two');
    expect((await net.resolveTxt('_acme-challenge.two.example.test', signal())).sort()).toEqual(['one', 'two']);
    await dns.clearTxt('_acme-challenge.two.example.test');
    expect(await net.resolveTxt('_acme-challenge.two.example.test', signal())).toEqual([]);
  });

  it("fetches from the helper's own http-01 responder with the name as Host", async () => {
    await dns.addHttp01('tok', 'tok.thumb');
    const result = await net.httpGet(new URL('http://a.example.test/.well-known/acme-challenge/tok'), {
      maxBytes: 1024,
      maxRedirects: 0,
      signal: signal(),
    });
    expect({ status: result.status, body: Buffer.from(result.body).toString(), addressUsed: result.addressUsed }).toEqual({
      status: 200,
      body: 'tok.thumb',
      addressUsed: '127.0.0.1',
    });
    expect(result.urls).toEqual([`http://a.example.test:${dns.http01Port}/.well-known/acme-challenge/tok`]);
  });

  it('connects to the addresses the caller resolved for the first hop, without looking the name up again', async () => {
    await dns.addHttp01('tok2', 'tok2.thumb');
    await dns.setServfail('given.example.test'); // a lookup of this name would fail
    try {
      const result = await net.httpGet(new URL('http://given.example.test/.well-known/acme-challenge/tok2'), {
        maxBytes: 1024,
        maxRedirects: 0,
        signal: signal(),
        addresses: ['127.0.0.1'],
      });
      expect({ status: result.status, body: Buffer.from(result.body).toString(), addressUsed: result.addressUsed }).toEqual({ status: 200, body: 'tok2.thumb', addressUsed: '127.0.0.1' });
      await expect(net.httpGet(new URL('http://given.example.test/.well-known/acme-challenge/tok2'), { maxBytes: 1024, maxRedirects: 0, signal: signal() })).rejects.toMatchObject({ kind: 'dns' });
    } finally {
      await dns.clearServfail('given.example.test');
    }
  });

  it('reports SERVFAIL as a dns NetError', async () => {
    await dns.setServfail('fail.example.test');
    await expect(net.resolveAddresses('fail.example.test', signal())).rejects.toMatchObject({ name: 'NetError', kind: 'dns' });
    await dns.clearServfail('fail.example.test');
    expect(await net.resolveAddresses('fail.example.test', signal())).toEqual(['127.0.0.1']);
  });

  it('writes an IPv6 resolver as [address]:port', () => {
    const v6 = createNetClient({ dnsResolver: { host: '::1', port: 53 }, http01Port: 80, tlsAlpn01Port: 443, timeoutMs: 1_000 });
    expect(v6.resolverName).toBe('[::1]:53');
  });

  it('refuses a resolver given by name, since it could only be found through the system resolver', () => {
    expect(() => createNetClient({ dnsResolver: { host: 'dns.example.test', port: 53 }, http01Port: 80, tlsAlpn01Port: 443, timeoutMs: 1_000 })).toThrow(
      'validation DNS resolver must be an IP address, got "dns.example.test"',
    );
  });
});

describe('startChalltestsrv', () => {
  it('fails with the package to install when the binary is missing', async () => {
    await expect(startChalltestsrv({ binary: '/nonexistent/pebble-challtestsrv' })).rejects.toThrow(
      '/nonexistent/pebble-challtestsrv is missing or not executable: install the Debian package "pebble"',
    );
  });
});
