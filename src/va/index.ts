/**
 * The validators by challenge type, and the one entry point ra uses to run a validation with a
 * deadline. Expected outcomes, network failures included, come back as a ValidationResult.
 */
import { isAcmeProblem, problem, type AcmeProblem } from '../protocol/problem.js';
import type { ChallengeType, Identifier } from '../protocol/types.js';
import { createDns01Validator } from './dns-01.js';
import { createHttp01Validator, DEFAULT_HTTP01_LIMITS, type Http01Limits } from './http-01.js';
import { NetError, type NetClient } from './net.js';
import { problemFromNetError } from './net-problem.js';
import { createTlsAlpn01Validator } from './tls-alpn-01.js';
import type { ChallengeValidator, ValidationInput, ValidationResult } from './validator.js';

/** How long a validator may take to return after its signal fired, before validateChallenge stops waiting. */
const ABORT_GRACE_MS = 1_000;

/** One validator per challenge type; `limits` come from config `validation.maxBodyBytes` and `maxRedirects`. */
export function createValidators(net: NetClient, limits: Http01Limits = DEFAULT_HTTP01_LIMITS): Map<ChallengeType, ChallengeValidator> {
  const validators = [createHttp01Validator(net, limits), createDns01Validator(net), createTlsAlpn01Validator(net)];
  return new Map(validators.map((v) => [v.type, v]));
}

/**
 * Runs one validation within `timeoutMs` (and `signal`, e.g. shutdown). Resolves with `invalid` for
 * every expected failure: a type not offered, an identifier the type cannot prove, a NetError
 * (dns → dns, tls → tls, anything else → connection), an AcmeProblem, the deadline. Only
 * programmer errors reject.
 */
export async function validateChallenge(
  validators: ReadonlyMap<ChallengeType, ChallengeValidator>,
  type: ChallengeType,
  input: ValidationInput,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ValidationResult> {
  const validator = validators.get(type);
  if (validator === undefined) return invalid(problem.malformed(`challenge type ${type} is not offered by this server`));
  if (!validator.accepts(input.identifier, input.wildcard)) {
    return invalid(problem.malformed(`${type} cannot prove ${describe(input.identifier, input.wildcard)}${reason(type, input)}`));
  }

  const deadline = AbortSignal.timeout(timeoutMs);
  const bounded = signal === undefined ? deadline : AbortSignal.any([deadline, signal]);
  const work = (async () => validator.validate(input, bounded))(); // a synchronous throw lands in the catch below too
  // The deadline holds even for a validator that ignores its signal (its late outcome is dropped).
  // A validator that honours it gets a grace period to report the abort itself, with its records.
  let grace: NodeJS.Timeout | undefined;
  let stopWaiting = (): void => undefined;
  const expired = new Promise<never>((_, reject) => {
    const onAbort = (): void => {
      grace = setTimeout(() => reject(new NetError('timeout', `no result within ${timeoutMs} ms`)), ABORT_GRACE_MS);
    };
    if (bounded.aborted) onAbort();
    else bounded.addEventListener('abort', onAbort, { once: true });
    stopWaiting = () => bounded.removeEventListener('abort', onAbort);
  });
  try {
    return await Promise.race([work, expired]);
  } catch (e) {
    if (e instanceof NetError) return invalid(problemFromNetError(e, `${type}: ${e.message}`));
    if (isAcmeProblem(e)) return invalid(e);
    if (bounded.aborted && e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError')) {
      return invalid(problem.connection(`${type}: no result within ${timeoutMs} ms`));
    }
    throw e;
  } finally {
    stopWaiting(); // Promise.race has handlers on both promises, so neither can reject unhandled later
    clearTimeout(grace);
  }
}

function invalid(p: AcmeProblem): ValidationResult {
  return { status: 'invalid', problem: p, records: [] };
}

function describe(identifier: Identifier, wildcard: boolean): string {
  if (identifier.type === 'ip') return `the IP address ${identifier.value}`;
  return wildcard ? `the wildcard *.${identifier.value}` : `the name ${identifier.value}`;
}

function reason(type: ChallengeType, input: ValidationInput): string {
  if (type === 'dns-01' && input.identifier.type === 'ip') return ' (RFC 8738 §7)';
  if (input.wildcard) return '; a wildcard is proven with dns-01 only';
  return '';
}
