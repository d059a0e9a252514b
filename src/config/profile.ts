/**
 * ACME profiles and issuance bindings (issue #5). An ACME profile holds the protocol-facing policy
 * and is served at /acme/{profile}/directory; an issuance binding ("RA profile") says where
 * certificates come from (connector + template + fixed attributes). A profile names a binding or
 * carries one inline (`connector` + `template`); a binding may enable ACME with a chosen profile at
 * /acme/raProfile/{binding}/directory.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { CHALLENGE_TYPES } from '../protocol/types.js';
import { duration, KEY_TYPES, positiveDuration, OptionalValiditySchema, TemplateSchema, ValiditySchema } from './common.js';

const IDENTIFIER_KINDS = ['dns', 'wildcard', 'ip'] as const;

/** A domain (`example.com`: it and every name below it; `*.example.com`: only names below) or a CIDR range. */
const NamePattern = z.string().min(1).refine((v) => {
  const cidr = /^(.+)\/(\d{1,3})$/.exec(v);
  if (cidr) {
    const family = isIP(cidr[1] ?? '');
    const bits = Number(cidr[2]);
    return family !== 0 && bits <= (family === 4 ? 32 : 128);
  }
  if (isIP(v)) return true;
  return /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(v);
}, { message: 'expected a domain (example.com, *.example.com), an IP address or a CIDR range (10.0.0.0/8)' });

/** RFC 8555 §6.6: at most `count` per `per` (src/ra/rate-limits.ts). */
const RateLimitSchema = (what: string) =>
  z.object({ count: z.number().int().min(1), per: positiveDuration(`rateLimits.${what}.per`) }).strict();

export const CertificateProfileSchema = z
  .object({
    /** Shown to clients in meta.profiles (draft-ietf-acme-profiles-01 §3). */
    description: z.string().min(1),
    template: TemplateSchema,
    validity: OptionalValiditySchema,
  })
  .strict();

export const ProfileSchema = z
  .object({
    enabled: z.boolean().prefault(true),
    description: z.string().optional(),
    /** The issuance binding (bindings.<name>) certificates of this profile come from. */
    binding: z.string().optional(),
    /** Inline default binding when `binding` is not given. */
    connector: z.string().prefault('embedded'),
    template: TemplateSchema.prefault('server'),
    /** draft-ietf-acme-profiles: named certificate profiles a newOrder may choose; each maps to a template. */
    certificateProfiles: z.record(z.string().regex(/^[a-zA-Z0-9._-]+$/, 'certificate profile names are letters, digits, ., _ and -'), CertificateProfileSchema).prefault({}),
    /** The certificate profile an order without `profile` gets; default: the profile's own template. */
    defaultCertificateProfile: z.string().optional(),
    termsOfService: z.url().optional(),
    /** RFC 8555 §7.3.3: when termsOfService changes, existing accounts must agree again before new orders. */
    termsReagreement: z.boolean().prefault(false),
    website: z.url().optional(),
    /** RFC 8659 issuer domain names of this CA; empty: CAA is not checked. */
    caaIdentities: z.array(z.string().min(1)).prefault([]),
    caa: z
      .object({ recheckAfter: duration('caa.recheckAfter').prefault('8h') })
      .strict()
      .prefault({ recheckAfter: '8h' }),
    eab: z.object({ required: z.boolean().prefault(false) }).strict().prefault({ required: false }),
    /**
     * open: newAccount creates the account's registration in the backend (when the connector keeps
     * registrations). pre-registered: accounts need EAB, and the EAB key id names an existing registration.
     */
    accounts: z.enum(['open', 'pre-registered']).prefault('open'),
    /** How long a registration's state (enabled, allowed names) is trusted before the backend is asked again; 0: every request. */
    registrationCacheTtl: duration('registrationCacheTtl').prefault('60s'),
    /** required: challenges as usual. none: the registration and template decide; authorizations start valid. */
    validation: z.enum(['required', 'none']).prefault('required'),
    challenges: z.array(z.enum(CHALLENGE_TYPES as [string, ...string[]])).min(1).prefault([...CHALLENGE_TYPES]),
    identifiers: z
      .object({
        types: z.array(z.enum(IDENTIFIER_KINDS)).min(1).prefault(['dns', 'wildcard', 'ip']),
        /** When not empty, every identifier must match one entry. */
        allow: z.array(NamePattern).prefault([]),
        /** An identifier matching an entry is refused, even when allowed. */
        deny: z.array(NamePattern).prefault([]),
      })
      .strict()
      .prefault({}),
    validity: ValiditySchema,
    /** CSR key types the profile accepts (RFC 8555 §7.4 badCSR otherwise). */
    csrKeyTypes: z.array(z.enum(KEY_TYPES)).min(1).prefault(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384']),
    /** Account key types (JWS) the profile accepts (badPublicKey otherwise). */
    accountKeyTypes: z.array(z.enum(KEY_TYPES)).min(1).prefault(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519']),
    orderLifetime: positiveDuration('orderLifetime').prefault('7d'),
    authzLifetime: positiveDuration('authzLifetime').prefault('7d'),
    /** How long a validated authorization stays valid (and so gives revocation rights, RFC 8555 §7.6); authorizations are not reused across orders. */
    authzReuse: positiveDuration('authzReuse').prefault('30d'),
    /** RFC 5280 reason codes an ACME client may give at revokeCert. */
    revocationReasons: z.array(z.number().int().min(0).max(10).refine((n) => n !== 7, 'reason 7 is not used')).prefault([0, 1, 3, 4, 5]),
    /** How long finalize waits for the backend before answering `processing` with Retry-After. */
    finalizeWait: duration('finalizeWait').prefault('5s'),
    /** How long an order may stay processing (approval, outage) before it becomes invalid. */
    maxPending: positiveDuration('maxPending').prefault('7d'),
    /** RFC 8555 §6.6, counted per instance: none set means no limit. */
    rateLimits: z
      .object({
        /** New orders per account. */
        newOrders: RateLimitSchema('newOrders').optional(),
        /** New accounts per client IP address. */
        newAccounts: RateLimitSchema('newAccounts').optional(),
      })
      .strict()
      .prefault({}),
    ordersPageSize: z.number().int().min(1).max(1000).prefault(100),
    maxIdentifiers: z.number().int().min(1).max(1000).prefault(100),
    ari: z
      .object({
        /** RFC 9773: the renewal window opens when this share of the lifetime is left... */
        windowStart: z.number().gt(0).lt(1).prefault(1 / 3),
        /** ...and closes when this share is left. */
        windowEnd: z.number().gt(0).lt(1).prefault(1 / 6),
      })
      .strict()
      .prefault({})
      .refine((v) => v.windowEnd < v.windowStart, { message: 'ari.windowEnd must be smaller than ari.windowStart', path: ['windowEnd'] }),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.defaultCertificateProfile !== undefined && !p.certificateProfiles[p.defaultCertificateProfile]) {
      ctx.addIssue({ code: 'custom', path: ['defaultCertificateProfile'], message: `no certificate profile named "${p.defaultCertificateProfile}"` });
    }
    if (p.validation === 'required' && !p.identifiers.types.includes('dns') && !p.identifiers.types.includes('ip') && !p.identifiers.types.includes('wildcard')) {
      ctx.addIssue({ code: 'custom', path: ['identifiers', 'types'], message: 'allows no identifier type' });
    }
  });

export const BindingSchema = z
  .object({
    enabled: z.boolean().prefault(true),
    connector: z.string().min(1),
    template: TemplateSchema,
    /** Serve this binding at /acme/raProfile/{binding}/directory with the named ACME profile's policy. */
    acme: z.object({ enabled: z.boolean().prefault(true), profile: z.string().min(1) }).strict().optional(),
  })
  .strict();
