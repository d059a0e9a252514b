import 'reflect-metadata'; // before @peculiar/x509, which needs a Reflect polyfill (tsyringe)
import { describe, it, expect } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { derInteger, extendedKeyUsages, normalizeSerial, parseCsr, randomSerial, readSpki, subjectNames } from '../../../../connectors/embedded/mapping.js';
import { SeededRandom } from '../../../../src/lib/random.js';
import { EmbeddedConfigSchema } from '../../../../connectors/embedded/config.js';
import { makeCsr } from './helpers.js';

describe('serials', () => {
  it('draws 16 random bytes with the top bit clear and a non-zero first byte', () => {
    const random = new SeededRandom('serials');
    for (let i = 0; i < 500; i++) {
      const serial = randomSerial(random);
      expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(serial.startsWith('00')).toBe(false);
    }
  });

  it('draws again when the first byte would be zero', () => {
    const draws = [new Uint8Array(16), new Uint8Array(16).fill(0x80), new Uint8Array(16).fill(0x81)];
    const serial = randomSerial({ bytes: () => draws.shift() ?? new Uint8Array(16) });
    expect(serial).toBe('01' + '81'.repeat(15)); // 0x00 redrawn, 0x80 & 0x7f is 0: redrawn, 0x81 → 0x01
  });

  it('spells a serial one way whatever the case, colons or leading zeros', () => {
    expect(normalizeSerial('00:AB:cd')).toBe('abcd');
    expect(normalizeSerial('0abc')).toBe('0abc');
    expect(normalizeSerial('abc')).toBe('0abc');
    expect(normalizeSerial('000')).toBe('00');
  });

  it('encodes the CRL number as a DER INTEGER', () => {
    expect(Buffer.from(derInteger(1n)).toString('hex')).toBe('020101');
    expect(Buffer.from(derInteger(128n)).toString('hex')).toBe('02020080');
    expect(Buffer.from(derInteger(0n)).toString('hex')).toBe('020100');
  });
});

describe('subjectNames', () => {
  it('lower-cases DNS names, keeps order, drops duplicates and takes the first DNS name as CN', () => {
    const names = subjectNames([
      { type: 'ip', value: '192.0.2.1' },
      { type: 'dns', value: 'WWW.Example.TEST' },
      { type: 'dns', value: '*.example.test' },
      { type: 'dns', value: 'www.example.test' },
    ]);
    expect(names).toEqual({
      altNames: [{ type: 'ip', value: '192.0.2.1' }, { type: 'dns', value: 'www.example.test' }, { type: 'dns', value: '*.example.test' }],
      commonName: 'www.example.test',
    });
  });

  it('leaves the subject empty for IP-only requests', () => {
    expect(subjectNames([{ type: 'ip', value: '2001:db8::1' }]).commonName).toBeUndefined();
  });

  it('refuses every bad identifier at once, naming each', () => {
    const bad = [{ type: 'dns' as const, value: '-bad.example' }, { type: 'ip' as const, value: '300.1.1.1' }, { type: 'dns' as const, value: '*' }];
    expect(() => subjectNames([{ type: 'dns', value: 'ok.example' }, ...bad])).toThrow(expect.objectContaining({ code: 'bad-request', info: { identifiers: bad } }));
  });

  it('refuses an empty list', () => {
    expect(() => subjectNames([])).toThrow(expect.objectContaining({ code: 'bad-request' }));
  });
});

describe('extendedKeyUsages', () => {
  it('defaults to serverAuth', () => {
    expect(extendedKeyUsages({ name: 'server', attributes: {} })).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('follows the template attribute', () => {
    expect(extendedKeyUsages({ name: 'client', attributes: { extendedKeyUsages: ['clientAuth'] } })).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('reports a wrong attribute as misconfigured', () => {
    expect(() => extendedKeyUsages({ name: 't', attributes: { extendedKeyUsages: 'serverAuth' } })).toThrow(expect.objectContaining({ code: 'misconfigured' }));
  });
});

describe('CSR and key checks', () => {
  it('reads key kind and size from the SPKI as Node does', () => {
    for (const [type, opts, want] of [
      ['rsa', { modulusLength: 3072 }, { kind: 'rsa', bits: 3072 }],
      ['ec', { namedCurve: 'P-384' }, { kind: 'ec', curve: 'P-384' }],
      ['ec', { namedCurve: 'P-521' }, { kind: 'ec', curve: 'P-521' }],
    ] as const) {
      const { publicKey } = generateKeyPairSync(type as 'rsa', opts as { modulusLength: number });
      const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
      const read = readSpki(spki);
      expect(read.key).toEqual(want);
      expect(read.keyObject.equals(publicKey)).toBe(true);
    }
  });

  it('names an Ed25519 key as unsupported', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    expect(readSpki(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))).key).toEqual({ kind: 'other', name: 'Ed25519' });
  });

  it('accepts a P-256 CSR and returns its key', async () => {
    const parsed = parseCsr(await makeCsr(['a.example.test']));
    expect(parsed.key).toEqual({ kind: 'ec', curve: 'P-256' });
  });

  it('rejects a CSR with trailing bytes', async () => {
    const csr = await makeCsr(['a.example.test']);
    expect(() => parseCsr(new Uint8Array([...csr, 0]))).toThrow(expect.objectContaining({ code: 'bad-request' }));
  });
});

describe('config', () => {
  it('fills the documented defaults', () => {
    expect(EmbeddedConfigSchema.parse({ type: 'embedded' })).toEqual({
      type: 'embedded',
      keyType: 'ec-p256',
      organization: 'ACME Gateway',
      rootCommonName: 'ACME Gateway Root CA',
      issuingCommonName: 'ACME Gateway Issuing CA',
      rootValidity: 3650,
      issuingValidity: 1825,
      defaultValidityDays: 90,
      crlValidityHours: 24,
      ocspValidityHours: 4,
      ocspResponderValidityDays: 30,
    });
  });

  it('refuses unknown keys and an issuing CA outliving the root', () => {
    expect(EmbeddedConfigSchema.safeParse({ type: 'embedded', colour: 'red' }).success).toBe(false);
    const r = EmbeddedConfigSchema.safeParse({ type: 'embedded', rootValidity: 100, issuingValidity: 200 });
    expect(r.success ? [] : r.error.issues.map((i) => i.path.join('.'))).toContain('issuingValidity');
  });
});
