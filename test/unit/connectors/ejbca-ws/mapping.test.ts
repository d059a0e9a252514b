import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it, beforeAll } from 'vitest';
import { ConnectorError, type IssueRequest, type SdkIdentifier } from '../../../../src/sdk/index.js';
import {
  allowedNamesOf,
  chainFor,
  decodeCertificateData,
  ejbcaDn,
  ejbcaTime,
  enrollmentPassword,
  fillScheme,
  issuingCustomData,
  issuingLookup,
  issuingUsername,
  isWrongStatus,
  parseCertificate,
  refusedIdentifiers,
  registrationCustomData,
  registrationUsername,
  storedCsr,
  subjectAltName,
  subjectDn,
  toConnectorError,
  useWebCrypto,
  type ParsedCertificate,
} from '../../../../connectors/ejbca-ws/mapping.js';
import { EjbcaWsFault, EjbcaWsTransportError } from '../../../../connectors/ejbca-ws/client.js';
import { createDoubleCa, issueWith, type DoubleCa } from '../../../fakes/ejbca-ws/ca.js';

useWebCrypto();

const dns = (value: string): SdkIdentifier => ({ type: 'dns', value });
const ip = (value: string): SdkIdentifier => ({ type: 'ip', value });

function request(requestId: string): IssueRequest {
  return {
    requestId,
    template: { name: 'SERVER', attributes: {} },
    csr: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]),
    identifiers: [dns('a.example.test')],
    acme: { accountId: 'acct-7', accountUrl: 'https://gw.test/acme/p/acct/acct-7', orderId: requestId, orderUrl: `https://gw.test/acme/p/order/${requestId}`, profile: 'p' },
  };
}

function thrown(fn: () => unknown): ConnectorError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectorError);
    return e as ConnectorError;
  }
  throw new Error('expected a ConnectorError');
}

describe('usernames', () => {
  it('fills the registration and issuing schemes; {orderId} is the request id', () => {
    expect(registrationUsername('acme-{accountId}', { accountId: 'acct-7', profile: 'p' })).toBe('acme-acct-7');
    expect(registrationUsername('{profile}.{accountId}', { accountId: 'acct-7', profile: 'p' })).toBe('p.acct-7');
    expect(issuingUsername('acme-{accountId}-{orderId}', request('ord-1'))).toBe('acme-acct-7-ord-1');
  });

  it('calls a scheme needing a value the call does not have misconfigured', () => {
    expect(thrown(() => fillScheme('acme-{accountId}-{orderId}', { orderId: 'o' })).code).toBe('misconfigured');
  });

  it('looks an issuing end entity up by EQUALS when the scheme needs only the order id', () => {
    const l = issuingLookup('order-{orderId}', 'ord-1');
    expect(l.match).toEqual({ matchwith: 0, matchtype: 0, matchvalue: 'order-ord-1' });
    expect(l.accepts('order-ord-1')).toBe(true);
  });

  it('looks it up by CONTAINS the request id otherwise, keeping only usernames the scheme makes', () => {
    const l = issuingLookup('acme-{accountId}-{orderId}', 'ord-1');
    expect(l.match).toEqual({ matchwith: 0, matchtype: 2, matchvalue: 'ord-1' });
    expect(l.accepts('acme-acct-7-ord-1')).toBe(true);
    expect(l.accepts('acme-acct-7-ord-10')).toBe(false);
    expect(l.accepts('acme-ord-1')).toBe(false);
    expect(l.accepts('xacme-acct-ord-1')).toBe(false);
  });

  it('derives a stable enrolment password per end entity from the secret', () => {
    const secret = new TextEncoder().encode('key material');
    expect(enrollmentPassword(secret, 'u1')).toBe(enrollmentPassword(secret, 'u1'));
    expect(enrollmentPassword(secret, 'u1')).not.toBe(enrollmentPassword(secret, 'u2'));
    expect(enrollmentPassword(new TextEncoder().encode('other key'), 'u1')).not.toBe(enrollmentPassword(secret, 'u1'));
    expect(enrollmentPassword(secret, 'u1')).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});

describe('names', () => {
  it('writes identifiers as an EJBCA subjectAltName, lower-case, without duplicates or trailing dots', () => {
    expect(subjectAltName([dns('WWW.Example.test.'), dns('*.example.test'), ip('192.0.2.1'), dns('www.example.test'), ip('2001:db8::1')])).toBe(
      'dNSName=www.example.test, dNSName=*.example.test, iPAddress=192.0.2.1, iPAddress=2001:db8::1',
    );
  });

  it('refuses a request without identifiers as bad-request', () => {
    expect(thrown(() => subjectAltName([])).code).toBe('bad-request');
  });

  it('reads the allowed names from a registration subjectAltName, ignoring other fields', () => {
    expect(allowedNamesOf('dNSName=www.example.test, DNSNAME = *.example.org ,iPAddress=192.0.2.1, rfc822Name=a@example.test')).toEqual(['www.example.test', '*.example.org', '192.0.2.1']);
    expect(allowedNamesOf('')).toBeUndefined();
    expect(allowedNamesOf('rfc822Name=a@example.test')).toBeUndefined();
    expect(allowedNamesOf(undefined)).toBeUndefined();
  });

  it('applies the gateway rule: exact names, and wildcards covering every name below but not the base', () => {
    const allowed = ['exact.example.test', '*.example.org', '192.0.2.1'];
    const ids = [dns('exact.example.test'), dns('EXACT.example.test.'), dns('a.example.org'), dns('a.b.example.org'), dns('*.b.example.org'), dns('example.org'), dns('sub.exact.example.test'), ip('192.0.2.1'), ip('192.0.2.2')];
    expect(refusedIdentifiers(ids, allowed)).toEqual([dns('example.org'), dns('sub.exact.example.test'), ip('192.0.2.2')]);
  });

  it('puts the first DNS name that fits ub-common-name in CN, else an IP, else the username', () => {
    expect(subjectDn([ip('192.0.2.1'), dns('A.example.test')], 'u')).toBe('CN=a.example.test');
    expect(subjectDn([dns(`${'x'.repeat(60)}.example.test`), ip('192.0.2.1')], 'u')).toBe('CN=192.0.2.1');
    expect(subjectDn([dns(`${'x'.repeat(60)}.example.test`)], 'acme-u')).toBe('CN=acme-u');
    expect(subjectDn([], 'we,ird=name')).toBe('CN=we\\,ird\\=name');
  });

  it('writes validity in EJBCA’s "yyyy-MM-dd HH:mm:ss+00:00" form, in UTC', () => {
    expect(ejbcaTime(new Date('2030-02-03T04:05:06.789Z'))).toBe('2030-02-03 04:05:06+00:00');
  });
});

describe('custom data', () => {
  it('records the order and account URLs, profile, request id and CSR on the issuing end entity', () => {
    const data = issuingCustomData('customdata_', request('ord-9'));
    expect(data).toEqual([
      { name: 'customdata_ACME_ORDER_URL', value: 'https://gw.test/acme/p/order/ord-9' },
      { name: 'customdata_ACME_ACCOUNT_URL', value: 'https://gw.test/acme/p/acct/acct-7' },
      { name: 'customdata_ACME_PROFILE', value: 'p' },
      { name: 'customdata_ACME_REQUEST_ID', value: 'ord-9' },
      { name: 'customdata_ACME_CSR', value: 'MAMCAQA=' },
    ]);
    expect(storedCsr('customdata_', data)).toEqual(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]));
  });

  it('finds no CSR when the custom data lacks it or holds something else', () => {
    expect(storedCsr('customdata_', [])).toBeUndefined();
    expect(storedCsr('customdata_', [{ name: 'customdata_ACME_CSR', value: 'not base64!' }])).toBeUndefined();
    expect(storedCsr('other_', issuingCustomData('customdata_', request('o')))).toBeUndefined();
  });

  it('records account URL, profile, thumbprint and contacts on the registration end entity', () => {
    const data = registrationCustomData('cd_', { accountId: 'a', accountUrl: 'https://gw.test/acct/a', profile: 'p', contact: ['mailto:x@example.test', 'mailto:y@example.test'], jwkThumbprint: 'tp' });
    expect(data).toContainEqual({ name: 'cd_ACME_CONTACT', value: 'mailto:x@example.test, mailto:y@example.test' });
    expect(data.map((d) => d.name)).toEqual(['cd_ACME_ACCOUNT_URL', 'cd_ACME_PROFILE', 'cd_ACME_JWK_THUMBPRINT', 'cd_ACME_CONTACT']);
  });
});

describe('certificates', () => {
  let ca: DoubleCa;
  let leaf: ParsedCertificate;
  let chain: ParsedCertificate[];
  let stray: ParsedCertificate;

  beforeAll(async () => {
    ca = await createDoubleCa();
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const opts = { dn: 'CN=leaf.example.test', publicKey: keys.publicKey, serialHex: '0a0b0c0d0e0f1011', notBefore: new Date('2030-01-01Z'), notAfter: new Date('2030-04-01Z') };
    leaf = parseCertificate(new Uint8Array((await issueWith(ca.issuing, opts)).rawData));
    stray = parseCertificate(new Uint8Array((await issueWith(ca.stray, opts)).rawData));
    chain = [ca.issuing, ca.root].map((c) => parseCertificate(new Uint8Array(c.cert.rawData)));
  });

  const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

  it('decodes certificate data sent as base64 of the base64 text of the DER', () => {
    expect(decodeCertificateData(b64(b64(leaf.der)))).toEqual(leaf.der);
  });

  it('also takes certificate data holding base64 of the DER itself', () => {
    expect(decodeCertificateData(b64(leaf.der))).toEqual(leaf.der);
  });

  it('calls certificate data that is no DER, or no base64, unavailable', () => {
    expect(thrown(() => decodeCertificateData(b64(b64('this is not a certificate')))).code).toBe('unavailable');
    expect(thrown(() => decodeCertificateData('<html>')).code).toBe('unavailable');
    expect(thrown(() => parseCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).code).toBe('unavailable');
  });

  it('reads serial (lower-case hex) and DNs in EJBCA’s form, most specific first', () => {
    expect(leaf.serial).toBe('0a0b0c0d0e0f1011');
    expect(leaf.issuerDn).toBe('CN=Double Issuing CA,O=EJBCA Double,C=SE');
    expect(leaf.subjectDn).toBe('CN=leaf.example.test');
  });

  it('writes DNs with escapes, multi-valued RDNs and unknown attributes', () => {
    const name = new x509.Name([{ C: ['SE'] }, { O: ['Acme, Inc.'] }, { OU: ['a', 'b'] }, { '2.5.4.5': ['42'] }, { CN: ['x'] }]);
    expect(ejbcaDn(name)).toBe('CN=x,SN=42,OU=a+OU=b,O=Acme\\, Inc.,C=SE');
  });

  it('builds the chain of a leaf signed by the first CA certificate, without the self-signed root', async () => {
    expect(await chainFor(leaf, chain)).toEqual([ca.issuing.cert.toString('pem')]);
  });

  it('finds no chain for a leaf from another CA, or in an empty answer', async () => {
    expect(await chainFor(stray, chain)).toBeUndefined();
    expect(await chainFor(leaf, [])).toBeUndefined();
    expect(await chainFor(leaf, [chain[1] as ParsedCertificate])).toBeUndefined();
  });
});

describe('toConnectorError', () => {
  const fault = (element: string | undefined, message = 'm', errorCode?: string, requestId?: string, faultcode = 'soap:Server') => new EjbcaWsFault('op', faultcode, message, element, errorCode, requestId);
  const transport = (kind: EjbcaWsTransportError['kind'], status?: number, code?: string) => new EjbcaWsTransportError('op', kind, 'x', status, code);

  it('turns WaitingForApprovalException into pending-approval with EJBCA’s request id as ticket', () => {
    const e = toConnectorError(fault('WaitingForApprovalException', 'waiting', undefined, '4711'), { approvalRetryAfterSeconds: 90 });
    expect(e).toMatchObject({ code: 'pending-approval', info: { ticket: '4711', retryAfterSeconds: 90 } });
  });

  it('treats ApprovalException (the same action already waits) as still pending, keeping the ticket', () => {
    expect(toConnectorError(fault('ApprovalException'), { ticket: '12' })).toMatchObject({ code: 'pending-approval', info: { ticket: '12' } });
  });

  it('names the identifiers a UserDoesntFullfillEndEntityProfile message mentions, or all of them', () => {
    const ids = [dns('ok.example.test'), dns('Bad.example.test')];
    expect(toConnectorError(fault('UserDoesntFullfillEndEntityProfile', "Field DNSNAME value 'bad.example.test' is not valid."), { identifiers: ids })).toMatchObject({ code: 'rejected', info: { identifiers: [ids[1]] } });
    expect(toConnectorError(fault('UserDoesntFullfillEndEntityProfile', 'Subject DN field CN is required.'), { identifiers: ids }).info.identifiers).toEqual(ids);
  });

  it.each([
    ['AuthorizationDeniedException', undefined, 'unauthorized'],
    ['AlreadyRevokedException', undefined, 'already-revoked'],
    ['NotFoundException', undefined, 'not-found'],
    ['ApprovalRequestExpiredException', undefined, 'rejected'],
    ['CADoesntExistsException', undefined, 'misconfigured'],
    ['IllegalQueryException', undefined, 'misconfigured'],
    ['UnknownProfileTypeException', undefined, 'misconfigured'],
    ['EjbcaException', 'ILLEGAL_KEY', 'bad-request'],
    ['EjbcaException', 'BAD_REQUEST_SIGNATURE', 'bad-request'],
    ['EjbcaException', 'EE_PROFILE_NOT_EXISTS', 'misconfigured'],
    ['EjbcaException', 'LOGIN_ERROR', 'misconfigured'],
    ['EjbcaException', 'USER_NOT_FOUND', 'not-found'],
    ['EjbcaException', 'INTERNAL_ERROR', 'unavailable'],
    ['CesecoreException', undefined, 'unavailable'],
    [undefined, undefined, 'unavailable'],
  ])('maps fault %s %s to %s', (element, errorCode, code) => {
    expect(toConnectorError(fault(element, 'm', errorCode)).code).toBe(code);
  });

  it('calls a soap:Client fault without detail misconfigured: the request did not fit this server', () => {
    expect(toConnectorError(fault(undefined, 'Unmarshalling Error', undefined, undefined, 'soap:Client')).code).toBe('misconfigured');
  });

  it.each([
    ['timeout', undefined, 'timeout'],
    ['connection', undefined, 'unavailable'],
    ['tls', undefined, 'misconfigured'],
    ['http', 503, 'unavailable'],
    ['http', 403, 'misconfigured'],
    ['protocol', undefined, 'unavailable'],
  ] as const)('maps transport failure %s %s to %s', (kind, status, code) => {
    expect(toConnectorError(transport(kind, status), { ticket: '5' })).toMatchObject({ code, info: { ticket: '5' } });
  });

  it('passes a ConnectorError through and wraps anything else as unavailable', () => {
    const own = new ConnectorError('rejected', 'no');
    expect(toConnectorError(own)).toBe(own);
    expect(toConnectorError(new TypeError('boom')).code).toBe('unavailable');
  });

  it('recognises USER_WRONG_STATUS only as an EJBCA fault', () => {
    expect(isWrongStatus(fault('EjbcaException', 'm', 'USER_WRONG_STATUS'))).toBe(true);
    expect(isWrongStatus(fault('EjbcaException', 'm', 'LOGIN_ERROR'))).toBe(false);
    expect(isWrongStatus(new Error('USER_WRONG_STATUS'))).toBe(false);
  });
});
