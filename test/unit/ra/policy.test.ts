/**
 * Profile policy before any backend call (src/ra/policy.ts, issue #5): identifier types and
 * allow/deny lists, account key types, certificate profiles (draft-ietf-acme-profiles-01) and terms
 * re-agreement (RFC 8555 §7.3.3). Each refusal names the setting that refused.
 */
import { describe, it, expect } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { checkAccountKeyType, checkIdentifierPolicy, checkTermsAgreement, chooseCertificateProfile, keyTypeOfJwk } from '../../../src/ra/policy.js';
import { parseIdentifiers } from '../../../src/ra/identifiers.js';
import { DAY_MS } from '../../../src/lib/clock.js';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import { accountRecord } from '../../helpers/records.js';
import { problemOf, profileRuntime } from './helpers.js';

const jwkOf = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) => k.export({ format: 'jwk' }) as Record<string, unknown>;
const EC_P256 = jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const EC_P521 = jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey);
const RSA_2048 = jwkOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
const ED25519 = jwkOf(generateKeyPairSync('ed25519').publicKey);

/** Parses names as a newOrder would (`192.0.2.1` and `2001:db8::1` become ip identifiers). */
function ids(...names: string[]) {
  return parseIdentifiers(names.map((value) => ({ type: /^[\d.]+$|:/.test(value) ? 'ip' : 'dns', value })), 100);
}

type Lists = { types?: ('dns' | 'wildcard' | 'ip')[]; allow?: string[]; deny?: string[] };
const withIdentifiers = (identifiers: Lists) => profileRuntime({ identifiers });

/** The identifiers the profile refuses, as the subproblems name them (empty when it accepts all). */
function refused(identifiers: Lists, ...names: string[]): string[] {
  try {
    checkIdentifierPolicy(withIdentifiers(identifiers), ids(...names));
    return [];
  } catch (e) {
    if (!(e instanceof AcmeProblem) || e.type !== 'rejectedIdentifier') throw e;
    return e.subproblems.map((s) => s.identifier.value);
  }
}

describe('account key types', () => {
  it('names keys the way profiles list them', () => {
    expect([keyTypeOfJwk(EC_P256), keyTypeOfJwk(EC_P521), keyTypeOfJwk(RSA_2048), keyTypeOfJwk(ED25519)]).toEqual(['ec-p256', 'ec-p521', 'rsa-2048', 'ed25519']);
  });

  it('accepts an account key of a type the profile lists', () => {
    expect(() => checkAccountKeyType(profileRuntime({ accountKeyTypes: ['ec-p256'] }), EC_P256)).not.toThrow();
  });

  it('refuses another key type with badPublicKey naming it, the profile and the accepted types', async () => {
    const p = await problemOf(() => checkAccountKeyType(profileRuntime({ accountKeyTypes: ['ec-p256', 'ec-p384'] }), RSA_2048));
    expect(p).toMatchObject({ type: 'badPublicKey', status: 400, detail: 'account key type rsa-2048 is not accepted by profile web (accepted: ec-p256, ec-p384)' });
  });
});

describe('identifier types (identifiers.types)', () => {
  it('accepts every kind under the default types', () => {
    expect(refused({}, 'a.example.test', '*.example.test', '192.0.2.1')).toEqual([]);
  });

  it('refuses a wildcard when the profile issues for DNS names only, naming identifiers.types', async () => {
    const p = await problemOf(() => checkIdentifierPolicy(withIdentifiers({ types: ['dns'] }), ids('*.example.test')));
    expect(p).toMatchObject({ type: 'rejectedIdentifier', status: 400, detail: 'profile web does not issue for wildcard names (identifiers.types)' });
  });

  it('refuses an IP address when the profile issues for names only', async () => {
    const p = await problemOf(() => checkIdentifierPolicy(withIdentifiers({ types: ['dns', 'wildcard'] }), ids('192.0.2.1')));
    expect(p.detail).toBe('profile web does not issue for IP addresses (identifiers.types)');
  });

  it('refuses a DNS name when the profile issues for IP addresses only', async () => {
    const p = await problemOf(() => checkIdentifierPolicy(withIdentifiers({ types: ['ip'] }), ids('a.example.test')));
    expect(p.detail).toBe('profile web does not issue for DNS names (identifiers.types)');
  });
});

describe('allow list (identifiers.allow)', () => {
  it('lets a domain entry match the domain itself and every name below it', () => {
    expect(refused({ allow: ['example.test'] }, 'example.test', 'a.example.test', 'a.b.example.test')).toEqual([]);
  });

  it('does not let a domain entry match a name that merely ends with the same letters', () => {
    expect(refused({ allow: ['example.test'] }, 'badexample.test')).toEqual(['badexample.test']);
  });

  it('lets a "*." entry match only names below the domain', () => {
    expect(refused({ allow: ['*.corp.example.test'] }, 'a.corp.example.test', 'corp.example.test')).toEqual(['corp.example.test']);
  });

  it('matches a wildcard identifier by its base name', () => {
    expect(refused({ allow: ['www.example.test'] }, '*.www.example.test', '*.example.test')).toEqual(['*.example.test']);
  });

  it('accepts a wildcard whose every name lies below a "*." entry', async () => {
    // *.corp.example.test stands for names below corp.example.test, exactly what the entry allows.
    expect(refused({ allow: ['*.corp.example.test'] }, '*.corp.example.test')).toEqual([]);
  });

  it('compares entries without regard to case', () => {
    expect(refused({ allow: ['Example.TEST'] }, 'www.example.test')).toEqual([]);
  });

  it('lets a CIDR entry match the addresses in the range', () => {
    expect(refused({ allow: ['10.0.0.0/8', '2001:db8::/32'] }, '10.1.2.3', '11.0.0.1', '2001:db8:ffff::1', '2001:db9::1')).toEqual(['11.0.0.1', '2001:db9::1']);
  });

  it('lets an address entry match that address only', () => {
    expect(refused({ allow: ['192.0.2.1'] }, '192.0.2.1', '192.0.2.2')).toEqual(['192.0.2.2']);
  });

  it('never matches an IP address with a domain entry', () => {
    expect(refused({ allow: ['example.test'] }, '192.0.2.1')).toEqual(['192.0.2.1']);
  });

  it('refuses a name outside the list with a detail naming it, the profile and identifiers.allow', async () => {
    const p = await problemOf(() => checkIdentifierPolicy(withIdentifiers({ allow: ['example.test'] }), ids('www.example.org')));
    expect(p).toMatchObject({ type: 'rejectedIdentifier', detail: 'www.example.org is not on profile web\'s allow list (identifiers.allow)' });
  });
});

describe('deny list (identifiers.deny)', () => {
  it('refuses a denied name even when the allow list matches it, naming identifiers.deny', async () => {
    const p = await problemOf(() => checkIdentifierPolicy(withIdentifiers({ allow: ['example.test'], deny: ['payments.example.test'] }), ids('payments.example.test')));
    expect(p.detail).toBe('payments.example.test is on profile web\'s deny list (identifiers.deny)');
  });

  it('denies the names below a denied domain too', () => {
    expect(refused({ deny: ['payments.example.test'] }, 'api.payments.example.test', 'www.example.test')).toEqual(['api.payments.example.test']);
  });

  it('denies a wildcard of a denied domain', () => {
    expect(refused({ deny: ['payments.example.test'] }, '*.payments.example.test')).toEqual(['*.payments.example.test']);
  });

  it('denies a wildcard whose every name lies below a "*." entry', async () => {
    // A certificate for *.internal.example.test is valid for every name the entry denies.
    expect(refused({ deny: ['*.internal.example.test'] }, '*.internal.example.test', 'internal.example.test')).toEqual(['*.internal.example.test']);
  });

  it('denies addresses in a denied range', () => {
    expect(refused({ deny: ['192.0.2.0/24'] }, '192.0.2.200', '198.51.100.1')).toEqual(['192.0.2.200']);
  });
});

describe('all refusals at once (RFC 8555 §6.7.1)', () => {
  it('lists every refused identifier as a subproblem of one rejectedIdentifier problem', async () => {
    const profile = withIdentifiers({ types: ['dns', 'wildcard'], allow: ['example.test'], deny: ['admin.example.test'] });
    const p = await problemOf(() => checkIdentifierPolicy(profile, ids('ok.example.test', 'admin.example.test', 'www.example.org', '192.0.2.1')));
    expect(p.detail).toBe('3 identifier(s) refused');
    expect(p.toDocument().subproblems).toEqual([
      { type: 'urn:ietf:params:acme:error:rejectedIdentifier', status: 400, detail: 'admin.example.test is on profile web\'s deny list (identifiers.deny)', identifier: { type: 'dns', value: 'admin.example.test' } },
      { type: 'urn:ietf:params:acme:error:rejectedIdentifier', status: 400, detail: 'www.example.org is not on profile web\'s allow list (identifiers.allow)', identifier: { type: 'dns', value: 'www.example.org' } },
      { type: 'urn:ietf:params:acme:error:rejectedIdentifier', status: 400, detail: 'profile web does not issue for IP addresses (identifiers.types)', identifier: { type: 'ip', value: '192.0.2.1' } },
    ]);
  });
});

describe('certificate profiles (draft-ietf-acme-profiles-01)', () => {
  const offering = profileRuntime({
    template: 'server',
    validity: { default: '90d', min: '1h', max: '397d' },
    certificateProfiles: {
      shortlived: { description: 'six days', template: 'server-short', validity: { default: '6d', min: '1h', max: '7d' } },
      classic: { description: 'ninety days', template: { name: 'server-classic', attributes: { caName: 'Issuing CA 2' } } },
    },
  });

  it('uses the profile\'s own template when the order names none and there is no default', () => {
    expect(chooseCertificateProfile(offering, undefined)).toEqual({ name: null, template: { name: 'server', attributes: {} }, validity: { default: 90 * DAY_MS, min: 3_600_000, max: 397 * DAY_MS } });
  });

  it('gives the named certificate profile\'s template and validity', () => {
    expect(chooseCertificateProfile(offering, 'shortlived')).toMatchObject({ name: 'shortlived', template: { name: 'server-short' }, validity: { default: 6 * DAY_MS, max: 7 * DAY_MS } });
  });

  it('falls back to the profile\'s validity when the certificate profile has none', () => {
    expect(chooseCertificateProfile(offering, 'classic')).toMatchObject({ template: { name: 'server-classic', attributes: { caName: 'Issuing CA 2' } }, validity: { max: 397 * DAY_MS } });
  });

  it('gives an order without a profile the defaultCertificateProfile', () => {
    const p = profileRuntime({ certificateProfiles: { tls: { description: 'TLS', template: 'tls' } }, defaultCertificateProfile: 'tls' });
    expect(chooseCertificateProfile(p, undefined).name).toBe('tls');
  });

  it('refuses a profile the directory does not advertise with invalidProfile naming it and the offered ones', async () => {
    const p = await problemOf(() => chooseCertificateProfile(offering, 'longlived'));
    expect(p).toMatchObject({ type: 'invalidProfile', status: 400, detail: 'certificate profile "longlived" is not offered here (offered: shortlived, classic)' });
  });

  it('refuses any named profile where none is offered', async () => {
    const p = await problemOf(() => chooseCertificateProfile(profileRuntime(), 'shortlived'));
    expect(p).toMatchObject({ type: 'invalidProfile', detail: 'certificate profile "shortlived" is not offered here' });
  });
});

describe('terms of service re-agreement (RFC 8555 §7.3.3)', () => {
  const V1 = 'https://example.test/terms/v1';
  const V2 = 'https://example.test/terms/v2';

  it('lets an account that agreed to the current terms order', () => {
    expect(() => checkTermsAgreement(profileRuntime({ termsOfService: V1, termsReagreement: true }), accountRecord({ termsAgreedVersion: V1 }))).not.toThrow();
  });

  it('lets an account that agreed to older terms order when re-agreement is off', () => {
    expect(() => checkTermsAgreement(profileRuntime({ termsOfService: V2 }), accountRecord({ termsAgreedVersion: V1 }))).not.toThrow();
  });

  it('lets any account order when the profile has no terms', () => {
    expect(() => checkTermsAgreement(profileRuntime({ termsReagreement: true }), accountRecord({ termsAgreedVersion: null }))).not.toThrow();
  });

  it('answers userActionRequired (403) with a terms-of-service Link and instance when the terms changed', async () => {
    const p = await problemOf(() => checkTermsAgreement(profileRuntime({ termsOfService: V2, termsReagreement: true }), accountRecord({ termsAgreedVersion: V1 })));
    expect(p).toMatchObject({ type: 'userActionRequired', status: 403 });
    expect(p.detail).toContain(V2);
    expect(p.headers).toEqual({ Link: `<${V2}>;rel="terms-of-service"` });
    expect(p.toDocument().instance).toBe(V2);
  });

  it('asks an account that never agreed to any version to agree', async () => {
    const p = await problemOf(() => checkTermsAgreement(profileRuntime({ termsOfService: V1, termsReagreement: true }), accountRecord({ termsAgreedVersion: null })));
    expect(p.type).toBe('userActionRequired');
  });
});
