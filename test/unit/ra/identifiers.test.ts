/**
 * Identifier parsing (src/ra/identifiers.ts): RFC 8555 §7.1.4 dns names and wildcards, RFC 8738 ip
 * addresses, and every refused identifier reported at once as a subproblem (§6.7.1).
 */
import { describe, it, expect } from 'vitest';
import { AcmeProblem, type Subproblem } from '../../../src/protocol/problem.js';
import { canonicalIp, parseIdentifier, parseIdentifiers, type ParsedIdentifier } from '../../../src/ra/identifiers.js';

const dns = (value: string) => ({ type: 'dns', value });
const ip = (value: string) => ({ type: 'ip', value });

function parsed(raw: { type: string; value: string }): ParsedIdentifier {
  const p = parseIdentifier(raw);
  if ('detail' in p) throw new Error(`expected ${raw.value} to parse, got: ${p.detail}`);
  return p;
}

function refused(raw: { type: string; value: string }): Subproblem {
  const p = parseIdentifier(raw);
  if (!('detail' in p)) throw new Error(`expected ${raw.value} to be refused`);
  return p;
}

function problemOf(fn: () => unknown): AcmeProblem {
  try {
    fn();
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected a problem, nothing was thrown');
}

describe('dns identifiers (§7.1.4)', () => {
  it('lower-cases a name and drops its trailing dot', () => {
    expect(parsed(dns('WWW.Example.TEST.')).identifier).toEqual({ type: 'dns', value: 'www.example.test' });
  });

  it('gives a wildcard its base domain as the authorization identifier (§7.1.3)', () => {
    expect(parsed(dns('*.Example.test'))).toEqual({
      identifier: { type: 'dns', value: '*.example.test' },
      authzIdentifier: { type: 'dns', value: 'example.test' },
      wildcard: true,
    });
  });

  it('accepts a properly encoded A-label', () => {
    expect(parsed(dns('xn--bcher-kva.example')).identifier.value).toBe('xn--bcher-kva.example');
  });

  it('refuses an "xn--" label that is not valid Punycode, naming the label (§7.1.4 MUST)', () => {
    expect(refused(dns('xn--zz.example'))).toEqual({
      type: 'rejectedIdentifier',
      detail: '"xn--zz.example" has a label "xn--zz" that is not a valid A-label (RFC 5890)',
      identifier: { type: 'dns', value: 'xn--zz.example' },
    });
  });

  it('refuses a single-label name', () => {
    expect(refused(dns('localhost')).detail).toBe('"localhost" must have at least two labels');
  });

  it('refuses an asterisk anywhere but the whole leftmost label', () => {
    expect(refused(dns('www.*.example.test')).detail).toContain('may use "*" only as the whole leftmost label');
    expect(refused(dns('*.*.example.test')).detail).toContain('may use "*" only as the whole leftmost label');
    expect(refused(dns('w*.example.test')).detail).toContain('has an invalid label "w*"');
  });

  it('refuses a wildcard of a top-level domain', () => {
    expect(refused(dns('*.test')).detail).toBe('"*.test" must have at least two labels');
  });

  it('refuses a label with an underscore, naming the label', () => {
    expect(refused(dns('my_host.example.test')).detail).toBe('"my_host.example.test" has an invalid label "my_host"');
  });

  it('refuses a label that starts or ends with a hyphen', () => {
    expect(refused(dns('-a.example.test')).detail).toContain('invalid label "-a"');
    expect(refused(dns('a-.example.test')).detail).toContain('invalid label "a-"');
  });

  it('refuses an empty label', () => {
    expect(refused(dns('a..example.test')).detail).toContain('invalid label ""');
  });

  it('accepts a 63-character label and refuses a 64-character one', () => {
    expect(parsed(dns(`${'a'.repeat(63)}.example.test`)).identifier.type).toBe('dns');
    expect(refused(dns(`${'a'.repeat(64)}.example.test`)).detail).toContain('has an invalid label');
  });

  it('refuses a name longer than 253 characters', () => {
    const long = `${Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.')}.test`;
    expect(refused(dns(long)).detail).toContain('is longer than 253 characters');
  });

  it('refuses an all-numeric top-level label', () => {
    expect(refused(dns('host.example.123')).detail).toBe('"host.example.123" has an all-numeric top-level label');
  });

  it('refuses an IP address sent as a dns identifier, pointing to type "ip" (RFC 8738)', () => {
    expect(refused(dns('192.0.2.1'))).toMatchObject({ type: 'rejectedIdentifier', detail: '"192.0.2.1" is an IP address; use an identifier of type "ip" (RFC 8738)' });
  });
});

describe('ip identifiers (RFC 8738)', () => {
  it('accepts an IPv4 address in dotted-decimal form', () => {
    expect(parsed(ip('192.0.2.1'))).toEqual({ identifier: { type: 'ip', value: '192.0.2.1' }, authzIdentifier: { type: 'ip', value: '192.0.2.1' }, wildcard: false });
  });

  it('stores an IPv6 address in its RFC 5952 canonical text', () => {
    expect(parsed(ip('2001:DB8:0:0:0:0:0:1')).identifier.value).toBe('2001:db8::1');
  });

  it('refuses an IPv4 address with leading zeros, naming the value', () => {
    expect(refused(ip('192.0.02.1'))).toEqual({
      type: 'rejectedIdentifier',
      detail: '"192.0.02.1" is not an IPv4 or IPv6 address in canonical form',
      identifier: { type: 'ip', value: '192.0.02.1' },
    });
  });

  it('refuses a name sent as an ip identifier', () => {
    expect(refused(ip('www.example.test')).type).toBe('rejectedIdentifier');
  });

  it('refuses an IPv6 address with a zone index instead of failing', () => {
    // RFC 8738 §3 names the RFC 5952 text form, which has no zone; a zone is refused, not a crash.
    expect(refused(ip('fe80::1%eth0'))).toMatchObject({ type: 'rejectedIdentifier', identifier: { type: 'ip', value: 'fe80::1%eth0' } });
  });

  it('says undefined for text that is no IP address', () => {
    expect([canonicalIp('example.test'), canonicalIp('256.0.0.1'), canonicalIp('')]).toEqual([undefined, undefined, undefined]);
  });
});

describe('other identifier types', () => {
  it('answers unsupportedIdentifier naming the type and the supported ones', () => {
    expect(parseIdentifier({ type: 'email', value: 'a@example.test' })).toEqual({
      type: 'unsupportedIdentifier',
      detail: 'identifier type "email" is not supported (dns, ip)',
      identifier: { type: 'email', value: 'a@example.test' },
    });
  });
});

describe('the identifiers of one newOrder (§7.4, §6.7.1)', () => {
  it('sorts identifiers and collapses duplicates that differ only in case or a trailing dot', () => {
    const out = parseIdentifiers([dns('b.example.test'), dns('A.example.test'), dns('a.example.test.'), ip('192.0.2.1')], 10);
    expect(out.map((p) => p.identifier)).toEqual([
      { type: 'dns', value: 'a.example.test' },
      { type: 'dns', value: 'b.example.test' },
      { type: 'ip', value: '192.0.2.1' },
    ]);
  });

  it('keeps a wildcard and its base domain as two identifiers', () => {
    expect(parseIdentifiers([dns('*.example.test'), dns('example.test')], 10).map((p) => p.identifier.value)).toEqual(['*.example.test', 'example.test']);
  });

  it('refuses an empty list with malformed', () => {
    expect(problemOf(() => parseIdentifiers([], 10))).toMatchObject({ type: 'malformed', status: 400, detail: 'identifiers must not be empty' });
  });

  it('refuses more identifiers than the profile allows, naming both counts', () => {
    const p = problemOf(() => parseIdentifiers([dns('a.example.test'), dns('b.example.test'), dns('c.example.test')], 2));
    expect(p).toMatchObject({ type: 'rejectedIdentifier', status: 400, detail: 'an order may have at most 2 identifiers; this one has 3' });
  });

  it('reports every refused identifier at once as subproblems', () => {
    const p = problemOf(() => parseIdentifiers([dns('ok.example.test'), dns('bad_name.example.test'), ip('999.0.0.1')], 10));
    expect(p.type).toBe('rejectedIdentifier');
    expect(p.subproblems.map((s) => s.identifier.value)).toEqual(['bad_name.example.test', '999.0.0.1']);
    expect(p.toDocument().subproblems?.[0]).toMatchObject({ type: 'urn:ietf:params:acme:error:rejectedIdentifier', status: 400 });
  });

  it('uses the single refusal\'s detail as the problem detail', () => {
    const p = problemOf(() => parseIdentifiers([dns('ok.example.test'), dns('localhost')], 10));
    expect(p.detail).toBe('"localhost" must have at least two labels');
  });

  it('answers unsupportedIdentifier when every refusal is about the type', () => {
    const p = problemOf(() => parseIdentifiers([{ type: 'email', value: 'a@example.test' }, dns('ok.example.test')], 10));
    expect(p).toMatchObject({ type: 'unsupportedIdentifier', status: 400, detail: 'identifier type "email" is not supported (dns, ip)' });
    expect(p.subproblems).toHaveLength(1);
  });
});
