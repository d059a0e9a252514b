import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from '../../src/sdk/index.js';

/**
 * The WSDL the connector ships: EJBCA 7.7's, unchanged (sha256 bc507923…); newer EJBCA keeps every
 * operation. Found beside this file when run from source, or in the source tree from dist/.
 */
export function shippedWsdl(): string {
  const beside = fileURLToPath(new URL('./wsdl/ejbcaws.wsdl', import.meta.url));
  const fromDist = fileURLToPath(new URL('../../../connectors/ejbca-ws/wsdl/ejbcaws.wsdl', import.meta.url));
  return existsSync(beside) || !existsSync(fromDist) ? beside : fromDist;
}

/** EndEntityConstants (ejbca-ce): the statuses an officer sets to switch an end entity off. */
export const STATUS_REVOKED = 50;
export const STATUS_HISTORICAL = 60;

type Placeholder = 'accountId' | 'orderId' | 'profile';

/** A username scheme: literal text plus {accountId}, {orderId} and {profile}; `required` must appear. */
const scheme = (required: Placeholder, allowed: readonly Placeholder[]) =>
  z
    .string()
    .min(1)
    .max(200)
    .superRefine((v, ctx) => {
      const used = [...v.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] ?? '');
      for (const name of used) {
        if (!(allowed as readonly string[]).includes(name)) ctx.addIssue({ code: 'custom', message: `unknown placeholder {${name}}; use ${allowed.map((a) => `{${a}}`).join(', ')}` });
      }
      if (!used.includes(required)) ctx.addIssue({ code: 'custom', message: `must contain {${required}} so every ${required === 'orderId' ? 'order' : 'account'} gets its own end entity` });
      if (/[{}]/.test(v.replace(/\{[^}]*\}/g, ''))) ctx.addIssue({ code: 'custom', message: 'unbalanced braces' });
    });

/**
 * `connectors.<name>` for `type: ejbca-ws`: EJBCA's RA web service (SOAP) over mutual TLS.
 * See connectors/ejbca-ws/README.md for the registration convention these names serve.
 */
export const EjbcaWsConfigSchema = z
  .object({
    type: z.literal('ejbca-ws'),
    /** https://<ca>:8443/ejbca/ejbcaws/ejbcaws; always used instead of the WSDL's soap:address. */
    url: z.url({ protocol: /^https$/, message: 'must be an https:// URL (EJBCA requires client-certificate TLS)' }),
    /** Path of the WSDL; default: the one shipped in connectors/ejbca-ws/wsdl/. */
    wsdl: z.string().min(1).optional(),
    /** PEM files: the RA administrator's client certificate and key, and the CA(s) that issued EJBCA's TLS certificate. */
    clientCert: z.string().min(1),
    clientKey: z.string().min(1),
    clientKeyPassphrase: z.string().min(1).optional(),
    caCert: z.string().min(1),
    /** The issuing CA's name in EJBCA; also where getLastCAChain takes the chain from. A template attribute `caName` overrides it. */
    caName: z.string().min(1),
    /** End entity profile of issuing end entities; a template attribute `endEntityProfile` overrides it. */
    endEntityProfile: z.string().min(1),
    /** Certificate profile of registration end entities (EJBCA wants one on every end entity). Issuing end entities use the template's name. */
    certificateProfile: z.string().min(1).default('ENDUSER'),
    registration: z
      .object({
        /** Username of an account's registration end entity. */
        username: scheme('accountId', ['accountId', 'profile']).default('acme-{accountId}'),
        /** Its end entity profile; default: endEntityProfile. */
        endEntityProfile: z.string().min(1).optional(),
        /** Its subject DN; {username} is the end entity's username. */
        subjectDn: z.string().min(1).default('CN={username}'),
      })
      .strict()
      .prefault({}),
    issuing: z
      .object({
        /** Username of the end entity made for one order ({orderId} is the request id, i.e. the ACME order id). */
        username: scheme('orderId', ['accountId', 'orderId', 'profile']).default('acme-{accountId}-{orderId}'),
      })
      .strict()
      .prefault({}),
    /** End entity statuses that mean "switched off by an officer": the account is refused (unauthorized). */
    disabledStatuses: z.array(z.number().int().min(0).max(100)).min(1).default([STATUS_REVOKED, STATUS_HISTORICAL]),
    /** Prefix of ExtendedInformation custom data keys (EJBCA's ExtendedInformation.CUSTOMDATA). */
    customDataPrefix: z.string().default('customdata_'),
    /** Deadline of one web-service call (the caller's signal may be shorter). */
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** Extra attempts after a connection error (refused, reset); never after a fault or an HTTP error. */
    retries: z.number().int().min(0).max(10).default(2),
    /** First pause between attempts; doubled each time. */
    retryBackoffMs: z.number().int().min(0).max(60_000).default(500),
    /** Retry-After the gateway gives ACME clients while an RA officer has not approved yet. */
    approvalRetryAfterSeconds: z.number().int().min(1).max(86_400).default(60),
  })
  .strict();

export type EjbcaWsConfig = z.output<typeof EjbcaWsConfigSchema>;
