import { problem } from '../protocol/problem.js';

const MAX_CONTACTS = 10;
// A deliberately plain address check: one local part, one domain with a dot, no spaces, no hfields.
const EMAIL = /^[^\s@,;<>"?&]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/i;

/** RFC 8555 §7.3: contact URLs. Only `mailto:` with one plain address is supported. */
export function checkContacts(contact: readonly string[]): string[] {
  if (contact.length > MAX_CONTACTS) throw problem.invalidContact(`at most ${MAX_CONTACTS} contacts are accepted`);
  return contact.map((c) => {
    if (!c.toLowerCase().startsWith('mailto:')) throw problem.unsupportedContact(`contact "${c}" is not supported; use a mailto: URL`);
    const address = c.slice('mailto:'.length);
    if (!EMAIL.test(address)) throw problem.invalidContact(`contact "${c}" is not a single e-mail address (RFC 8555 §7.3: no hfields, one address)`);
    return `mailto:${address}`;
  });
}
