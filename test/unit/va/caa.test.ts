import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCaa, type CaaCheckInput, type CaaResult } from '../../../src/va/caa.js';
import { createNetClient } from '../../../src/va/net-node.js';
import type { NetClient } from '../../../src/va/net.js';
import { startChalltestsrv, type CaaPolicy, type Challtestsrv } from '../../fakes/challtestsrv.js';
import { startDnsResponder, type DnsResponder } from '../../fakes/dns-responder.js';

const CA = 'pki.example.com';
const ACCOUNT = 'https://pki.example.com/acme/web/acct/1';
const signal = (): AbortSignal => AbortSignal.timeout(5_000);
const client = (server: { host: string; port: number }, timeoutMs = 5_000): NetClient =>
  createNetClient({ dnsResolver: server, http01Port: 1, tlsAlpn01Port: 1, timeoutMs });

let srv: Challtestsrv;
let net: NetClient;
let responder: DnsResponder;
let wire: NetClient;
beforeAll(async () => {
  [srv, responder] = await Promise.all([startChalltestsrv({ http01: false }), startDnsResponder()]);
  net = client(srv.dns);
  wire = client(responder.dns);
});
afterAll(async () => {
  await Promise.all([srv.stop(), responder.stop()]);
});

/** A zone of its own per test, so records never leak between tests sharing one server. */
let zones = 0;
const zone = (): string => `z${++zones}.caa.test`;

function input(value: string, over: Partial<CaaCheckInput> = {}): CaaCheckInput {
  return { identifier: { type: 'dns', value }, wildcard: false, issuerDomains: [CA], accountUri: ACCOUNT, validationMethod: 'http-01', ...over };
}
const issue = (value: string): CaaPolicy => ({ tag: 'issue', value });
const issuewild = (value: string): CaaPolicy => ({ tag: 'issuewild', value });

async function check(value: string, over: Partial<CaaCheckInput> = {}, via: NetClient = net): Promise<CaaResult> {
  return checkCaa(via, input(value, over), signal());
}
/** The refusal's problem type and detail, or 'allowed'. */
async function outcome(value: string, over: Partial<CaaCheckInput> = {}, via: NetClient = net): Promise<string> {
  const result = await check(value, over, via);
  return result.status === 'allowed' ? 'allowed' : `${result.problem.type}: ${result.problem.detail}`;
}

describe('checkCaa: when CAA applies', () => {
  it('allows without any query when the profile has no CAA identities', async () => {
    responder.set('off.wire.test', { caa: [{ flags: 0, tag: 'issue', value: 'other-ca.example' }] });
    const before = responder.queries.size;
    expect(await check('off.wire.test', { issuerDomains: [] }, wire)).toEqual({ status: 'allowed', records: [] });
    expect(responder.queries.size).toBe(before);
  });

  it('allows IP identifiers without any query, as CAA is defined for domain names only', async () => {
    const before = responder.queries.size;
    for (const value of ['192.0.2.7', '2001:db8::7']) {
      expect(await checkCaa(wire, input(value, { identifier: { type: 'ip', value } }), signal())).toEqual({ status: 'allowed', records: [] });
    }
    expect(responder.queries.size).toBe(before);
  });

  it('allows when no name up to the root has CAA records', async () => {
    expect(await check(`a.b.${zone()}`)).toEqual({ status: 'allowed', records: [] });
  });
});

describe('checkCaa: issue property (RFC 8659 §4.2)', () => {
  it('allows a record naming this CA, and reports the record and where it was found', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(CA), { tag: 'iodef', value: 'mailto:security@example.com' }]);
    expect(await check(z)).toEqual({
      status: 'allowed',
      name: z,
      records: [
        { name: z, critical: 0, tag: 'issue', value: CA },
        { name: z, critical: 0, tag: 'iodef', value: 'mailto:security@example.com' },
      ],
    });
  });

  it('refuses a record naming another CA with a caa problem that quotes the record', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example')]);
    const result = await check(`www.${z}`);
    expect(result.status).toBe('refused');
    if (result.status !== 'refused') return;
    expect(result.problem.type).toBe('caa');
    expect(result.problem.status).toBe(403);
    expect(result.problem.detail).toBe(`CAA record at ${z} "0 issue \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for www.${z}`);
    expect(result.records).toEqual([{ name: z, critical: 0, tag: 'issue', value: 'other-ca.example' }]);
  });

  it('matches the issuer domain name case-insensitively, on either side', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('PKI.Example.COM')]);
    expect(await outcome(z)).toBe('allowed');
    expect(await outcome(z, { issuerDomains: ['Pki.Example.Com'] })).toBe('allowed');
  });

  it('allows when one of several issue records names this CA, as authorizations are additive', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example'), issue(';'), issue(CA)]);
    expect(await outcome(z)).toBe('allowed');
  });

  it('refuses when none of several issue records names this CA, listing each', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example'), issue(`${CA}; accounturi=https://pki.example.com/acme/web/acct/2`)]);
    expect(await outcome(z)).toBe(
      `caa: CAA records at ${z} do not allow this CA (${CA}) to issue for ${z}: ` +
        `"0 issue \\"other-ca.example\\"" names another CA; ` +
        `"0 issue \\"${CA}; accounturi=https://pki.example.com/acme/web/acct/2\\"" is limited to account https://pki.example.com/acme/web/acct/2, not ${ACCOUNT} (RFC 8657 §3)`,
    );
  });

  it('accepts any of the profile’s CAA identities', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('ca2.example.net')]);
    expect(await outcome(z, { issuerDomains: [CA, 'ca2.example.net'] })).toBe('allowed');
    expect(await outcome(z)).toBe(`caa: CAA record at ${z} "0 issue \\"ca2.example.net\\"" does not allow this CA (${CA}) to issue for ${z}`);
  });

  it('refuses an empty issuer (issue ";"), which requests no issuance', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(';')]);
    expect(await outcome(z)).toBe(`caa: CAA record at ${z} "0 issue \\";\\"" does not allow this CA (${CA}) to issue for ${z}: it names no CA, which forbids issuance`);
  });

  it('refuses only parameters as an empty issuer', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`; accounturi=${ACCOUNT}`)]);
    expect(await outcome(z)).toMatch(/^caa: .* names no CA, which forbids issuance$/);
  });

  it('refuses an empty value, which c-ares reads as a malformed answer (docs/rfc-divergences.md)', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('')]);
    expect(await outcome(z)).toMatch(/^dns: CAA check for z\d+\.caa\.test: CAA lookup for z\d+\.caa\.test failed: malformed answer /);
  });

  it.each([
    ['"%%%%%"', '%%%%%'],
    ['an issuer with a space inside', 'pki.example .com'],
    ['a parameter without "="', `${CA}; accounturi`],
    ['a trailing ";" after parameters', `${CA}; validationmethods=http-01;`],
    ['a space inside a parameter value', `${CA}; validationmethods=http-01, dns-01`],
    ['an issuer with a trailing dot', `${CA}.`],
    ['a label starting with "-"', 'pki.-example.com'],
  ])('refuses a value outside the grammar (%s) as if it named no CA', async (_, value) => {
    const z = zone();
    await srv.addCaa(z, [issue(value)]);
    expect(await outcome(z)).toMatch(/^caa: .* is malformed, which forbids issuance \(RFC 8659 §4\.2\)$/);
  });

  it.each([
    ['a bare ";" after the issuer', `${CA};`],
    ['whitespace around everything', ` \t${CA} ; accounturi = ${ACCOUNT} ;\tvalidationmethods=dns-01,http-01 `],
    ['an unknown parameter', `${CA}; policy=ev`],
    ['an empty parameter value', `${CA}; note=`],
    ['"=" inside a parameter value', `${CA}; accounturi=${ACCOUNT}; x=a=b`],
  ])('allows a value inside the grammar (%s)', async (_, value) => {
    const z = zone();
    await srv.addCaa(z, [issue(value)]);
    expect(await outcome(z)).toBe('allowed');
  });
});

describe('checkCaa: the Relevant RRset (RFC 8659 §3)', () => {
  it('climbs two levels to the parent that has records, and names it', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(CA)]);
    expect(await check(`a.b.${z}`)).toEqual({ status: 'allowed', name: z, records: [{ name: z, critical: 0, tag: 'issue', value: CA }] });
  });

  it('refuses from a record two levels up', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example')]);
    expect(await outcome(`a.b.${z}`)).toBe(`caa: CAA record at ${z} "0 issue \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for a.b.${z}`);
  });

  it('lets the closest name with records decide, whatever its parents say', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example')]);
    await srv.addCaa(`allowed.${z}`, [issue(CA)]);
    await srv.addCaa(`refused.${z}`, [issue('other-ca.example')]);
    const allowing = zone();
    await srv.addCaa(allowing, [issue(CA)]);
    await srv.addCaa(`refused.${allowing}`, [issue('other-ca.example')]);
    expect(await outcome(`www.allowed.${z}`)).toBe('allowed');
    expect(await outcome(`www.refused.${allowing}`)).toMatch(/^caa: CAA record at refused\.z\d+\.caa\.test /);
  });

  it('stops at an RRset without issue properties (only iodef, unknown tags) and allows', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example')]);
    await srv.addCaa(`iodef.${z}`, [{ tag: 'iodef', value: 'mailto:security@example.com' }]);
    await srv.addCaa(`unknown.${z}`, [{ tag: 'tbs', value: 'Unknown' }]);
    expect(await check(`iodef.${z}`)).toMatchObject({ status: 'allowed', name: `iodef.${z}` });
    expect(await check(`unknown.${z}`)).toMatchObject({ status: 'allowed', name: `unknown.${z}` });
  });

  it('reads the identifier without a trailing dot and in lower case', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example')]);
    expect(await outcome(`WWW.${z.toUpperCase()}.`)).toMatch(new RegExp(`^caa: CAA record at ${z.replace(/\./g, '\\.')} .* to issue for www\\.${z.replace(/\./g, '\\.')}$`));
  });
});

describe('checkCaa: aliases (RFC 8659 §3 via RFC 1034 §4.3.2)', () => {
  it('uses the records of the CNAME target at the name', async () => {
    const z = zone();
    await srv.addCaa(`target.${z}`, [issue('other-ca.example')]);
    await srv.addCname(`www.${z}`, `target.${z}`);
    expect(await outcome(`www.${z}`)).toMatch(/^caa: CAA record at www\.z\d+\.caa\.test "0 issue/);
  });

  it('follows a chain the resolver does not chase to its end', async () => {
    // pebble-challtestsrv chases one alias per answer; the second hop is followed by the checker.
    const z = zone();
    await srv.addCaa(`target.${z}`, [issue(CA)]);
    await srv.addCname(`www.${z}`, `hop.${z}`);
    await srv.addCname(`hop.${z}`, `target.${z}`);
    await srv.addCaa(z, [issue('other-ca.example')]); // not reached: www's own RRset decides
    expect(await check(`www.${z}`)).toEqual({
      status: 'allowed',
      name: `www.${z}`,
      records: [{ name: `www.${z}`, alias: `hop.${z}`, critical: 0, tag: 'issue', value: CA }],
    });
  });

  it('uses the records of the CNAME target at a parent name', async () => {
    const z = zone();
    const other = zone();
    await srv.addCaa(`cdn.${other}`, [issue('other-ca.example')]);
    await srv.addCname(`shop.${z}`, `edge.${other}`);
    await srv.addCname(`edge.${other}`, `cdn.${other}`);
    expect(await outcome(`www.shop.${z}`)).toBe(
      `caa: CAA record at shop.${z} (CNAME to edge.${other}) "0 issue \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for www.shop.${z}`,
    );
  });

  it("never climbs the target's parents, only the name's", async () => {
    const z = zone();
    const other = zone();
    await srv.addCaa(other, [issue('other-ca.example')]);
    await srv.addCname(`www.${z}`, `host.${other}`);
    expect(await check(`www.${z}`)).toEqual({ status: 'allowed', records: [] });
  });

  it('follows a CNAME answered alone to a CAA query', async () => {
    responder.set('www.alone.wire.test', { cname: 'target.elsewhere.wire.test' });
    responder.set('target.elsewhere.wire.test', { caa: [{ flags: 0, tag: 'issue', value: 'other-ca.example' }] });
    expect(await outcome('www.alone.wire.test', {}, wire)).toBe(
      `caa: CAA record at www.alone.wire.test (CNAME to target.elsewhere.wire.test) "0 issue \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for www.alone.wire.test`,
    );
  });

  it('refuses with a dns problem when the CNAME chain loops', async () => {
    const z = zone();
    await srv.addCname(`a.${z}`, `b.${z}`);
    await srv.addCname(`b.${z}`, `a.${z}`);
    expect(await outcome(`a.${z}`)).toBe(
      `dns: CAA check for a.${z}: CAA lookup for a.${z} failed: the CNAME chain loops back to a.${z}; this CA does not issue while CAA records cannot be read (RFC 8659 §3)`,
    );
  });

  it('refuses with a dns problem when the CNAME chain is longer than 8', async () => {
    for (let i = 0; i < 9; i++) responder.set(`c${i}.long.wire.test`, { cname: `c${i + 1}.long.wire.test` });
    responder.set('c9.long.wire.test', { caa: [{ flags: 0, tag: 'issue', value: CA }] });
    expect(await outcome('c0.long.wire.test', {}, wire)).toMatch(/^dns: .*c0\.long\.wire\.test failed: more than 8 CNAMEs in a row; /);
    expect(await outcome('c1.long.wire.test', {}, wire)).toBe('allowed');
  });
});

describe('checkCaa: issuewild (RFC 8659 §4.3)', () => {
  it('uses issuewild for a wildcard when present, ignoring issue', async () => {
    const z = zone();
    await srv.addCaa(z, [issue('other-ca.example'), issuewild(CA)]);
    expect(await outcome(z, { wildcard: true })).toBe('allowed');
    expect(await outcome(z)).toBe(`caa: CAA record at ${z} "0 issue \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for ${z}`);
  });

  it('refuses a wildcard when issuewild names another CA, even if issue names this one', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(CA), issuewild('other-ca.example')]);
    expect(await outcome(`sub.${z}`, { wildcard: true })).toBe(
      `caa: CAA record at ${z} "0 issuewild \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for *.sub.${z}`,
    );
    expect(await outcome(`sub.${z}`)).toBe('allowed');
  });

  it('falls back to issue for a wildcard without issuewild', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(CA)]);
    const refusing = zone();
    await srv.addCaa(refusing, [issue('other-ca.example')]);
    expect(await outcome(z, { wildcard: true })).toBe('allowed');
    expect(await outcome(refusing, { wildcard: true })).toBe(
      `caa: CAA record at ${refusing} "0 issue \\"other-ca.example\\"" does not allow this CA (${CA}) to issue for *.${refusing}`,
    );
  });

  it('ignores issuewild for a non-wildcard name, leaving it unrestricted without issue', async () => {
    const z = zone();
    await srv.addCaa(z, [issuewild('other-ca.example')]);
    expect(await outcome(z)).toBe('allowed');
    expect(await outcome(z, { wildcard: true })).toMatch(/^caa: CAA record at .* "0 issuewild/);
  });

  it('accepts the wildcard written with "*." in the identifier', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(CA), issuewild('other-ca.example')]);
    expect(await outcome(`*.${z}`)).toMatch(/^caa: .* "0 issuewild .* to issue for \*\.z\d+\.caa\.test$/);
  });
});

describe('checkCaa: critical flag (RFC 8659 §4.1, §4.5)', () => {
  it('refuses when the Relevant RRset holds a critical property with an unknown tag', async () => {
    responder.set('new.crit.wire.test', {
      caa: [
        { flags: 0, tag: 'issue', value: CA },
        { flags: 128, tag: 'tbs', value: 'Unknown' },
      ],
    });
    expect(await outcome('new.crit.wire.test', {}, wire)).toBe(
      `caa: CAA record at new.crit.wire.test "128 tbs \\"Unknown\\"" is critical and its tag "tbs" is unknown to this CA (${CA}), ` +
        'so it may not issue for new.crit.wire.test (RFC 8659 §4.5)',
    );
  });

  it('allows critical properties whose tags it knows, in any case', async () => {
    responder.set('known.crit.wire.test', {
      caa: [
        { flags: 128, tag: 'ISSUE', value: CA },
        { flags: 128, tag: 'iodef', value: 'mailto:security@example.com' },
      ],
    });
    expect(await outcome('known.crit.wire.test', {}, wire)).toBe('allowed');
  });

  it('ignores the reserved flag bits, so flags 1 do not make a tag critical', async () => {
    responder.set('reserved.crit.wire.test', {
      caa: [
        { flags: 0, tag: 'issue', value: CA },
        { flags: 1, tag: 'tbs', value: 'Unknown' },
      ],
    });
    expect(await outcome('reserved.crit.wire.test', {}, wire)).toBe('allowed');
  });

  it('ignores a critical unknown tag above the Relevant RRset', async () => {
    responder.set('crit.wire.test', { caa: [{ flags: 128, tag: 'tbs', value: 'Unknown' }] });
    responder.set('child.crit.wire.test', { caa: [{ flags: 0, tag: 'issue', value: CA }] });
    expect(await outcome('www.child.crit.wire.test', {}, wire)).toBe('allowed');
    expect(await outcome('www.other.crit.wire.test', {}, wire)).toMatch(/^caa: CAA record at crit\.wire\.test "128 tbs/);
  });
});

describe('checkCaa: accounturi (RFC 8657 §3)', () => {
  it('allows when accounturi is this account', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; accounturi=${ACCOUNT}`)]);
    expect(await outcome(z)).toBe('allowed');
  });

  it('refuses another account, naming the one the record requires', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; accounturi=https://pki.example.com/acme/web/acct/2`)]);
    expect(await outcome(z)).toBe(
      `caa: CAA record at ${z} "0 issue \\"${CA}; accounturi=https://pki.example.com/acme/web/acct/2\\"" does not allow this CA (${CA}) to issue for ${z}: ` +
        `it is limited to account https://pki.example.com/acme/web/acct/2, not ${ACCOUNT} (RFC 8657 §3)`,
    );
  });

  it('compares the account URI exactly', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; accounturi=${ACCOUNT.toUpperCase()}`)]);
    expect(await outcome(z)).toMatch(/^caa: .* is limited to account HTTPS:/);
  });

  it('refuses a property with two accounturi parameters, even if one is this account', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; accounturi=${ACCOUNT}; accounturi=https://pki.example.com/acme/web/acct/2`)]);
    expect(await outcome(z)).toMatch(/: it has more than one accounturi, which no account satisfies \(RFC 8657 §3\)$/);
  });

  it('reads the parameter name case-insensitively, so a restriction is never missed', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; AccountURI=https://pki.example.com/acme/web/acct/2`)]);
    expect(await outcome(z)).toMatch(/is limited to account https:\/\/pki\.example\.com\/acme\/web\/acct\/2/);
  });

  it('allows through another property of this CA without accounturi', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; accounturi=https://pki.example.com/acme/web/acct/2`), issue(CA)]);
    expect(await outcome(z)).toBe('allowed');
  });
});

describe('checkCaa: validationmethods (RFC 8657 §4)', () => {
  it('allows when the list holds the method used', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; validationmethods=dns-01,http-01`)]);
    expect(await outcome(z)).toBe('allowed');
    expect(await outcome(z, { validationMethod: 'dns-01' })).toBe('allowed');
  });

  it('refuses a method not in the list, naming both', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; validationmethods=dns-01`)]);
    expect(await outcome(z, { validationMethod: 'tls-alpn-01' })).toBe(
      `caa: CAA record at ${z} "0 issue \\"${CA}; validationmethods=dns-01\\"" does not allow this CA (${CA}) to issue for ${z}: ` +
        'it is limited to validation methods dns-01, and the authorization used tls-alpn-01 (RFC 8657 §4)',
    );
  });

  it("refuses a profile that skips validation ('none') whenever the parameter is present", async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; validationmethods=dns-01,http-01,tls-alpn-01`)]);
    expect(await outcome(z, { validationMethod: 'none' })).toMatch(/: it is limited to validation methods dns-01,http-01,tls-alpn-01, and this profile issues without validation \(RFC 8657 §4\)$/);
  });

  it("allows a profile that skips validation ('none') when the parameter is absent", async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; accounturi=${ACCOUNT}`)]);
    expect(await outcome(z, { validationMethod: 'none' })).toBe('allowed');
  });

  it('refuses an empty list, which names no method', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; validationmethods=`)]);
    expect(await outcome(z)).toMatch(/: it is limited to no validation method, and the authorization used http-01 \(RFC 8657 §4\)$/);
  });

  it('compares method labels exactly', async () => {
    const z = zone();
    await srv.addCaa(z, [issue(`${CA}; validationmethods=HTTP-01`)]);
    expect(await outcome(z)).toMatch(/is limited to validation methods HTTP-01/);
  });

  it.each([
    ['a list outside its ABNF', `${CA}; validationmethods=http_01`],
    ['a trailing comma', `${CA}; validationmethods=http-01,`],
    ['the parameter twice', `${CA}; validationmethods=http-01; validationmethods=http-01`],
  ])('refuses %s', async (_, value) => {
    const z = zone();
    await srv.addCaa(z, [issue(value)]);
    expect(await outcome(z)).toMatch(/: it has a validationmethods parameter that is repeated or malformed, which no method satisfies \(RFC 8657 §4\)$/);
  });

  it('needs both accounturi and validationmethods of one property to match', async () => {
    const z = zone();
    await srv.addCaa(z, [
      issue(`${CA}; accounturi=${ACCOUNT}; validationmethods=dns-01`),
      issue(`${CA}; accounturi=https://pki.example.com/acme/web/acct/2; validationmethods=http-01`),
    ]);
    expect(await outcome(z, { validationMethod: 'dns-01' })).toBe('allowed');
    expect(await outcome(z, { validationMethod: 'http-01' })).toMatch(/^caa: CAA records at .* do not allow/);
  });
});

describe('checkCaa: lookup failures fail closed', () => {
  it('refuses with a dns problem naming the name when the lookup answers SERVFAIL', async () => {
    const z = zone();
    await srv.setServfail(`www.${z}`);
    const result = await check(`www.${z}`);
    expect(result.status).toBe('refused');
    if (result.status !== 'refused') return;
    expect(result.problem.type).toBe('dns');
    expect(result.problem.status).toBe(400);
    expect(result.problem.detail).toBe(
      `CAA check for www.${z}: CAA lookup for www.${z} failed: the server answered SERVFAIL (resolver ${srv.dnsAddress}); ` +
        'this CA does not issue while CAA records cannot be read (RFC 8659 §3)',
    );
    expect(result.records).toEqual([]);
  });

  it('refuses when a parent on the way up answers SERVFAIL', async () => {
    const z = zone();
    await srv.setServfail(z);
    expect(await outcome(`a.b.${z}`)).toMatch(new RegExp(`^dns: CAA check for a\\.b\\.${z.replace(/\./g, '\\.')}: CAA lookup for ${z.replace(/\./g, '\\.')} failed: the server answered SERVFAIL`));
  });

  it('refuses when following a CNAME answers SERVFAIL', async () => {
    responder.set('www.sfcname.wire.test', { cname: 'broken.sfcname.wire.test' });
    responder.set('broken.sfcname.wire.test', { servfail: true });
    expect(await outcome('www.sfcname.wire.test', {}, wire)).toMatch(/^dns: CAA check for www\.sfcname\.wire\.test: CAA lookup for broken\.sfcname\.wire\.test failed: the server answered SERVFAIL/);
  });

  it('refuses with a dns problem when the resolver does not answer before the deadline', async () => {
    const silent: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    try {
      const mute = client({ host: '127.0.0.1', port: silent.address().port }, 300);
      const result = await checkCaa(mute, input('slow.example.test'), signal());
      expect(result.status).toBe('refused');
      if (result.status !== 'refused') return;
      expect(result.problem.type).toBe('dns');
      expect(result.problem.detail).toMatch(/^CAA check for slow\.example\.test: CAA lookup for slow\.example\.test got no answer from 127\.0\.0\.1:\d+ before the deadline; /);
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
