import { describe, it, expect } from 'vitest';
import * as der from '../../../../connectors/embedded/der.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('der', () => {
  it('encodes short and long lengths', () => {
    expect(hex(der.octetString(new Uint8Array(3)))).toBe('0403000000');
    expect(hex(der.octetString(new Uint8Array(200))).slice(0, 6)).toBe('0481c8');
    expect(hex(der.octetString(new Uint8Array(300))).slice(0, 8)).toBe('0482012c');
  });

  it('encodes INTEGERs minimally and positive', () => {
    expect(hex(der.unsignedInteger(new Uint8Array([0x00, 0x00, 0x7f])))).toBe('02017f');
    expect(hex(der.unsignedInteger(new Uint8Array([0x80])))).toBe('02020080');
    expect(hex(der.unsignedInteger(new Uint8Array([0x00])))).toBe('020100');
  });

  it('encodes and reads back object identifiers', () => {
    for (const id of ['2.5.29.17', '1.2.840.113549.1.1.11', '1.3.6.1.5.5.7.48.2', '1.2.840.10045.3.1.7']) {
      const enc = der.oid(id);
      expect(der.oidText(enc, der.readNode(enc, 0))).toBe(id);
    }
    expect(hex(der.oid('1.2.840.113549'))).toBe('06062a864886f70d');
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    expect(Buffer.from(der.time(new Date('2030-01-02T03:04:05.678Z')).subarray(2)).toString()).toBe('300102030405Z');
    expect(der.time(new Date('2030-01-02T03:04:05Z'))[0]).toBe(0x17);
    const late = der.time(new Date('2050-01-01T00:00:00Z'));
    expect(late[0]).toBe(0x18);
    expect(Buffer.from(late.subarray(2)).toString()).toBe('20500101000000Z');
  });

  it('turns IPv4 and every IPv6 spelling into address bytes', () => {
    expect(hex(der.ipBytes('192.0.2.7'))).toBe('c0000207');
    expect(hex(der.ipBytes('::1'))).toBe('00000000000000000000000000000001');
    expect(hex(der.ipBytes('::'))).toBe('0'.repeat(32));
    expect(hex(der.ipBytes('2001:db8::8:800:200c:417a'))).toBe('20010db80000000000080800200c417a');
    expect(hex(der.ipBytes('fe80::'))).toBe('fe80' + '0'.repeat(28));
    expect(hex(der.ipBytes('::ffff:192.0.2.1'))).toBe('00000000000000000000ffffc0000201');
    expect(hex(der.ipBytes('2001:db8:1:2:3:4:5:6'))).toBe('20010db8000100020003000400050006');
    expect(() => der.ipBytes('not-an-ip')).toThrow(RangeError);
  });

  it('turns a P1363 ECDSA signature into a DER Ecdsa-Sig-Value', () => {
    const raw = new Uint8Array(64);
    raw[0] = 0x80; // r needs a leading zero
    raw[63] = 0x01; // s is 1
    const out = der.ecdsaSignatureToDer(raw);
    const [r, s] = der.childrenOf(out, der.readNode(out, 0), 0x30);
    expect(hex(der.contentOf(out, r!))).toBe('0080' + '0'.repeat(62));
    expect(hex(der.contentOf(out, s!))).toBe('01');
  });

  it('refuses lengths that run past their container', () => {
    const bad = new Uint8Array([0x30, 0x05, 0x02, 0x01]);
    expect(() => der.readNode(bad, 0)).toThrow(RangeError);
    expect(() => der.readNode(new Uint8Array([0x30, 0x80]), 0)).toThrow(/indefinite/);
  });
});
