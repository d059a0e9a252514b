/**
 * http-01 (RFC 8555 §8.3), for DNS names and, per RFC 8738 §4-5, IP addresses. Never for wildcards.
 */
import { isIP } from 'node:net';
import { problem, type AcmeProblem } from '../protocol/problem.js';
import type { Identifier } from '../protocol/types.js';
import { isWellFormedKeyAuthorization } from './key-authorization.js';
import type { HttpResult, NetClient } from './net.js';
import { isNetError, problemFromNetError } from './net-problem.js';
import type { ChallengeValidator, ValidationInput, ValidationRecord, ValidationResult } from './validator.js';

export interface Http01Limits {
  /** Largest body read; a larger one fails the challenge (config `validation.maxBodyBytes`). */
  maxBodyBytes: number;
  /** Redirects followed before giving up (config `validation.maxRedirects`). */
  maxRedirects: number;
}

export const DEFAULT_HTTP01_LIMITS: Readonly<Http01Limits> = { maxBodyBytes: 8192, maxRedirects: 10 };

export function createHttp01Validator(net: NetClient, limits: Http01Limits = DEFAULT_HTTP01_LIMITS): ChallengeValidator {
  return {
    type: 'http-01',
    // Not for wildcards: RFC 8555 leaves it to policy; the CA/Browser Forum Baseline Requirements
    // accept only DNS-based methods for a wildcard, so dns-01 is the one (RFC 8555 §7.1.3 on wildcards).
    accepts: (_identifier: Identifier, wildcard: boolean) => !wildcard,
    validate: (input, signal) => validate(net, limits, input, signal),
  };
}

async function validate(net: NetClient, limits: Http01Limits, input: ValidationInput, signal: AbortSignal): Promise<ValidationResult> {
  const { identifier, token, keyAuthorization } = input;
  const isAddress = identifier.type === 'ip';
  // RFC 8738 §5: the Host header (the URL's host here) is the address; IPv6 goes in brackets (RFC 3986).
  const host = isAddress && isIP(identifier.value) === 6 ? `[${identifier.value}]` : identifier.value;
  const template = `http://${host}/.well-known/acme-challenge/${token}`;

  // §8.3 step 2: "Verify that the resulting URL is well-formed."
  const url = parseUrl(template);
  if (url === undefined || !/^[A-Za-z0-9_-]+$/.test(token)) {
    return invalid(problem.malformed(`http-01: ${template} is not a well-formed URL`), []);
  }
  const shown = withPort(url, net.ports.http01);
  const first: ValidationRecord = { url: shown, hostname: identifier.value, port: String(net.ports.http01) };

  let result: HttpResult;
  try {
    if (isAddress) {
      first.addressesResolved = [identifier.value]; // RFC 8738 §4: no DNS step for an IP identifier
    } else {
      first.resolver = net.resolverName;
      first.addressesResolved = await net.resolveAddresses(identifier.value, signal);
      if (first.addressesResolved.length === 0) {
        return invalid(problem.dns(`http-01: no A or AAAA records for ${identifier.value} (resolver ${net.resolverName})`), [first]);
      }
    }
    // §8.3 step 3: "This request MUST be sent to TCP port 80"; the net client maps 80 to the configured port.
    // The addresses just resolved (and recorded) are the ones connected to; no second lookup.
    result = await net.httpGet(url, { maxBytes: limits.maxBodyBytes, maxRedirects: limits.maxRedirects, signal, ...(isAddress ? {} : { addresses: first.addressesResolved }) });
  } catch (e) {
    if (isNetError(e)) return invalid(problemFromNetError(e, `http-01: GET ${shown} failed: ${e.message}`), [first]);
    throw e;
  }

  const records = hopRecords(first, result, net.resolverName);
  const fetched = result.urls.length > 1 ? `${shown} (redirected to ${result.url})` : result.url;
  if (result.status !== 200) {
    return invalid(problem.unauthorized(`http-01: GET ${fetched} returned ${result.status}`), records);
  }

  // §8.3 step 4: "The server SHOULD ignore whitespace characters at the end of the body."
  const body = decodeUtf8(result.body)?.trimEnd();
  if (body === undefined || !isWellFormedKeyAuthorization(body)) {
    // Not echoed: an arbitrary body could be any internal page reached by a redirect (§10.4).
    return invalid(
      problem.incorrectResponse(`http-01: GET ${fetched} returned ${result.body.length} bytes that are not a key authorization; expected "${keyAuthorization}"`),
      records,
    );
  }
  // §8.3 step 5: the key authorization provided matches the one stored.
  if (body !== keyAuthorization) {
    return invalid(problem.incorrectResponse(`http-01: GET ${fetched} returned the key authorization "${body}"; expected "${keyAuthorization}"`), records);
  }
  return { status: 'valid', records };
}

/** One record per URL fetched; the address used is known for the last hop only. */
function hopRecords(first: ValidationRecord, result: HttpResult, resolverName: string): ValidationRecord[] {
  const records = result.urls.map((u, i): ValidationRecord => {
    if (i === 0) return { ...first, url: u };
    const parsed = new URL(u);
    const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = parsed.port !== '' ? parsed.port : parsed.protocol === 'https:' ? '443' : '80';
    return isIP(hostname) !== 0 ? { url: u, hostname, port } : { url: u, hostname, port, resolver: resolverName };
  });
  const last = records[records.length - 1];
  if (last !== undefined) last.addressUsed = result.addressUsed;
  return records;
}

function withPort(url: URL, port: number): string {
  const shown = new URL(url.href);
  shown.port = String(port);
  return shown.href;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function invalid(p: AcmeProblem, records: ValidationRecord[]): ValidationResult {
  return { status: 'invalid', problem: p, records };
}
