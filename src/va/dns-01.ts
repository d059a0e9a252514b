/**
 * dns-01 (RFC 8555 §8.4): DNS names only (RFC 8738 §7), and the only challenge for wildcards.
 */
import { base64url } from '../lib/base64url.js';
import { problem, type AcmeProblem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';
import { keyAuthorizationDigest } from './key-authorization.js';
import type { NetClient } from './net.js';
import { isNetError, problemFromNetError } from './net-problem.js';
import type { ChallengeValidator, ValidationInput, ValidationRecord, ValidationResult } from './validator.js';

export function createDns01Validator(net: NetClient): ChallengeValidator {
  return {
    type: 'dns-01',
    // RFC 8738 §7: "The existing "dns-01" challenge MUST NOT be used to validate IP identifiers."
    accepts: (identifier: Identifier) => identifier.type === 'dns',
    validate: (input, signal) => validate(net, input, signal),
  };
}

async function validate(net: NetClient, input: ValidationInput, signal: AbortSignal): Promise<ValidationResult> {
  // §8.4: the label "_acme-challenge" prepended to the name; for a wildcard, to the name without "*.".
  const name = `_acme-challenge.${input.identifier.value}`;
  const record: ValidationRecord = { hostname: input.identifier.value, resolver: net.resolverName };
  // §8.4 step 1: "Compute the SHA-256 digest of the stored key authorization", base64url-encoded.
  const expected = base64url.encode(keyAuthorizationDigest(input.keyAuthorization));

  let values: string[];
  try {
    values = await net.resolveTxt(name, signal); // step 2
  } catch (e) {
    if (isNetError(e)) return invalid(problemFromNetError(e, `dns-01: ${e.message}`), record);
    throw e;
  }
  // §8.4 step 3: "Verify that the contents of one of the TXT records match the digest value."
  if (values.includes(expected)) return { status: 'valid', records: [record] };
  if (values.length === 0) {
    return invalid(problem.unauthorized(`dns-01: no TXT record found at ${name} (resolver ${net.resolverName})`), record);
  }
  const found = values.length === 1 ? '1 record' : `${values.length} records`;
  return invalid(problem.incorrectResponse(`dns-01: no TXT record at ${name} matched (found ${found}); expected "${expected}"`), record);
}

function invalid(p: AcmeProblem, record: ValidationRecord): ValidationResult {
  return { status: 'invalid', problem: p, records: [record] };
}
