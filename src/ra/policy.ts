/**
 * Profile policy checked before any backend call (issue #5): identifier types and allow/deny lists,
 * account key types, certificate profiles (draft-ietf-acme-profiles-01), terms re-agreement.
 * Each check throws the RFC 8555 §6.7 problem a client should see, naming the setting that refused.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { TemplateConfig } from '../config/schema.js';
import { problem, type Subproblem } from '../protocol/problem.js';
import type { AccountRecord } from '../storage/store.js';
import { keyTypeOf } from '../sdk/csr.js';
import type { ParsedIdentifier } from './identifiers.js';
import type { ProfileRuntime } from './profiles.js';

/** "ec-p256", "rsa-2048", "ed25519" for a public JWK. */
export function keyTypeOfJwk(jwk: Record<string, unknown>): string {
  return keyTypeOf(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }));
}

export function checkAccountKeyType(profile: ProfileRuntime, jwk: Record<string, unknown>): void {
  const type = keyTypeOfJwk(jwk);
  if (!(profile.config.accountKeyTypes as readonly string[]).includes(type)) {
    throw problem.badPublicKey(`account key type ${type} is not accepted by profile ${profile.name} (accepted: ${profile.config.accountKeyTypes.join(', ')})`);
  }
}

interface CompiledPatterns {
  names: { suffix: string; includeSelf: boolean }[];
  ips: BlockList;
  hasIps: boolean;
}

function compile(patterns: readonly string[]): CompiledPatterns {
  const ips = new BlockList();
  const names: CompiledPatterns['names'] = [];
  let hasIps = false;
  for (const p of patterns) {
    const cidr = /^(.+)\/(\d{1,3})$/.exec(p);
    if (cidr && isIP(cidr[1] ?? '')) {
      ips.addSubnet(cidr[1] ?? '', Number(cidr[2]), isIP(cidr[1] ?? '') === 6 ? 'ipv6' : 'ipv4');
      hasIps = true;
    } else if (isIP(p)) {
      ips.addAddress(p, isIP(p) === 6 ? 'ipv6' : 'ipv4');
      hasIps = true;
    } else if (p.startsWith('*.')) {
      names.push({ suffix: p.slice(1).toLowerCase(), includeSelf: false });
    } else {
      names.push({ suffix: `.${p.toLowerCase()}`, includeSelf: true });
    }
  }
  return { names, ips, hasIps };
}

function matches(c: CompiledPatterns, p: ParsedIdentifier): boolean {
  const { type, value } = p.identifier;
  if (type === 'ip') return c.hasIps && c.ips.check(value, isIP(value) === 6 ? 'ipv6' : 'ipv4');
  // A wildcard keeps its "*" as the leftmost label: *.x.example matches what x.example matches, and a
  // "*.x.example" entry too, since every name the certificate is good for lies below x.example.
  const dotted = `.${value}`;
  return c.names.some((n) => (n.includeSelf && dotted === n.suffix) || (dotted.endsWith(n.suffix) && dotted !== n.suffix));
}

const compiledCache = new WeakMap<readonly string[], CompiledPatterns>();
function compiled(patterns: readonly string[]): CompiledPatterns {
  let c = compiledCache.get(patterns);
  if (!c) {
    c = compile(patterns);
    compiledCache.set(patterns, c);
  }
  return c;
}

/** Identifier types and allow/deny lists; every refused identifier is one subproblem. */
export function checkIdentifierPolicy(profile: ProfileRuntime, parsed: readonly ParsedIdentifier[]): void {
  const { types, allow, deny } = profile.config.identifiers;
  const subs: Subproblem[] = [];
  for (const p of parsed) {
    const kind = p.identifier.type === 'ip' ? 'ip' : p.wildcard ? 'wildcard' : 'dns';
    const refuse = (detail: string) => subs.push({ type: 'rejectedIdentifier', detail, identifier: p.identifier });
    if (!(types as readonly string[]).includes(kind)) refuse(`profile ${profile.name} does not issue for ${kind === 'ip' ? 'IP addresses' : kind === 'wildcard' ? 'wildcard names' : 'DNS names'} (identifiers.types)`);
    else if (deny.length > 0 && matches(compiled(deny), p)) refuse(`${p.identifier.value} is on profile ${profile.name}'s deny list (identifiers.deny)`);
    else if (allow.length > 0 && !matches(compiled(allow), p)) refuse(`${p.identifier.value} is not on profile ${profile.name}'s allow list (identifiers.allow)`);
  }
  if (subs.length > 0) throw problem.rejectedIdentifier(subs, subs.length === 1 ? subs[0]?.detail : undefined);
}

export interface ChosenCertificateProfile {
  /** The draft-ietf-acme-profiles name, or null when the profile's own template applies. */
  name: string | null;
  template: TemplateConfig;
  validity: ProfileRuntime['config']['validity'];
}

/** draft-ietf-acme-profiles-01 §4: the named profile must be one this directory advertises. */
export function chooseCertificateProfile(profile: ProfileRuntime, requested: string | undefined): ChosenCertificateProfile {
  const cfg = profile.config;
  const name = requested ?? cfg.defaultCertificateProfile;
  if (name === undefined) return { name: null, template: profile.template, validity: cfg.validity };
  const chosen = cfg.certificateProfiles[name];
  if (!chosen) {
    const offered = Object.keys(cfg.certificateProfiles);
    throw problem.invalidProfile(`certificate profile "${name}" is not offered here${offered.length ? ` (offered: ${offered.join(', ')})` : ''}`);
  }
  return { name, template: chosen.template, validity: chosen.validity ?? cfg.validity };
}

/** RFC 8555 §7.3.3: when the profile's terms changed and re-agreement is required, new orders wait for it. */
export function checkTermsAgreement(profile: ProfileRuntime, account: AccountRecord): void {
  const terms = profile.config.termsOfService;
  if (!terms || !profile.config.termsReagreement) return;
  if (account.termsAgreedVersion !== terms) {
    throw problem.userActionRequired(`the terms of service changed; agree to ${terms} (update the account with termsOfServiceAgreed: true) before new orders`, terms);
  }
}
