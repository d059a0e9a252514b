import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHmac, type webcrypto } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError, type SdkIdentifier } from '../../../../src/sdk/index.js';
import {
  akiCandidates,
  certdbTime,
  hostsOf,
  issuedBy,
  normalizeSerial,
  ocspRevokedAt,
  parseCertificate,
  pemOf,
  refusedIdentifiers,
  sameDn,
  serialFromDecimal,
  serialToDecimal,
  statusOfRow,
  toConnectorError,
  useWebCrypto,
  type CertRow,
} from '../../../../connectors/cfssl/mapping.js';
import { authenticatedRequest, CfsslApiError, CfsslTransportError, classify } from '../../../../connectors/cfssl/client.js';
import { CfsslConfigSchema } from '../../../../connectors/cfssl/config.js';

useWebCrypto();

const dns = (value: string): SdkIdentifier => ({ type: 'dns', value });
const ip = (value: string): SdkIdentifier => ({ type: 'ip', value });

function thrown(fn: () => unknown): ConnectorError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectorError);
    return e as ConnectorError;
  }
  throw new Error('expected a ConnectorError');
}

const row = (over: Partial<CertRow> = {}): CertRow => ({
  serial: '381532460212509495039788803069149124552964234790',
  aki: '',
  caLabel: '',
  status: 'good',
  reason: 0,
  expiry: '2027-02-21 18:43:00+00:00',
  revokedAt: '0001-01-01 00:00:00+00:00',
  pem: '',
  ...over,
});

describe('names', () => {
  it('refuses DNS names outside the preferred name syntax, which cfssl would sign', () => {
    const ids = [dns('ok.example.test'), dns('under_score.example.test'), dns('*.wild.example.test'), dns('a b.example.test'), dns('-lead.example.test'), dns('x'.repeat(64) + '.test')];
    expect(refusedIdentifiers(ids)).toEqual([dns('under_score.example.test'), dns('a b.example.test'), dns('-lead.example.test'), dns('x'.repeat(64) + '.test')]);
  });

  it('accepts a trailing dot, upper case and IP addresses, and refuses an ip identifier that is no address', () => {
    expect(refusedIdentifiers([dns('WWW.Example.TEST.'), ip('192.0.2.1'), ip('2001:db8::1'), ip('example.test')])).toEqual([ip('example.test')]);
  });

  it('sends every identifier once as hosts, lower-case and without the trailing dot', () => {
    expect(hostsOf([dns('A.example.test.'), dns('a.example.test'), ip('192.0.2.1')])).toEqual(['a.example.test', '192.0.2.1']);
  });

  it('refuses a request without identifiers as bad-request', () => {
    expect(thrown(() => hostsOf([])).code).toBe('bad-request');
  });
});

describe('serials and PEM', () => {
  it('keeps serials as lower-case hex of even length', () => {
    expect(normalizeSerial('0x00ABC')).toBe('0abc');
    expect(normalizeSerial('42:D4:81')).toBe('42d481');
    expect(normalizeSerial('0')).toBe('00');
  });

  it('refuses a serial that is not hex as not-found', () => {
    expect(thrown(() => normalizeSerial('not-a-serial')).code).toBe('not-found');
  });

  it('converts to and from the certdb\'s decimal serials', () => {
    expect(serialToDecimal('42d481d9167c5e66ed43d721752894e1c08cde26')).toBe('381532460212509495039788803069149124552964234790');
    expect(serialFromDecimal('381532460212509495039788803069149124552964234790')).toBe('42d481d9167c5e66ed43d721752894e1c08cde26');
    expect(thrown(() => serialFromDecimal('12ab')).code).toBe('unavailable');
  });

  it('wraps DER in PEM at 64 characters a line', () => {
    const pem = pemOf(new Uint8Array(100).fill(0xff), 'CERTIFICATE REQUEST');
    const lines = pem.trim().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE REQUEST-----');
    expect(lines.at(-1)).toBe('-----END CERTIFICATE REQUEST-----');
    expect(lines[1]).toHaveLength(64);
    expect(Buffer.from(lines.slice(1, -1).join(''), 'base64')).toHaveLength(100);
  });
});

describe('certificates', () => {
  let ca: x509.X509Certificate;
  let leaf: x509.X509Certificate;
  let other: x509.X509Certificate;

  beforeAll(async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const gen = (): Promise<webcrypto.CryptoKeyPair> => crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const [caKeys, leafKeys, otherKeys] = await Promise.all([gen(), gen(), gen()]);
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const notAfter = new Date('2031-01-01T00:00:00Z');
    ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'C=SE, O=Tests, CN=Test CA',
      keys: caKeys,
      notBefore,
      notAfter,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)],
    });
    leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '00c0ffee',
      subject: 'CN=a.example.test',
      issuer: ca.subject,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      notBefore,
      notAfter,
      signingAlgorithm: alg,
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey)],
    });
    other = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '02', name: 'C=SE, O=Tests, CN=Test CA', keys: otherKeys, notBefore, notAfter, signingAlgorithm: alg });
  });

  it('reads serial, issuer and key identifiers', () => {
    const parsed = parseCertificate(leaf.toString('pem'), 'a certificate');
    const caParsed = parseCertificate(ca.toString('pem'), 'a CA certificate');
    expect(parsed.serial).toBe('c0ffee');
    expect(parsed.issuer).toBe('C=SE, O=Tests, CN=Test CA');
    expect(parsed.aki).toMatch(/^[0-9a-f]{40}$/);
    expect(parsed.aki).toBe(caParsed.ski);
  });

  it('says whether a CA signed a certificate, by name and signature', async () => {
    const parsed = parseCertificate(leaf.toString('pem'), 'a certificate');
    expect(await issuedBy(parsed, parseCertificate(ca.toString('pem'), 'ca'))).toBe(true);
    expect(await issuedBy(parsed, parseCertificate(other.toString('pem'), 'same name, other key'))).toBe(false);
  });

  it('answers unavailable for bytes cfssl sent that are no certificate', () => {
    const err = thrown(() => parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'a certificate'));
    expect(err.code).toBe('unavailable');
    expect(err.message).toContain('cfssl sent a certificate');
  });

  it('compares DNs regardless of spacing', () => {
    expect(sameDn('C=SE,O=Tests,CN=Test CA', 'C=SE, O=Tests, CN=Test CA')).toBe(true);
    expect(sameDn('C=SE, O=Tests, CN=Test CA', 'CN=Test CA, O=Tests, C=SE')).toBe(false);
  });
});

describe('certdb rows', () => {
  it('reads CURRENT_TIMESTAMP text as UTC and Go\'s zero time as no time', () => {
    expect(certdbTime('2026-11-23 08:13:12')).toEqual(new Date('2026-11-23T08:13:12Z'));
    expect(certdbTime('2027-02-21 18:43:00+00:00')).toEqual(new Date('2027-02-21T18:43:00Z'));
    expect(certdbTime('2027-02-21 20:43:00.123456789+02:00')).toEqual(new Date('2027-02-21T18:43:00.123Z'));
    expect(certdbTime('0001-01-01 00:00:00+00:00')).toBeUndefined();
    expect(certdbTime('')).toBeUndefined();
  });

  it('maps a good row to not revoked', () => {
    expect(statusOfRow(row())).toEqual({ revoked: false });
  });

  it('maps a revoked row to its reason and time', () => {
    expect(statusOfRow(row({ status: 'revoked', reason: 4, revokedAt: '2026-11-23 08:13:12' }))).toEqual({ revoked: true, reason: 4, revokedAt: new Date('2026-11-23T08:13:12Z') });
  });

  it('reports a reason outside RFC 5280 as unspecified', () => {
    expect(statusOfRow(row({ status: 'revoked', reason: 7, revokedAt: '2026-11-23 08:13:12' }))).toMatchObject({ revoked: true, reason: 0 });
  });

  it('tries the real AKI first, then the empty one this build stores (NOTES.md quirk 2)', () => {
    expect(akiCandidates('e1c1', '')).toEqual(['e1c1', '']);
    expect(akiCandidates('e1c1', 'e1c1')).toEqual(['e1c1', '']);
    expect(akiCandidates('e1c1', 'abcd')).toEqual(['abcd', 'e1c1', '']);
    expect(akiCandidates('', undefined)).toEqual(['']);
  });

  it('gives ocspsign the revocation day, the only precision it parses', () => {
    expect(ocspRevokedAt(new Date('2026-11-23T23:59:59Z'))).toBe('2026-11-23');
  });
});

describe('toConnectorError', () => {
  const api = (code: number, message: string, endpoint = 'authsign') => new CfsslApiError(endpoint, code, message, 400);
  const transport = (kind: 'connection' | 'http' | 'protocol' | 'timeout', status?: number) => new CfsslTransportError('authsign', kind, `authsign: ${kind}`, status);
  const ids = [dns('a.example.test'), dns('b.example.test')];

  it.each([
    [api(9300, 'x509: ECDSA verification failure'), 'bad-request'],
    [api(9002, 'CSR Decode failed'), 'bad-request'],
    [api(1300, 'Invalid certificate request'), 'bad-request'],
    [api(400, 'Invalid reason code', 'revoke'), 'bad-request'],
    [api(11200, 'failed to revoke the certificate: certificate not found', 'revoke'), 'not-found'],
    [api(5200, 'Invalid or unknown policy'), 'misconfigured'],
    [api(2002, 'Failed to decode private key'), 'misconfigured'],
    [api(8100, 'Certificate not issued by this issuer', 'ocspsign'), 'misconfigured'],
    [api(400, 'Unable to parse sign request'), 'misconfigured'],
    [api(11000, 'database is locked'), 'unavailable'],
    [api(6000, 'Failed to dial remote server'), 'unavailable'],
    [transport('connection'), 'unavailable'],
    [transport('http', 502), 'unavailable'],
    [transport('http', 405), 'misconfigured'],
    [transport('protocol'), 'unavailable'],
    [transport('timeout'), 'timeout'],
    [new Error('something else'), 'unavailable'],
  ] as const)('maps %s to %s', (e, code) => {
    expect(toConnectorError(e, { identifiers: ids }).code).toBe(code);
  });

  it('names every identifier when the profile\'s policy refuses the request (5300)', () => {
    const err = toConnectorError(api(5300, 'Policy violation request'), { identifiers: ids });
    expect(err.code).toBe('rejected');
    expect(err.info.identifiers).toEqual(ids);
  });

  it('says what to change when authentication fails', () => {
    expect(toConnectorError(api(400, 'invalid token')).message).toContain('does not match the profile\'s auth_key');
    expect(toConnectorError(api(400, 'authentication required', 'sign')).message).toContain('use endpoint: authsign');
    expect(toConnectorError(api(400, 'no authentication provider')).message).toContain('use endpoint: sign');
  });

  it('keeps a ConnectorError as it is', () => {
    const e = new ConnectorError('rejected', 'no');
    expect(toConnectorError(e)).toBe(e);
  });
});

describe('client helpers', () => {
  it('signs the exact inner bytes with HMAC-SHA256 and sends both base64 (NOTES.md quirk 8)', () => {
    const key = new Uint8Array(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
    const inner = new TextEncoder().encode('{"certificate_request":"x","hosts":["a.example.test"],"profile":"acme"}');
    const body = authenticatedRequest(key, inner);
    expect(body.request).toBe(Buffer.from(inner).toString('base64'));
    expect(body.token).toBe(createHmac('sha256', Buffer.from(key)).update(inner).digest('base64'));
  });

  it('classifies an aborted call as timeout and a refused one as connection', () => {
    expect(classify('info', new Error('aborted'), AbortSignal.abort()).kind).toBe('timeout');
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(classify('info', refused, new AbortController().signal).kind).toBe('connection');
  });
});

describe('config', () => {
  const base = { type: 'cfssl', url: 'http://127.0.0.1:8888', certdb: '/var/lib/cfssl/certs.db' };

  it('defaults to authsign, OCSP through ocspsign and a 30 s deadline', () => {
    const c = CfsslConfigSchema.parse({ ...base, authKeyFile: '/etc/key.hex' });
    expect(c).toMatchObject({ endpoint: 'authsign', ocsp: { mode: 'ocspsign' }, timeoutMs: 30_000 });
  });

  it('needs an auth key for authsign and none for sign', () => {
    const noKey = CfsslConfigSchema.safeParse(base);
    expect(noKey.success).toBe(false);
    expect(noKey.error?.issues[0]?.path).toEqual(['authKeyFile']);
    expect(CfsslConfigSchema.safeParse({ ...base, endpoint: 'sign' }).success).toBe(true);
    expect(CfsslConfigSchema.safeParse({ ...base, endpoint: 'sign', authKey: '00112233445566778899aabbccddeeff' }).success).toBe(false);
    expect(CfsslConfigSchema.safeParse({ ...base, authKey: '00112233445566778899aabbccddeeff', authKeyFile: '/k' }).success).toBe(false);
  });

  it('refuses an auth key that is not hex or too short', () => {
    expect(CfsslConfigSchema.safeParse({ ...base, authKey: 'not-hex' }).success).toBe(false);
    expect(CfsslConfigSchema.safeParse({ ...base, authKey: '0011' }).success).toBe(false);
  });

  it('needs a url for ocspserve, and refuses unknown keys', () => {
    expect(CfsslConfigSchema.safeParse({ ...base, endpoint: 'sign', ocsp: { mode: 'ocspserve' } }).success).toBe(false);
    expect(CfsslConfigSchema.safeParse({ ...base, endpoint: 'sign', ocsp: { mode: 'ocspserve', url: 'http://127.0.0.1:8889' } }).success).toBe(true);
    expect(CfsslConfigSchema.safeParse({ ...base, endpoint: 'sign', retries: 3 }).success).toBe(false);
  });
});
