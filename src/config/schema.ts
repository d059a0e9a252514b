/**
 * The configuration schema: the only definition of config types. Every key has a default that
 * gives the embedded deployment (built-in CA, SQLite, self-signed TLS), so an empty file is valid.
 * docs/configuration.md is checked against this file by test/unit/config/docs.test.ts.
 */
import { z } from 'zod';
import { duration, hostPort, port, positiveDuration, type TemplateSchema } from './common.js';
import { ProfileSchema, BindingSchema } from './profile.js';
import { ProxyRoutesSchema } from '../proxy/config.js';

export { parseHostPort, KEY_TYPES, type KeyType } from './common.js';
export { ProfileSchema, BindingSchema } from './profile.js';

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
        z.object({ driver: z.literal('postgres'), url: z.string().min(1), poolSize: z.number().int().min(1).prefault(10), schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional() }).strict(),
      ])
      .prefault({ driver: 'sqlite' }),
    validation: z
      .object({
        /** DNS server for every validation lookup (HOST:PORT); unset: the system resolver. */
        dnsResolver: hostPort.optional(),
        http01Port: port.prefault(80),
        tlsAlpn01Port: port.prefault(443),
        timeout: positiveDuration('validation.timeout').prefault('10s'),
        maxRedirects: z.number().int().min(0).max(20).prefault(10),
        maxBodyBytes: z.number().int().min(128).max(1_000_000).prefault(8192),
        concurrency: z.number().int().min(1).max(1000).prefault(16),
        /** Retry-After on a challenge being validated. */
        retryAfterSeconds: z.number().int().min(1).prefault(2),
      })
      .strict()
      .prefault({ http01Port: 80, tlsAlpn01Port: 443, timeout: '10s', maxRedirects: 10, maxBodyBytes: 8192, concurrency: 16, retryAfterSeconds: 2 }),
    nonces: z
      .object({
        lifetime: positiveDuration('nonces.lifetime').prefault('1h'),
        maxStored: z.number().int().min(100).prefault(200_000),
        /** memory: per process (one instance). database: shared by every instance on the database. auto: database on PostgreSQL. */
        store: z.enum(['auto', 'memory', 'database']).prefault('auto'),
      })
      .strict()
      .prefault({}),
    logging: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).prefault('info') })
      .strict()
      .prefault({ level: 'info' }),
    connectors: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'connector names are lower-case letters, digits, - and _'), ConnectorSchema).prefault({ embedded: { type: 'embedded' } }),
    profiles: z
      .record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/, 'profile names are letters, digits, - and _'), ProfileSchema)
      .prefault({ default: {} }),
    /** Reverse-proxy routes to the legacy system's OCSP, CRL and pages (src/proxy/). */
    proxy: z.object({ routes: ProxyRoutesSchema }).strict().prefault({}),
    /** Work the gateway does on timers while it runs (src/app/gateway.ts starts and stops it). */
    background: z
      .object({
        templateCheck: z
          .object({
            /** How often the template limits are read from the backends again; 0: only at startup. */
            interval: duration('background.templateCheck.interval').prefault('1h'),
          })
          .strict()
          .prefault({}),
        revocationPoll: z
          .object({
            /** How often the certificates not revoked and not expired are asked about in their backend; 0: never. */
            interval: duration('background.revocationPoll.interval').prefault('15m'),
            /** Status calls in flight at once. */
            concurrency: z.number().int().min(1).max(64).prefault(4),
            /** Deadline of one status call. */
            timeout: positiveDuration('background.revocationPoll.timeout').prefault('10s'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** GET /health and GET /metrics on the main listener. */
    operatorEndpoints: z.boolean().prefault(true),
    bindings: z.record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/, 'binding names are letters, digits, - and _'), BindingSchema).prefault({}),
    defaultProfile: z.string().prefault('default'),
  })
  .strict();

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
export type ProfileConfig = z.output<typeof ProfileSchema>;
export type TemplateConfig = z.output<typeof TemplateSchema>;
export type BindingConfig = z.output<typeof BindingSchema>;
