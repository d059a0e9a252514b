/**
 * Account contacts (src/ra/contacts.ts, RFC 8555 §7.3): mailto: with one plain address; another
 * scheme is unsupportedContact, a bad mailto: value is invalidContact, both naming the contact.
 */
import { describe, it, expect } from 'vitest';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import { checkContacts } from '../../../src/ra/contacts.js';

function refusal(contact: string[]): AcmeProblem {
  try {
    checkContacts(contact);
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('checkContacts', () => {
  it('accepts no contact at all', () => {
    expect(checkContacts([])).toEqual([]);
  });

  it('accepts plain mailto: addresses and keeps their order', () => {
    expect(checkContacts(['mailto:ops@example.test', 'mailto:pki.team+acme@mail.example.test'])).toEqual(['mailto:ops@example.test', 'mailto:pki.team+acme@mail.example.test']);
  });

  it('writes the scheme in lower case', () => {
    expect(checkContacts(['MAILTO:Ops@Example.TEST'])).toEqual(['mailto:Ops@Example.TEST']);
  });

  it('accepts ten contacts and refuses eleven with invalidContact', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `mailto:ops${i}@example.test`);
    expect(checkContacts(ten)).toHaveLength(10);
    expect(refusal([...ten, 'mailto:one-more@example.test'])).toMatchObject({ type: 'invalidContact', status: 400, detail: 'at most 10 contacts are accepted' });
  });

  it('refuses another scheme with unsupportedContact naming the contact (§7.3 MUST)', () => {
    expect(refusal(['tel:+15555550100'])).toMatchObject({ type: 'unsupportedContact', status: 400, detail: 'contact "tel:+15555550100" is not supported; use a mailto: URL' });
  });

  it('refuses a bare address without the mailto: scheme as unsupported', () => {
    expect(refusal(['ops@example.test']).type).toBe('unsupportedContact');
  });

  it('refuses a mailto: URL with hfields with invalidContact naming it', () => {
    expect(refusal(['mailto:ops@example.test?subject=certs'])).toMatchObject({ type: 'invalidContact', detail: expect.stringContaining('contact "mailto:ops@example.test?subject=certs" is not a single e-mail address') });
  });

  it('refuses a mailto: URL with two addresses', () => {
    expect(refusal(['mailto:a@example.test,b@example.test']).type).toBe('invalidContact');
  });

  it('refuses an address whose domain has no dot', () => {
    expect(refusal(['mailto:root@localhost']).type).toBe('invalidContact');
  });

  it('refuses an address with a space', () => {
    expect(refusal(['mailto:ops team@example.test']).type).toBe('invalidContact');
  });

  it('refuses an empty mailto:', () => {
    expect(refusal(['mailto:']).type).toBe('invalidContact');
  });

  it('refuses the whole list when one contact is bad', () => {
    expect(refusal(['mailto:ok@example.test', 'mailto:bad']).detail).toContain('"mailto:bad"');
  });
});
