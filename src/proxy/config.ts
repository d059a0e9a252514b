/**
 * The `proxy.routes` section: path prefixes on the gateway mapped to upstream URLs of the legacy
 * CA (OCSP, CRL, pages). src/config/schema.ts embeds ProxyRoutesSchema; the target only ever
 * comes from here, never from a request.
 */
import { z } from 'zod';
import { isDotSegment } from './path.js';

/** Methods a route may allow. CONNECT and TRACE never: the proxy is not a tunnel and echoes nothing. */
export const PROXY_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Prefixes the gateway serves itself and a route may not shadow. */
const RESERVED_PREFIXES = ['/acme'];
/** RFC 3986 §3.3 pchar without percent-encoding, so a prefix compares byte for byte with the raw request path. */
const PREFIX_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$/;

const prefix = z
  .string()
  .refine((p) => p.startsWith('/') && p.length > 1 && !p.endsWith('/'), { message: 'must start with "/", not end with "/" and not be "/" alone, e.g. /ocsp' })
  .refine((p) => p.slice(1).split('/').every((s) => PREFIX_SEGMENT.test(s) && !isDotSegment(s)), {
    message: 'segments may hold letters, digits and -._~!$&\'()*+,;=:@ only, and no "." or ".." segment',
  })
  .refine((p) => !RESERVED_PREFIXES.some((r) => p === r || p.startsWith(`${r}/`)), { message: `must not be under ${RESERVED_PREFIXES.join(', ')}` });

const target = z.string().superRefine((t, ctx) => {
  const problem = (() => {
    if (!URL.canParse(t)) return 'must be an absolute http:// or https:// URL';
    const u = new URL(t);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http:// or https:// URL';
    if (u.username !== '' || u.password !== '') return 'must not carry credentials; use tls.clientCertFile for client authentication';
    if (t.includes('?') || t.includes('#')) return 'must not carry a query or fragment';
    return undefined;
  })();
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const pem = (what: string) => z.string().refine((v) => v.includes('-----BEGIN '), { message: `must be PEM text (${what})` });

export const ProxyTlsSchema = z
  .object({
    /** PEM file of the CAs that sign the upstream's certificate; replaces the system trust store. */
    caFile: z.string().min(1).optional(),
    /** The same as PEM text. */
    ca: pem('CA certificates').optional(),
    /** false accepts any upstream certificate: for a lab only, and logged at warn at startup. */
    rejectUnauthorized: z.boolean().default(true),
    /** Client certificate (PEM) for upstreams that want mutual TLS, with its key. */
    clientCertFile: z.string().min(1).optional(),
    clientKeyFile: z.string().min(1).optional(),
    clientCert: pem('client certificate').optional(),
    clientKey: pem('client key').optional(),
    /** SNI and certificate name check, when the target's host is an address the certificate does not name. */
    servername: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.ca !== undefined && v.caFile !== undefined) ctx.addIssue({ code: 'custom', path: ['ca'], message: 'give ca or caFile, not both' });
    if (v.clientCert !== undefined && v.clientCertFile !== undefined) ctx.addIssue({ code: 'custom', path: ['clientCert'], message: 'give clientCert or clientCertFile, not both' });
    if (v.clientKey !== undefined && v.clientKeyFile !== undefined) ctx.addIssue({ code: 'custom', path: ['clientKey'], message: 'give clientKey or clientKeyFile, not both' });
    const hasCert = v.clientCert !== undefined || v.clientCertFile !== undefined;
    const hasKey = v.clientKey !== undefined || v.clientKeyFile !== undefined;
    if (hasCert !== hasKey) ctx.addIssue({ code: 'custom', path: [hasCert ? 'clientKeyFile' : 'clientCertFile'], message: 'a client certificate needs its key and the other way round' });
  });

export const ProxyRouteSchema = z
  .object({
    /** Path on the gateway, e.g. /ocsp; the route also serves everything below it (/ocsp/...). */
    prefix,
    /** Upstream URL; its path replaces the prefix: /ocsp/x with target http://ca:8080/status/ocsp goes to /status/ocsp/x. */
    target,
    /** Anything else is 405 with Allow. OCSP needs GET and POST (RFC 6960 Appendix A.1). */
    methods: z
      .array(z.string().transform((m) => m.toUpperCase()).pipe(z.enum(PROXY_METHODS)))
      .min(1)
      .default(['GET', 'HEAD'])
      .transform((ms) => [...new Set(ms)]),
    /** Wait for the upstream's response head, and any silence after it, at most this long; then 504. */
    timeoutMs: z.number().int().min(1).max(600_000).default(10_000),
    tls: ProxyTlsSchema.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.tls !== undefined && URL.canParse(v.target) && new URL(v.target).protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls settings need an https:// target' });
    }
  });

export const ProxyRoutesSchema = z
  .array(ProxyRouteSchema)
  .default([])
  .superRefine((routes, ctx) => {
    const seen = new Map<string, number>();
    routes.forEach((r, i) => {
      const first = seen.get(r.prefix);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'prefix'], message: `prefix ${r.prefix} is already routed by entry ${first}` });
      else seen.set(r.prefix, i);
    });
  });

export type ProxyTls = z.output<typeof ProxyTlsSchema>;
export type ProxyRoute = z.output<typeof ProxyRouteSchema>;
/** What a config file or a connector's ProxyUpstreams may give; defaults fill the rest. */
export type ProxyRouteInput = z.input<typeof ProxyRouteSchema>;
