import { z } from '../../src/sdk/index.js';

/** cfssl's own auth_keys entry: the HMAC key as hex (NOTES.md quirk 8). */
const hexKey = z
  .string()
  .regex(/^(?:[0-9a-fA-F]{2})+$/, { message: 'must be the hex HMAC key, as in cfssl\'s "auth_keys" entry' })
  .refine((v) => v.length >= 32, { message: 'must hold at least 16 bytes (32 hex digits)' });

/**
 * `connectors.<name>` for `type: cfssl`: CloudFlare's cfssl as a running CA (`cfssl serve` with a
 * certificate database). See connectors/cfssl/README.md for what the cfssl side must look like.
 */
export const CfsslConfigSchema = z
  .object({
    type: z.literal('cfssl'),
    /** Base URL of `cfssl serve`, e.g. http://127.0.0.1:8888; the API is below /api/v1/cfssl/. */
    url: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }),
    /**
     * `authsign`: HMAC-authenticated signing with the cfssl profile's `auth_key` (the default).
     * `sign`: unauthenticated, only for profiles without `auth_key` and a cfssl on loopback.
     */
    endpoint: z.enum(['authsign', 'sign']).default('authsign'),
    /** File holding the profile's auth_key as hex (what cfssl's `auth_keys.<name>.key` says). */
    authKeyFile: z.string().min(1).optional(),
    /** The same key inline; give authKeyFile or authKey, not both. */
    authKey: hexKey.optional(),
    /** Sent as the sign request's `label`: cfssl stores it as the certdb `ca_label`; multirootca picks its signer by it. */
    label: z.string().min(1).max(200).optional(),
    /**
     * Path of cfssl's SQLite certificate database (the `data_source` of its -db-config), opened
     * read-only: revocation status, already-revoked, and OCSP answers come from it.
     */
    certdb: z.string().min(1),
    ocsp: z
      .discriminatedUnion('mode', [
        /** The gateway answers OCSP at /ocsp/<name> (GET and POST), signed per request by cfssl `ocspsign` with the certdb status. */
        z.object({ mode: z.literal('ocspsign') }).strict(),
        /** /ocsp/<name> is proxied to a `cfssl ocspserve` (POST only; fresh only after ocsprefresh + ocspdump + restart). */
        z.object({ mode: z.literal('ocspserve'), url: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }) }).strict(),
        /** No OCSP route. */
        z.object({ mode: z.literal('none') }).strict(),
      ])
      .default({ mode: 'ocspsign' }),
    /** Where a CRL made by `cfssl gencrl` outside the gateway is published; proxied at /crl/<name>. */
    crlUrl: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
    /** Deadline of one call to cfssl (the caller's signal may be shorter). */
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  })
  .strict()
  .superRefine((v, ctx) => {
    const keys = (v.authKeyFile === undefined ? 0 : 1) + (v.authKey === undefined ? 0 : 1);
    if (keys > 1) ctx.addIssue({ code: 'custom', path: ['authKey'], message: 'give authKeyFile or authKey, not both' });
    if (v.endpoint === 'authsign' && keys === 0) {
      ctx.addIssue({ code: 'custom', path: ['authKeyFile'], message: 'endpoint authsign needs the profile\'s auth_key: set authKeyFile (or authKey), or use endpoint: sign' });
    }
    if (v.endpoint === 'sign' && keys > 0) {
      ctx.addIssue({ code: 'custom', path: ['endpoint'], message: 'an auth key is set but endpoint is sign; use endpoint: authsign' });
    }
  });

export type CfsslConfig = z.output<typeof CfsslConfigSchema>;
