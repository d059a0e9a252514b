import { z } from '../../src/sdk/index.js';

/** Key algorithms the built-in CA can hold; also what `issueServerCertificate` never varies (P-256). */
export const CA_KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type CaKeyType = (typeof CA_KEY_TYPES)[number];

const days = (max: number) => z.number().int().min(1).max(max);

/**
 * `connectors.<name>` for `type: embedded`: a two-level CA (root → issuing → leaves) kept in files
 * below `${dataDir}/connectors/<name>/`. keyType, names and CA validity only matter on first start;
 * later starts reuse the CA found on disk.
 */
export const EmbeddedConfigSchema = z
  .object({
    type: z.literal('embedded'),
    keyType: z.enum(CA_KEY_TYPES).default('ec-p256'),
    organization: z.string().min(1).max(64).default('ACME Gateway'), // RFC 5280 ub-organization-name
    rootCommonName: z.string().min(1).max(64).default('ACME Gateway Root CA'), // ub-common-name
    issuingCommonName: z.string().min(1).max(64).default('ACME Gateway Issuing CA'),
    rootValidity: days(36_500).default(3650),
    issuingValidity: days(36_500).default(1825),
    defaultValidityDays: days(3650).default(90),
    /** nextUpdate − thisUpdate of the published CRL. */
    crlValidityHours: z.number().int().min(1).max(24 * 366).default(24),
    /** nextUpdate − thisUpdate of OCSP responses: how long a relying party may cache an answer. */
    ocspValidityHours: z.number().int().min(1).max(24 * 7).default(4),
    /** Lifetime of the delegated OCSP responder certificate; renewed when a third of it is left. */
    ocspResponderValidityDays: days(366).default(30),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.issuingValidity > v.rootValidity) {
      ctx.addIssue({ code: 'custom', path: ['issuingValidity'], message: 'must not be longer than rootValidity' });
    }
    if (v.defaultValidityDays > v.issuingValidity) {
      ctx.addIssue({ code: 'custom', path: ['defaultValidityDays'], message: 'must not be longer than issuingValidity' });
    }
  });

export type EmbeddedConfig = z.output<typeof EmbeddedConfigSchema>;
