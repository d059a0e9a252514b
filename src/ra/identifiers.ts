/**
 * Identifier syntax: RFC 8555 §7.1.4 (dns, wildcards), RFC 8738 (ip). Values are normalised
 * (lower case, no trailing dot, canonical IP text) before anything is stored or compared.
 */
import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { problem, type Subproblem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface ParsedIdentifier {
  /** As it will appear in the certificate (`*.example.com` for a wildcard). */
  identifier: Identifier;
  /** The authorization's identifier: the wildcard's base domain (§7.1.3). */
  authzIdentifier: Identifier;
  wildcard: boolean;
}

/** Canonical text of an IP address (RFC 5952 for IPv6), or undefined when it is not one. */
export function canonicalIp(value: string): string | undefined {
  const v = isIP(value);
  if (v === 4) return value.split('.').map((p) => String(Number(p))).join('.') === value ? value : undefined;
  // RFC 8738 §3 wants RFC 5952 text, which has no zone index: node:net accepts "fe80::1%eth0", URL throws.
  if (v === 6) return value.includes('%') ? undefined : new URL(`http://[${value}]/`).hostname.slice(1, -1);
  return undefined;
}

/** RFC 5890 §2.3.2.1: an A-label is the Punycode of a U-label (non-ASCII) and encodes back to itself. */
function isALabel(label: string): boolean {
  const unicode = domainToUnicode(label);
  return /[^\x00-\x7f]/.test(unicode) && domainToASCII(unicode) === label;
}

function dnsProblem(value: string): string | undefined {
  if (value.length > 253) return 'is longer than 253 characters';
  if (isIP(value)) return 'is an IP address; use an identifier of type "ip" (RFC 8738)';
  const labels = value.split('.');
  if (labels.length < 2) return 'must have at least two labels';
  for (const label of labels) {
    if (label === '*') return 'may use "*" only as the whole leftmost label';
    if (!LABEL.test(label)) return `has an invalid label "${label}"`;
    // §7.1.4: "Servers MUST verify any identifier values that begin with the ASCII-Compatible Encoding
    // prefix "xn--" as defined in [RFC5890] are properly encoded."
    if (label.startsWith('xn--') && !isALabel(label)) return `has a label "${label}" that is not a valid A-label (RFC 5890)`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return 'has an all-numeric top-level label';
  return undefined;
}

/** Parses one identifier; returns a subproblem instead of throwing, so all refusals are reported at once. */
export function parseIdentifier(raw: { type: string; value: string }): ParsedIdentifier | Subproblem {
  const shown = { type: raw.type as Identifier['type'], value: raw.value };
  if (raw.type === 'dns') {
    const value = raw.value.toLowerCase().replace(/\.$/, '');
    const wildcard = value.startsWith('*.');
    const base = wildcard ? value.slice(2) : value;
    const why = dnsProblem(base);
    if (why) return { type: 'rejectedIdentifier', detail: `"${raw.value}" ${why}`, identifier: shown };
    return { identifier: { type: 'dns', value }, authzIdentifier: { type: 'dns', value: base }, wildcard };
  }
  if (raw.type === 'ip') {
    const value = canonicalIp(raw.value);
    if (!value) return { type: 'rejectedIdentifier', detail: `"${raw.value}" is not an IPv4 or IPv6 address in canonical form`, identifier: shown };
    return { identifier: { type: 'ip', value }, authzIdentifier: { type: 'ip', value }, wildcard: false };
  }
  return { type: 'unsupportedIdentifier', detail: `identifier type "${raw.type}" is not supported (dns, ip)`, identifier: shown };
}

/** Parses all identifiers of a newOrder; throws one problem listing every refused identifier (§6.7.1). */
export function parseIdentifiers(raw: readonly { type: string; value: string }[], maxCount: number): ParsedIdentifier[] {
  if (raw.length === 0) throw problem.malformed('identifiers must not be empty');
  if (raw.length > maxCount) throw problem.rejectedIdentifier([], `an order may have at most ${maxCount} identifiers; this one has ${raw.length}`);
  const parsed: ParsedIdentifier[] = [];
  const subs: Subproblem[] = [];
  const seen = new Set<string>();
  for (const r of raw) {
    const p = parseIdentifier(r);
    if ('detail' in p) {
      subs.push(p);
      continue;
    }
    const key = `${p.identifier.type}:${p.identifier.value}`;
    if (seen.has(key)) continue; // duplicates collapse: one SAN, one authorization
    seen.add(key);
    parsed.push(p);
  }
  if (subs.length > 0) {
    const detail = subs.length === 1 ? subs[0]?.detail : undefined;
    if (subs.every((s) => s.type === 'unsupportedIdentifier')) throw problem.unsupportedIdentifier(detail ?? `${subs.length} identifiers have unsupported types`, subs);
    throw problem.rejectedIdentifier(subs, detail);
  }
  return parsed.sort((a, b) => (a.identifier.type + a.identifier.value).localeCompare(b.identifier.type + b.identifier.value));
}
