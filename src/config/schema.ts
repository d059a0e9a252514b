/**
 * The configuration schema: the only definition of config types. Every key has a default that
 * gives the embedded deployment (built-in CA, SQLite, self-signed TLS), so an empty file is valid.
 * docs/configuration.md is checked against this file by test/unit/config/docs.test.ts.
 */
import { z } from 'zod';
import { parseDurationMs } from '../lib/duration.js';
import { CHALLENGE_TYPES } from '../protocol/types.js';

const duration = (what: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const ms = parseDurationMs(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `${what}: "${String(v)}" is not a duration (use e.g. 90d, 12h, 30m, 45s, 500ms)` });
        return z.NEVER;
      }
      return ms;
    });

const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, { message: 'expected HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:53' });

export function parseHostPort(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

const port = z.number().int().min(1).max(65535);

export const KEY_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

const TemplateSchema = z.union([
  z.string().min(1).transform((name) => ({ name, attributes: {} as Record<string, string | number | boolean | string[]> })),
  z.object({
    name: z.string().min(1),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])).prefault({}),
  }).strict(),
]);

export const ProfileSchema = z
  .object({
    enabled: z.boolean().prefault(true),
    description: z.string().optional(),
    connector: z.string().prefault('embedded'),
    template: TemplateSchema.prefault('server'),
    termsOfService: z.url().optional(),
    website: z.url().optional(),
    caaIdentities: z.array(z.string().min(1)).prefault([]),
    eab: z.object({ required: z.boolean().prefault(false) }).strict().prefault({ required: false }),
    /**
     * open: newAccount creates the account's registration in the backend (when the connector keeps
     * registrations). pre-registered: accounts need EAB, and the EAB key id names an existing registration.
     */
    accounts: z.enum(['open', 'pre-registered']).prefault('open'),
    /** How long a registration's state (enabled, allowed names) is trusted before the backend is asked again; 0: every request. */
    registrationCacheTtl: duration('registrationCacheTtl').prefault('60s'),
    challenges: z.array(z.enum(CHALLENGE_TYPES as [string, ...string[]])).min(1).prefault([...CHALLENGE_TYPES]),
    validity: z
      .object({ default: duration('validity.default').prefault('90d'), min: duration('validity.min').prefault('1h'), max: duration('validity.max').prefault('397d') })
      .strict()
      .prefault({ default: '90d', min: '1h', max: '397d' })
      .superRefine((v, ctx) => {
        if (v.min > v.max) ctx.addIssue({ code: 'custom', path: ['min'], message: 'must not be longer than validity.max' });
        if (v.default < v.min || v.default > v.max) ctx.addIssue({ code: 'custom', path: ['default'], message: 'must lie between validity.min and validity.max' });
      }),
    /** CSR key types the profile accepts (RFC 8555 §7.4 badCSR otherwise). */
    csrKeyTypes: z.array(z.enum(KEY_TYPES)).min(1).prefault(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384']),
    orderLifetime: duration('orderLifetime').prefault('7d'),
    authzLifetime: duration('authzLifetime').prefault('7d'),
    /** How long a valid authorization may be reused for a new order and for revocation rights. */
    authzReuse: duration('authzReuse').prefault('30d'),
    /** RFC 5280 reason codes an ACME client may give at revokeCert. */
    revocationReasons: z.array(z.number().int().min(0).max(10).refine((n) => n !== 7, 'reason 7 is not used')).prefault([0, 1, 3, 4, 5]),
    /** How long finalize waits for the backend before answering `processing` with Retry-After. */
    finalizeWait: duration('finalizeWait').prefault('5s'),
    ordersPageSize: z.number().int().min(1).max(1000).prefault(100),
    maxIdentifiers: z.number().int().min(1).max(1000).prefault(100),
  })
  .strict();

export const ConnectorSchema = z.object({ type: z.string().min(1) }).loose();

export const ConfigSchema = z
  .object({
    dataDir: z.string().prefault('./data'),
    server: z
      .object({
        listen: hostPort.prefault('127.0.0.1:8443'),
        /** Public URL clients use, when behind a proxy or mounted under a prefix; default from listen. */
        baseUrl: z.url().optional(),
        tls: z
          .object({
            mode: z.enum(['self-signed', 'files', 'off']).prefault('self-signed'),
            /** Extra DNS names or IPs for the self-signed listener certificate. */
            names: z.array(z.string().min(1)).prefault([]),
            certFile: z.string().optional(),
            keyFile: z.string().optional(),
          })
          .strict()
          .prefault({ mode: 'self-signed', names: [] })
          .superRefine((v, ctx) => {
            if (v.mode === 'files' && (!v.certFile || !v.keyFile)) ctx.addIssue({ code: 'custom', message: 'mode "files" needs certFile and keyFile' });
          }),
        bodyLimitBytes: z.number().int().min(1024).max(10_000_000).prefault(65_536),
        shutdownGrace: duration('shutdownGrace').prefault('10s'),
      })
      .strict()
      .prefault({ listen: '127.0.0.1:8443', tls: { mode: 'self-signed', names: [] }, bodyLimitBytes: 65_536, shutdownGrace: '10s' }),
    storage: z
      .discriminatedUnion('driver', [
        z.object({ driver: z.literal('sqlite'), path: z.string().optional() }).strict(),
        z.object({ driver: z.literal('postgres'), url: z.string().min(1), poolSize: z.number().int().min(1).prefault(10) }).strict(),
      ])
      .prefault({ driver: 'sqlite' }),
    validation: z
      .object({
        /** DNS server for every validation lookup (HOST:PORT); unset: the system resolver. */
        dnsResolver: hostPort.optional(),
        http01Port: port.prefault(80),
        tlsAlpn01Port: port.prefault(443),
        timeout: duration('validation.timeout').prefault('10s'),
        maxRedirects: z.number().int().min(0).max(20).prefault(10),
        maxBodyBytes: z.number().int().min(128).max(1_000_000).prefault(8192),
        concurrency: z.number().int().min(1).max(1000).prefault(16),
        /** Retry-After on a challenge being validated. */
        retryAfterSeconds: z.number().int().min(1).prefault(2),
      })
      .strict()
      .prefault({ http01Port: 80, tlsAlpn01Port: 443, timeout: '10s', maxRedirects: 10, maxBodyBytes: 8192, concurrency: 16, retryAfterSeconds: 2 }),
    nonces: z
      .object({ lifetime: duration('nonces.lifetime').prefault('1h'), maxStored: z.number().int().min(100).prefault(200_000) })
      .strict()
      .prefault({ lifetime: '1h', maxStored: 200_000 }),
    logging: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).prefault('info') })
      .strict()
      .prefault({ level: 'info' }),
    connectors: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'connector names are lower-case letters, digits, - and _'), ConnectorSchema).prefault({ embedded: { type: 'embedded' } }),
    profiles: z
      .record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/, 'profile names are letters, digits, - and _'), ProfileSchema)
      .prefault({ default: {} }),
    defaultProfile: z.string().prefault('default'),
  })
  .strict();

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
export type ProfileConfig = z.output<typeof ProfileSchema>;
export type TemplateConfig = z.output<typeof TemplateSchema>;
