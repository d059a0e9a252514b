import { describe, it, expect } from 'vitest';
import { ProxyRoutesSchema } from '../../../src/proxy/config.js';

const issuesOf = (input: unknown) => {
  const r = ProxyRoutesSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('ProxyRoutesSchema', () => {
  it('is an empty list when absent', () => {
    expect(ProxyRoutesSchema.parse(undefined)).toEqual([]);
  });

  it('fills methods GET and HEAD and a 10 s timeout', () => {
    expect(ProxyRoutesSchema.parse([{ prefix: '/crl', target: 'http://ca.internal:8080/crls' }])).toEqual([
      { prefix: '/crl', target: 'http://ca.internal:8080/crls', methods: ['GET', 'HEAD'], timeoutMs: 10_000 },
    ]);
  });

  it('upper-cases methods and drops repeats', () => {
    const [route] = ProxyRoutesSchema.parse([{ prefix: '/ocsp', target: 'http://ca/ocsp', methods: ['get', 'POST', 'post'] }]);
    expect(route?.methods).toEqual(['GET', 'POST']);
  });

  it('defaults tls.rejectUnauthorized to true', () => {
    const [route] = ProxyRoutesSchema.parse([{ prefix: '/ocsp', target: 'https://ca/ocsp', tls: { caFile: '/etc/ca.pem' } }]);
    expect(route?.tls).toEqual({ caFile: '/etc/ca.pem', rejectUnauthorized: true });
  });

  it.each([
    ['/', 'prefix'],
    ['ocsp', 'prefix'],
    ['/ocsp/', 'prefix'],
    ['/ocsp/../admin', 'prefix'],
    ['/a/./b', 'prefix'],
    ['/a//b', 'prefix'],
    ['/a%2fb', 'prefix'],
    ['/acme', 'prefix'],
    ['/acme/x', 'prefix'],
  ])('refuses the prefix %s', (prefix, field) => {
    expect(issuesOf([{ prefix, target: 'http://ca/' }]).some((i) => i.startsWith(`0.${field}:`))).toBe(true);
  });

  it.each([
    'ftp://ca/x',
    'ca.internal/ocsp',
    'http://user:secret@ca/ocsp',
    'http://ca/ocsp?x=1',
    'http://ca/ocsp#x',
  ])('refuses the target %s', (target) => {
    expect(issuesOf([{ prefix: '/ocsp', target }]).some((i) => i.startsWith('0.target:'))).toBe(true);
  });

  it('refuses CONNECT, TRACE and unknown methods', () => {
    for (const m of ['CONNECT', 'TRACE', 'BREW']) {
      expect(issuesOf([{ prefix: '/a', target: 'http://ca/', methods: [m] }]).some((i) => i.startsWith('0.methods.0:'))).toBe(true);
    }
    expect(issuesOf([{ prefix: '/a', target: 'http://ca/', methods: [] }]).length).toBeGreaterThan(0);
  });

  it('refuses the same prefix twice', () => {
    expect(issuesOf([{ prefix: '/a', target: 'http://ca/' }, { prefix: '/a', target: 'http://other/' }])).toEqual([
      '1.prefix: prefix /a is already routed by entry 0',
    ]);
  });

  it('refuses tls settings for an http target, and half a client key pair', () => {
    expect(issuesOf([{ prefix: '/a', target: 'http://ca/', tls: { rejectUnauthorized: false } }])).toEqual(['0.tls: tls settings need an https:// target']);
    expect(issuesOf([{ prefix: '/a', target: 'https://ca/', tls: { clientCertFile: '/c.pem' } }])).toEqual([
      '0.tls.clientKeyFile: a client certificate needs its key and the other way round',
    ]);
    expect(issuesOf([{ prefix: '/a', target: 'https://ca/', tls: { ca: '-----BEGIN CERTIFICATE-----', caFile: '/ca.pem' } }])).toEqual([
      '0.tls.ca: give ca or caFile, not both',
    ]);
  });

  it('refuses unknown keys and timeouts out of range', () => {
    expect(issuesOf([{ prefix: '/a', target: 'http://ca/', colour: 'red' }]).length).toBe(1);
    expect(issuesOf([{ prefix: '/a', target: 'http://ca/', timeoutMs: 0 }])).toHaveLength(1);
    expect(issuesOf([{ prefix: '/a', target: 'http://ca/', timeoutMs: 600_001 }])).toHaveLength(1);
  });
});
