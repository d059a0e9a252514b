/** Building blocks shared by the config schemas: durations, HOST:PORT, key types, templates, validity. */
import { z } from 'zod';
import { parseDurationMs } from '../lib/duration.js';

/** A duration that must be longer than zero. */
export const positiveDuration = (what: string) => duration(what).refine((ms) => ms > 0, { message: `${what} must be longer than 0` });

export const duration = (what: string) =>
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

export const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, { message: 'expected HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:53' });

export function parseHostPort(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

export const port = z.number().int().min(1).max(65535);

export const KEY_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const TemplateSchema = z.union([
  z.string().min(1).transform((name) => ({ name, attributes: {} as Record<string, string | number | boolean | string[]> })),
  z.object({
    name: z.string().min(1),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])).prefault({}),
  }).strict(),
]);


const validityRange = z
  .object({ default: positiveDuration('validity.default').prefault('90d'), min: duration('validity.min').prefault('1h'), max: positiveDuration('validity.max').prefault('397d') })
  .strict()
  .superRefine((v, ctx) => {
    if (v.min > v.max) ctx.addIssue({ code: 'custom', path: ['min'], message: 'must not be longer than validity.max' });
    if (v.default < v.min || v.default > v.max) ctx.addIssue({ code: 'custom', path: ['default'], message: 'must lie between validity.min and validity.max' });
  });

/** A profile's validity range; every member has a default. */
export const ValiditySchema = validityRange.prefault({ default: '90d', min: '1h', max: '397d' });

/** A certificate profile's own range; absent, the ACME profile's range applies. */
export const OptionalValiditySchema = validityRange.optional();
