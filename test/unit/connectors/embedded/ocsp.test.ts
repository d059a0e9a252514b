import 'reflect-metadata';
import { describe, it, expect, beforeEach } from 'vitest';
import { X509Certificate, createHash, verify } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Koa from 'koa';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { BasicOCSPResponse, CertID, OCSPRequest, OCSPResponse, Request, TBSRequest, id_pkix_ocsp_basic, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { CA_FILES, ocspPath, type EmbeddedConnector } from '../../../../connectors/embedded/index.js';
import { hasOcspResponder } from '../../../../src/sdk/index.js';
import { createOcspEndpoint } from '../../../../src/proxy/ocsp-http.js';
import { TestClock } from '../../../../src/lib/clock.js';
import { BASE_URL, issueRequest, memoryLogger, signal, start, tempDir } from './helpers.js';

const OPENSSL = '/usr/bin/openssl';
const START = '2030-01-01T00:00:00Z';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SHA1 = '1.3.14.3.2.26';
const SHA256 = '2.16.840.1.101.3.4.2.1';
const run = promisify(execFile);

// ---------------------------------------------------------------- building requests, reading responses

function spkiBits(cert: x509.X509Certificate): Uint8Array {
  return new Uint8Array(AsnConvert.parse(cert.publicKey.rawData, SubjectPublicKeyInfo).subjectPublicKey);
}

function certId(issuerPem: string, serialHex: string, hash: 'sha1' | 'sha256' = 'sha1'): CertID {
  const issuer = new x509.X509Certificate(issuerPem);
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: hash === 'sha1' ? SHA1 : SHA256, parameters: null }),
    issuerNameHash: new OctetString(createHash(hash).update(new Uint8Array(issuer.subjectName.toArrayBuffer())).digest()),
    issuerKeyHash: new OctetString(createHash(hash).update(spkiBits(issuer)).digest()),
    serialNumber: new Uint8Array(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex')).buffer,
  });
}

function ocspRequest(ids: CertID[], nonce?: Uint8Array): Uint8Array {
  const requestExtensions = nonce === undefined ? undefined : [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) })];
  const tbsRequest = new TBSRequest({ requestList: ids.map((reqCert) => new Request({ reqCert })), ...(requestExtensions ? { requestExtensions } : {}) });
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest })));
}

function readResponse(der: Uint8Array): { status: number; basic?: BasicOCSPResponse } {
  const response = AsnConvert.parse(der, OCSPResponse);
  if (response.responseBytes === undefined) return { status: response.responseStatus };
  expect(response.responseBytes.responseType).toBe(id_pkix_ocsp_basic);
  return { status: response.responseStatus, basic: AsnConvert.parse(response.responseBytes.response.buffer, BasicOCSPResponse) };
}

describe('embedded connector OCSP responder', () => {
  let dataDir: string;
  let dir: string;
  let clock: TestClock;
  let connector: EmbeddedConnector;
  let issuingPem: string;

  const boot = async (at: string | Date = START) => {
    clock = new TestClock(at);
    connector = (await start(dataDir, clock, 'ocsp')).connector;
    issuingPem = connector.caCertificatesPem()[1] ?? '';
  };

  beforeEach(async () => {
    const tmp = await tempDir();
    dataDir = tmp.path;
    dir = join(dataDir, 'connectors', 'embedded');
    await boot();
    return async () => {
      await connector.close();
      await tmp.remove();
    };
  });

  const issue = async (id: string) => connector.issue(await issueRequest(id, [`${id}.example.test`]), signal());
  const ask = async (ids: CertID[], nonce?: Uint8Array) => readResponse(await connector.ocsp(ocspRequest(ids, nonce), signal()));

  it('is found by hasOcspResponder and names its URL in the AIA of what it issues', async () => {
    expect(hasOcspResponder(connector)).toBe(true);
    const leaf = new x509.X509Certificate((await issue('aia')).leafPem);
    expect(leaf.getExtension(x509.AuthorityInfoAccessExtension)?.ocsp.map((n) => n.value)).toEqual([`${BASE_URL}/ocsp/embedded`]);
    expect(ocspPath('embedded')).toBe('/ocsp/embedded');
  });

  it('answers good for an issued certificate, signed by a delegated responder with OCSPSigning and nocheck', async () => {
    const issued = await issue('good');
    const { status, basic } = await ask([certId(issuingPem, issued.serial)]);

    expect(status).toBe(0); // successful
    const tbs = basic!.tbsResponseData;
    expect(tbs.responses).toHaveLength(1);
    const single = tbs.responses[0]!;
    expect(single.certStatus.good).toBeNull();
    expect(single.certStatus.revoked).toBeUndefined();
    expect(Buffer.from(single.certID.serialNumber).toString('hex')).toBe(issued.serial);
    expect(single.thisUpdate.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(single.nextUpdate?.toISOString()).toBe('2030-01-01T04:00:00.000Z'); // ocspValidityHours: 4
    expect(tbs.producedAt.toISOString()).toBe('2030-01-01T00:00:00.000Z');

    expect(basic!.certs).toHaveLength(1);
    const responder = new x509.X509Certificate(AsnConvert.serialize(basic!.certs![0]!));
    const issuing = new x509.X509Certificate(issuingPem);
    expect(await responder.verify({ publicKey: issuing, signatureOnly: true })).toBe(true);
    expect(responder.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual(['1.3.6.1.5.5.7.3.9']);
    expect(responder.getExtension('1.3.6.1.5.5.7.48.1.5')).toMatchObject({ critical: false });
    expect(Buffer.from(responder.getExtension('1.3.6.1.5.5.7.48.1.5')!.value)).toEqual(Buffer.from([0x05, 0x00]));
    expect(responder.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    // ResponderID byKey: SHA-1 of the responder's subjectPublicKey (RFC 6960 §4.2.1).
    expect(Buffer.from(tbs.responderID.byKey!.buffer)).toEqual(createHash('sha1').update(spkiBits(responder)).digest());
    const signed = verify('sha256', new Uint8Array(AsnConvert.serialize(tbs)), new X509Certificate(Buffer.from(responder.rawData)).publicKey, new Uint8Array(basic!.signature));
    expect(signed).toBe(true);
  });

  it('answers revoked with the revocation time and reason', async () => {
    const issued = await issue('revoked');
    clock.advance(HOUR_MS);
    await connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 1 }, signal());
    clock.advance(HOUR_MS);

    const single = (await ask([certId(issuingPem, issued.serial)])).basic!.tbsResponseData.responses[0]!;
    expect(single.certStatus.revoked?.revocationTime.toISOString()).toBe('2030-01-01T01:00:00.000Z');
    expect(single.certStatus.revoked?.revocationReason?.reason).toBe(1); // keyCompromise
    expect(single.thisUpdate.toISOString()).toBe('2030-01-01T02:00:00.000Z');
  });

  it('leaves the reason out for a revocation with reason unspecified (0)', async () => {
    const issued = await issue('unspecified');
    await connector.revoke({ serial: issued.serial, issuer: issued.issuer, reason: 0 }, signal());
    const single = (await ask([certId(issuingPem, issued.serial)])).basic!.tbsResponseData.responses[0]!;
    expect(single.certStatus.revoked).toBeDefined();
    expect(single.certStatus.revoked?.revocationReason).toBeUndefined();
  });

  it('answers unknown for a serial this CA never issued', async () => {
    const single = (await ask([certId(issuingPem, '0badc0ffee')])).basic!.tbsResponseData.responses[0]!;
    expect(single.certStatus.unknown).toBeNull();
    expect(single.certStatus.good).toBeUndefined();
  });

  it('answers each CertID of a request in order, SHA-256 CertIDs too', async () => {
    const a = await issue('multi-a');
    const b = await issue('multi-b');
    await connector.revoke({ serial: b.serial, issuer: b.issuer, reason: 4 }, signal());
    const { basic } = await ask([certId(issuingPem, a.serial, 'sha256'), certId(issuingPem, b.serial), certId(issuingPem, '01')]);
    const statuses = basic!.tbsResponseData.responses.map((r) => (r.certStatus.revoked ? 'revoked' : r.certStatus.good === null ? 'good' : 'unknown'));
    expect(statuses).toEqual(['good', 'revoked', 'unknown']);
    expect(basic!.tbsResponseData.responses[0]!.certID.hashAlgorithm.algorithm).toBe(SHA256);
  });

  it('echoes the nonce extension', async () => {
    const issued = await issue('nonce');
    const nonce = new Uint8Array(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
    const ext = (await ask([certId(issuingPem, issued.serial)], nonce)).basic!.tbsResponseData.responseExtensions;
    expect(ext).toHaveLength(1);
    expect(ext![0]!.extnID).toBe(id_pkix_ocsp_nonce);
    expect(Buffer.from(ext![0]!.extnValue.buffer)).toEqual(Buffer.from(AsnConvert.serialize(new OctetString(nonce))));
  });

  it('sends no response extensions when the request has no nonce', async () => {
    const issued = await issue('no-nonce');
    expect((await ask([certId(issuingPem, issued.serial)])).basic!.tbsResponseData.responseExtensions).toBeUndefined();
  });

  it('answers malformedRequest, unsigned, to bytes that are not an OCSPRequest', async () => {
    for (const bad of [new Uint8Array([0x30, 0x03, 0x02, 0x01]), new Uint8Array(Buffer.from('not der')), new Uint8Array(0)]) {
      const der = await connector.ocsp(bad, signal());
      expect(Buffer.from(der).toString('hex')).toBe('30030a0101'); // OCSPResponse { malformedRequest }
    }
  });

  it('answers malformedRequest to a request with trailing bytes or no CertID', async () => {
    const issued = await issue('trailing');
    const good = ocspRequest([certId(issuingPem, issued.serial)]);
    const trailing = new Uint8Array([...good, 0x00]);
    expect(readResponse(await connector.ocsp(trailing, signal())).status).toBe(1);
    expect(readResponse(await connector.ocsp(ocspRequest([]), signal())).status).toBe(1);
  });

  it('answers unauthorized when the CertID names another issuer', async () => {
    const issued = await issue('other-issuer');
    const rootPem = connector.caCertificatesPem()[0] ?? '';
    const { status, basic } = await ask([certId(rootPem, issued.serial)]);
    expect(status).toBe(6);
    expect(basic).toBeUndefined();
  });

  it('keeps the responder across restarts and renews it when a third of its life is left', async () => {
    const first = await stat(join(dir, CA_FILES.ocspResponder));
    expect(first.mode & 0o777).toBe(0o600);
    const issued = await issue('renew');
    const responderOf = async () => new x509.X509Certificate(AsnConvert.serialize((await ask([certId(issuingPem, issued.serial)])).basic!.certs![0]!));
    const original = await responderOf();
    expect(original.notAfter.getTime() - clock.now().getTime()).toBe(30 * DAY_MS); // ocspResponderValidityDays: 30

    await connector.close();
    await boot(new Date(clock.now().getTime() + 19 * DAY_MS));
    expect((await responderOf()).serialNumber).toBe(original.serialNumber);

    clock.advance(DAY_MS + 1000); // 20 days in: 10 days of 30 left
    const renewed = await responderOf();
    expect(renewed.serialNumber).not.toBe(original.serialNumber);
    expect(renewed.notAfter.getTime() - clock.now().getTime()).toBe(30 * DAY_MS);
    expect(await readFile(join(dir, CA_FILES.ocspResponder), 'utf8')).toContain(Buffer.from(renewed.rawData).toString('base64').slice(0, 64));
  });

  it('throws unavailable once closed', async () => {
    await connector.close();
    await expect(connector.ocsp(ocspRequest([certId(issuingPem, '01')]), signal())).rejects.toMatchObject({ code: 'unavailable' });
    await boot(); // for the afterEach close
  });

  describe('with openssl ocsp over HTTP', () => {
    // openssl checks times against the real clock, so these tests run at the present.
    beforeEach(async () => {
      await connector.close();
      const tmp = await tempDir();
      dataDir = tmp.path;
      dir = join(dataDir, 'connectors', 'embedded');
      await boot(new Date(Date.now()));
      const app = new Koa();
      app.use(createOcspEndpoint(ocspPath('embedded'), connector, { log: memoryLogger() }));
      const server = http.createServer(app.callback());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${ocspPath('embedded')}`;
      return async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await tmp.remove();
      };
    });
    let url: string;

    const files = async (name: string) => {
      const issued = await issue(name);
      const leaf = join(dir, `${name}.pem`);
      await writeFile(leaf, issued.leafPem);
      return { issued, leaf, issuing: join(dir, CA_FILES.issuingCert), root: join(dir, CA_FILES.rootCert) };
    };

    it('says good and verifies the response over POST', async () => {
      const f = await files('openssl-good');
      const { stdout, stderr } = await run(OPENSSL, ['ocsp', '-issuer', f.issuing, '-cert', f.leaf, '-url', url, '-CAfile', f.root, '-resp_text']);
      expect(stderr).toMatch(/Response verify OK/);
      expect(stdout).toContain(`${f.leaf}: good`);
      expect(stdout).toMatch(/Responder Id: [0-9A-F]{40}/); // byKey
      expect(stdout).toMatch(/OCSP Nonce:/);
    });

    it('says revoked with the reason after a revocation', async () => {
      const f = await files('openssl-revoked');
      await connector.revoke({ serial: f.issued.serial, issuer: f.issued.issuer, reason: 5 }, signal());
      const { stdout, stderr } = await run(OPENSSL, ['ocsp', '-issuer', f.issuing, '-cert', f.leaf, '-url', url, '-CAfile', f.root, '-resp_text']);
      expect(stderr).toMatch(/Response verify OK/);
      expect(stdout).toContain(`${f.leaf}: revoked`);
      expect(stdout).toMatch(/Reason: cessationOfOperation/);
    });

    it('answers a GET with the url-encoded base64 request (RFC 6960 Appendix A.1)', async () => {
      const f = await files('openssl-get');
      const reqFile = join(dir, 'get.req');
      await run(OPENSSL, ['ocsp', '-issuer', f.issuing, '-cert', f.leaf, '-no_nonce', '-reqout', reqFile]);
      const encoded = encodeURIComponent((await readFile(reqFile)).toString('base64'));
      const res = await fetch(`${url}/${encoded}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/ocsp-response');
      const respFile = join(dir, 'get.resp');
      await writeFile(respFile, new Uint8Array(await res.arrayBuffer()));
      const { stdout, stderr } = await run(OPENSSL, ['ocsp', '-respin', respFile, '-issuer', f.issuing, '-cert', f.leaf, '-CAfile', f.root, '-no_nonce']);
      expect(stderr).toMatch(/Response verify OK/);
      expect(stdout).toContain(`${f.leaf}: good`);
    });
  });
});
