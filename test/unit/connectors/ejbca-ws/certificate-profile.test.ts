/**
 * Reading EJBCA certificate profiles (getProfile(id, "cp"): XMLEncoder XML of the profile's data map)
 * into TemplateCatalog limits: the XML shapes, EJBCA's key rules (algorithm list, named curves or
 * ANY_EC_CURVE, min − 1 ≤ length ≤ max), both validity encodings, and odd values that must leave a
 * limit undefined rather than invent one.
 */
import { describe, expect, it } from 'vitest';
import {
  absoluteValidityDate,
  certificateProfileLimits,
  parseXmlEncoderMap,
  profileLimits,
  ProfileXmlError,
  relativeValiditySeconds,
} from '../../../../connectors/ejbca-ws/certificate-profile.js';
import { certificateProfileXml, defaultCertificateProfiles } from '../../../fakes/ejbca-ws/profiles.js';

const DAY = 86_400;
const NOW = new Date('2030-01-01T00:00:00Z');

/** An XMLEncoder document of a LinkedHashMap with these entries (key → value element XML). */
function doc(entries: Record<string, string>): string {
  const puts = Object.entries(entries).map(([k, v]) => `  <void method="put">\n   <string>${k}</string>\n   ${v}\n  </void>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<java version="1.8.0_392" class="java.beans.XMLDecoder">\n <object class="java.util.LinkedHashMap">\n${puts.join('\n')}\n </object>\n</java>\n`;
}
const list = (items: string[]) => `<object class="java.util.ArrayList">${items.map((i) => `<void method="add">${i}</void>`).join('')}</object>`;
const strings = (...s: string[]) => list(s.map((x) => `<string>${x}</string>`));
const ints = (...n: number[]) => list(n.map((x) => `<int>${x}</int>`));
const limitsOf = (entries: Record<string, string>, now = NOW) => profileLimits(parseXmlEncoderMap(doc(entries)), now);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A profile as EJBCA 7+ exports it, with only the parts that matter here. */
const modern = (over: Record<string, string> = {}) =>
  limitsOf({
    version: '<float>46.0</float>',
    encodedvalidity: '<string>2y</string>',
    availablekeyalgorithms: strings('RSA', 'ECDSA'),
    availableeccurves: strings('secp256r1', 'secp384r1'),
    availablebitlengths: ints(2048, 3072, 4096),
    minimumavailablebitlength: '<int>2048</int>',
    maximumavailablebitlength: '<int>4096</int>',
    ...over,
  });

describe('XMLEncoder documents', () => {
  it('reads strings, numbers, booleans, null, lists, arrays, nested maps and references', () => {
    const map = parseXmlEncoderMap(
      doc({
        s: '<string>a &amp; b</string>',
        empty: '<string></string>',
        nul: '<string>x<char code="#0"/>y</string>',
        i: '<int>-1</int>',
        l: '<long>1304960280000</long>',
        f: '<float>46.0</float>',
        t: '<boolean>true</boolean>',
        n: '<null/>',
        list: '<object class="java.util.ArrayList" id="ArrayList0"><void method="add"><int>1</int></void><void method="add"><string>two</string></void></object>',
        again: '<object idref="ArrayList0"/>',
        arr: '<array class="int" length="3"><void index="0"><int>5</int></void><void index="2"><int>7</int></void></array>',
        map: '<object class="java.util.HashMap"><void method="put"><string>k</string><boolean>false</boolean></void></object>',
        bean: '<object class="org.cesecore.certificates.certificateprofile.CertificatePolicy"><void property="policyID"><string>2.5.29.32.0</string></void></object>',
      }),
    );
    expect(Object.fromEntries(map)).toEqual({
      s: 'a & b',
      empty: '',
      nul: 'x\u0000y',
      i: -1,
      l: 1304960280000,
      f: 46,
      t: true,
      n: null,
      list: [1, 'two'],
      again: [1, 'two'],
      arr: [5, null, 7],
      map: new Map([['k', false]]),
      bean: { opaque: 'org.cesecore.certificates.certificateprofile.CertificatePolicy' },
    });
  });

  it('keeps a value it cannot read from spoiling the other keys', () => {
    const map = parseXmlEncoderMap(doc({ bad: '<int>12abc</int>', also: '<boolean>maybe</boolean>', good: '<int>3</int>' }));
    expect(map.get('good')).toBe(3);
    expect(map.get('bad')).toEqual({ opaque: '<int>12abc</int> is not a number' });
    expect(map.get('also')).toEqual({ opaque: '<boolean>maybe</boolean> is not a boolean' });
  });

  it('refuses a document that is not an XMLEncoder map', () => {
    expect(() => parseXmlEncoderMap('not xml at all')).toThrow(ProfileXmlError);
    expect(() => parseXmlEncoderMap('<profile><name>SERVER</name></profile>')).toThrow(/not XMLEncoder's <java>/);
    expect(() => parseXmlEncoderMap('<java><object class="java.util.ArrayList"/></java>')).toThrow(/exactly one java.util map/);
  });
});

describe('key types a certificate profile allows', () => {
  it('maps RSA sizes and named curves to the gateway’s names', () => {
    expect(modern()).toEqual({ keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'], maxValiditySeconds: 730 * DAY, problems: [] });
  });

  it('checks RSA sizes against the range, as EJBCA does, not against membership in the list', () => {
    const gap = modern({ availablebitlengths: ints(2048, 4096), minimumavailablebitlength: '<int>2048</int>', maximumavailablebitlength: '<int>4096</int>' });
    expect(gap.keyTypes).toContain('rsa-3072');
    // The min/max entries are what EJBCA checks; the list is only a fallback. min − 1 still passes.
    expect(modern({ availablebitlengths: ints(1024, 8192), minimumavailablebitlength: '<int>3073</int>', maximumavailablebitlength: '<int>8192</int>' }).keyTypes).toEqual(['rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384']);
    expect(modern({ minimumavailablebitlength: '<null/>', maximumavailablebitlength: '<null/>', availablebitlengths: ints(3072, 4096) }).keyTypes).toEqual(['rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384']);
  });

  it('takes ANY_EC_CURVE (or no curve entry at all) as every curve whose size fits the range', () => {
    const any = { availableeccurves: strings('ANY_EC_CURVE'), availablebitlengths: ints(384, 4096), minimumavailablebitlength: '<int>384</int>', maximumavailablebitlength: '<int>4096</int>' };
    expect(modern(any).keyTypes).toEqual(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p384', 'ec-p521']);
    const { availableeccurves: _gone, ...rest } = any;
    expect(limitsOf({ availablekeyalgorithms: strings('ECDSA'), encodedvalidity: '<string>1y</string>', ...rest }).keyTypes).toEqual(['ec-p384', 'ec-p521']);
  });

  it('knows a curve by any of its names, and leaves the ones the gateway does not know', () => {
    expect(modern({ availablekeyalgorithms: strings('ECDSA'), availableeccurves: strings('prime256v1', 'P-521', 'brainpoolP384r1') }).keyTypes).toEqual(['ec-p256', 'ec-p521']);
    // Only curves the gateway does not know: nothing it could send is allowed.
    expect(modern({ availablekeyalgorithms: strings('ECDSA', 'FALCON-512'), availableeccurves: strings('brainpoolP256r1'), availablebitlengths: ints(), minimumavailablebitlength: '<null/>', maximumavailablebitlength: '<null/>' })).toEqual({ keyTypes: [], maxValiditySeconds: 730 * DAY, problems: [] });
  });

  it('allows ed25519 when Ed25519 is listed, and ignores algorithms the gateway has no name for', () => {
    expect(modern({ availablekeyalgorithms: strings('DSA', 'Ed25519', 'Ed448', 'RSA') }).keyTypes).toEqual(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519']);
  });

  it('takes an empty curve list as every curve, and says so', () => {
    const r = modern({ availableeccurves: '<object class="java.util.ArrayList"/>', availablebitlengths: ints(256, 4096), minimumavailablebitlength: '<int>256</int>', maximumavailablebitlength: '<int>4096</int>' });
    expect(r.keyTypes).toEqual(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521']);
    expect(r.problems).toEqual([expect.stringContaining('availableeccurves is an empty list')]);
  });

  it('claims no key limit when the algorithms or lengths are not there in a form it knows', () => {
    const noAlgorithms = modern({ availablekeyalgorithms: '<string>RSA</string>' });
    expect(noAlgorithms.keyTypes).toBeUndefined();
    expect(noAlgorithms.problems).toEqual(['availablekeyalgorithms is "RSA", not a list of algorithm names']);
    const noLengths = modern({ availablebitlengths: '<null/>', minimumavailablebitlength: '<int>12abc</int>', maximumavailablebitlength: '<int>4096</int>' });
    expect(noLengths.keyTypes).toBeUndefined();
    expect(noLengths.problems).toEqual([expect.stringMatching(/give no key length range/)]);
    const curvesNotAList = modern({ availableeccurves: '<string>secp256r1</string>' });
    expect(curvesNotAList.keyTypes).toBeUndefined();
    expect(curvesNotAList.problems).toEqual(['availableeccurves is "secp256r1", not a list of curve names']);
    expect(limitsOf({ encodedvalidity: '<string>2y</string>' })).toMatchObject({ problems: ['availablekeyalgorithms is absent, not a list of algorithm names'] });
  });
});

describe('the longest validity a certificate profile allows', () => {
  it('reads relative encoded validities with SimpleTime’s units (a year 365 days, a month 30)', () => {
    expect(relativeValiditySeconds('2y')).toBe(730 * DAY);
    expect(relativeValiditySeconds('730d')).toBe(730 * DAY);
    expect(relativeValiditySeconds('1y 2mo 3d')).toBe(428 * DAY);
    expect(relativeValiditySeconds('1y +2mo -3d 4h 5m 6s')).toBe(422 * DAY + 4 * 3600 + 5 * 60 + 6);
    expect(relativeValiditySeconds('90D12H')).toBe(90 * DAY + 12 * 3600);
    for (const odd of ['', 'forever', '2 fortnights', '730', '2y 1y', '1y and 2d']) expect(relativeValiditySeconds(odd)).toBeUndefined();
    expect(modern({ encodedvalidity: '<string>1y 2mo 3d</string>' }).maxValiditySeconds).toBe(428 * DAY);
  });

  it('turns a fixed end date into what is left of it now, and a past one into 0', () => {
    expect(absoluteValidityDate('2031-01-01 00:00:00+00:00')).toEqual(new Date('2031-01-01T00:00:00Z'));
    expect(absoluteValidityDate('2031-01-01 12:30+0200')).toEqual(new Date('2031-01-01T10:30:00Z'));
    expect(absoluteValidityDate('2031-01-01')).toEqual(new Date('2031-01-01T00:00:00Z'));
    expect(modern({ encodedvalidity: '<string>2030-01-31 00:00:00+00:00</string>' }).maxValiditySeconds).toBe(30 * DAY);
    expect(modern({ encodedvalidity: '<string>2029-06-01 00:00:00+00:00</string>' }).maxValiditySeconds).toBe(0);
  });

  it('falls back to the pre-6.6.1 validity: days, or an end date in epoch milliseconds', () => {
    expect(modern({ encodedvalidity: '<string></string>', validity: '<long>730</long>' }).maxValiditySeconds).toBe(730 * DAY);
    expect(modern({ encodedvalidity: '<null/>', validity: '<long>365</long>' }).maxValiditySeconds).toBe(365 * DAY);
    expect(modern({ encodedvalidity: '<null/>', validity: `<long>${Date.parse('2030-01-11T00:00:00Z')}</long>` }).maxValiditySeconds).toBe(10 * DAY);
  });

  it('claims no validity limit for a value it cannot read', () => {
    const forever = modern({ encodedvalidity: '<string>forever</string>', validity: '<long>730</long>' });
    expect(forever.maxValiditySeconds).toBeUndefined(); // EJBCA reads encodedvalidity when it is set; so do we
    expect(forever.problems).toEqual(['encodedvalidity "forever" is neither a positive relative time nor an end date']);
    expect(modern({ encodedvalidity: '<int>730</int>' })).toMatchObject({ problems: ['encodedvalidity is 730, not a string'] });
    expect(modern({ encodedvalidity: '<string>-1d</string>' }).maxValiditySeconds).toBeUndefined();
    const neither = modern({ encodedvalidity: '<null/>' });
    expect(neither.maxValiditySeconds).toBeUndefined();
    expect(neither.problems).toEqual(['no usable validity: encodedvalidity is null, validity is absent']);
  });
});

describe('getProfile replies', () => {
  it('decodes the base64 field and reads it', () => {
    expect(certificateProfileLimits(b64(doc({ availablekeyalgorithms: strings('Ed25519'), encodedvalidity: '<string>90d</string>' })), NOW)).toEqual({ keyTypes: ['ed25519'], maxValiditySeconds: 90 * DAY, problems: [] });
  });

  it('gives no limits and one problem for a reply that is not a profile', () => {
    expect(certificateProfileLimits('%%%', NOW)).toEqual({ problems: ['the profile could not be read: getProfile returned data that is not base64'] });
    expect(certificateProfileLimits(b64('<html>Internal error</html>'), NOW)).toEqual({ problems: [expect.stringContaining('not XMLEncoder')] });
    expect(certificateProfileLimits(b64('{"json": true}'), NOW).problems).toEqual([expect.stringContaining('not well-formed XML')]);
  });

  it('reads what the EJBCA double writes', () => {
    const { SERVER, ENDUSER } = defaultCertificateProfiles();
    expect(certificateProfileLimits(b64(certificateProfileXml(SERVER)), NOW)).toEqual({ keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'], maxValiditySeconds: 730 * DAY, problems: [] });
    expect(certificateProfileLimits(b64(certificateProfileXml(ENDUSER)), NOW)).toEqual({ keyTypes: ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519'], maxValiditySeconds: 730 * DAY, problems: [] });
  });
});
