/**
 * CAA checking (RFC 8659) with the ACME account and method parameters (RFC 8657).
 *
 * Called at validation time and again at finalize for old authorizations. All DNS goes through
 * NetClient. The checker fails closed: when the Relevant RRset cannot be determined (SERVFAIL,
 * timeout, an alias loop), issuance is refused with a `dns` problem.
 */
import { problem, type AcmeProblem } from '../protocol/problem.js';
import type { ChallengeType, Identifier } from '../protocol/types.js';
import { NetError, type CaaRecord, type NetClient } from './net.js';
import { isNetError } from './net-problem.js';

export interface CaaCheckInput {
  /** A dns identifier (for a wildcard, the base name without `*.`) or an ip identifier. */
  identifier: Identifier;
  /** True when the certificate will hold `*.` + identifier.value (RFC 8659 §4.3). */
  wildcard: boolean;
  /** The profile's CAA identities (issuer-domain-names, RFC 8555 §7.1.1 caaIdentities); empty turns CAA checking off. */
  issuerDomains: readonly string[];
  /** The ACME account URL, compared with `accounturi` (RFC 8657 §3.1). */
  accountUri: string;
  /** The challenge that validated the authorization, compared with `validationmethods` (RFC 8657 §4); 'none' for profiles that skip validation. */
  validationMethod: ChallengeType | 'none';
}

/** One record of the Relevant RRset, as read, with where it was found. */
export interface CaaRecordSeen extends CaaRecord {
  /** The name of the tree climb the RRset belongs to (RFC 8659 §3). */
  name: string;
  /**
   * Set when this checker followed CNAMEs from `name` to reach the RRset: the name whose CAA query
   * answered. Aliases the resolver chased itself are not visible here.
   */
  alias?: string;
}

export type CaaResult =
  /** `name`: where the Relevant RRset was found; absent when there is none (or for IPs, or with CAA off). */
  | { status: 'allowed'; records: CaaRecordSeen[]; name?: string }
  /** `problem`: `caa` naming the record(s), or `dns` naming the name whose lookup failed. */
  | { status: 'refused'; problem: AcmeProblem; records: CaaRecordSeen[] };

/** RFC 8659 §4.1: bit 0 (MSB) of the flags octet; "MUST ignore the value of all reserved flag bits". */
const CRITICAL_FLAG = 0x80;
/** The property tags this checker implements; iodef is understood, and does not restrict issuance (§3). */
const KNOWN_TAGS = new Set(['issue', 'issuewild', 'iodef']);
/** Aliases followed from one name of the climb; a longer chain is treated as a lookup failure. */
const MAX_CNAME_HOPS = 8;

/**
 * Decides whether the CA named by `issuerDomains` may issue for `identifier` under the CAA records
 * published now. Expected outcomes (allowed, refused, DNS failure) are values; only bugs throw.
 */
export async function checkCaa(net: NetClient, input: CaaCheckInput, signal: AbortSignal): Promise<CaaResult> {
  if (input.issuerDomains.length === 0) return { status: 'allowed', records: [] };
  // RFC 8659 defines the Relevant RRset for FQDNs and Wildcard Domain Names only; there is no CAA
  // for IP addresses (RFC 8738 does not add one), so an ip identifier is never restricted
  // (docs/rfc-divergences.md).
  if (input.identifier.type === 'ip') return { status: 'allowed', records: [] };

  let fqdn = normalizeName(input.identifier.value);
  let wildcard = input.wildcard;
  if (fqdn.startsWith('*.')) {
    fqdn = fqdn.slice(2);
    wildcard = true;
  }
  const subject = wildcard ? `*.${fqdn}` : fqdn;

  let relevant: RelevantRRset | undefined;
  try {
    relevant = await relevantRRset(net, fqdn, signal);
  } catch (e) {
    if (!isNetError(e)) throw e;
    // RFC 8659 §3: "a compliant CA MUST check for publication of a Relevant RRset"; a failed lookup
    // leaves that unknown, and §6.3 lets the CA treat SERVFAIL as preventing issuance. Fail closed
    // (docs/rfc-divergences.md).
    const detail = `CAA check for ${subject}: ${e.message}; this CA does not issue while CAA records cannot be read (RFC 8659 §3)`;
    return { status: 'refused', problem: problem.dns(detail), records: [] };
  }
  if (relevant === undefined) return { status: 'allowed', records: [] };

  const records: CaaRecordSeen[] = relevant.records.map((r) => ({
    ...r,
    name: relevant.name,
    ...(relevant.alias === undefined ? {} : { alias: relevant.alias }),
  }));
  const refusal = evaluate(relevant, input, wildcard, subject);
  if (refusal === undefined) return { status: 'allowed', records, name: relevant.name };
  return { status: 'refused', problem: refusal, records };
}

interface RelevantRRset {
  name: string;
  alias: string | undefined;
  records: CaaRecord[];
}

/** RFC 8659 §3 RelevantCAASet: climb from the name "up to, but not including, the DNS root". */
async function relevantRRset(net: NetClient, fqdn: string, signal: AbortSignal): Promise<RelevantRRset | undefined> {
  for (let domain = fqdn; domain !== ''; domain = parentOf(domain)) {
    const found = await caaOf(net, domain, signal);
    if (found.records.length > 0) return { name: domain, alias: found.alias, records: found.records };
  }
  return undefined;
}

/**
 * CAA(X) of RFC 8659 §3: the query for X "according to the lookup algorithm specified in Section
 * 4.3.2 of [RFC1034] (in particular, chasing aliases)". A resolver usually chases; when it answers
 * with the CNAME alone, the chain is followed here, bounded and loop-safe. Only the name being
 * climbed is climbed, never an alias target (RFC 8659 §7).
 */
async function caaOf(net: NetClient, domain: string, signal: AbortSignal): Promise<{ records: CaaRecord[]; alias: string | undefined }> {
  const visited = new Set([domain]);
  let current = domain;
  for (;;) {
    const records = await net.resolveCaa(current, signal);
    if (records.length > 0) return { records, alias: current === domain ? undefined : current };
    const target = (await net.resolveCname(current, signal))[0];
    if (target === undefined) return { records: [], alias: undefined };
    const next = normalizeName(target);
    if (visited.has(next)) {
      throw new NetError('dns', `CAA lookup for ${domain} failed: the CNAME chain loops back to ${next}`);
    }
    if (visited.size > MAX_CNAME_HOPS) {
      throw new NetError('dns', `CAA lookup for ${domain} failed: more than ${MAX_CNAME_HOPS} CNAMEs in a row`);
    }
    visited.add(next);
    current = next;
  }
}

/** Why one issue/issuewild property does not authorize this request; undefined when it does. */
type Verdict =
  | undefined
  | { why: 'malformed' | 'no-issuer' | 'other-ca' | 'many-accounturi' | 'bad-validationmethods' }
  | { why: 'account'; required: string }
  | { why: 'method'; allowed: string[] };

/** The refusal for this Relevant RRset, or undefined when it allows issuance. */
function evaluate(relevant: RelevantRRset, input: CaaCheckInput, wildcard: boolean, subject: string): AcmeProblem | undefined {
  const where = relevant.alias === undefined ? relevant.name : `${relevant.name} (CNAME to ${relevant.alias})`;
  const thisCa = `this CA (${input.issuerDomains.join(', ')})`;

  // RFC 8659 §4.1: "A CA MUST NOT issue certificates for any FQDN if the Relevant RRset for that
  // FQDN contains a CAA critical Property for an unknown or unsupported Property Tag."
  const critical = relevant.records.find((r) => (r.critical & CRITICAL_FLAG) !== 0 && !KNOWN_TAGS.has(r.tag.toLowerCase()));
  if (critical !== undefined) {
    return problem.caa(
      `CAA record at ${where} ${quote(critical)} is critical and its tag "${critical.tag}" is unknown to ${thisCa}, ` +
        `so it may not issue for ${subject} (RFC 8659 §4.5)`,
    );
  }

  // §4.3: issuewild is ignored for a non-wildcard name; for a wildcard, when at least one is present,
  // "each issue Property MUST be ignored". Tags match case-insensitively (§4.1).
  const issuewild = relevant.records.filter((r) => r.tag.toLowerCase() === 'issuewild');
  const properties = wildcard && issuewild.length > 0 ? issuewild : relevant.records.filter((r) => r.tag.toLowerCase() === 'issue');
  // §3: an RRset with no property that restricts issuance (only iodef, only unknown tags) does not restrict it.
  if (properties.length === 0) return undefined;

  const ours = new Set(input.issuerDomains.map((d) => normalizeName(d)));
  // §4.2: "CAA authorizations are additive": one property that authorizes this request suffices.
  const verdicts = properties.map((r) => ({ record: r, verdict: judge(r.value, ours, input) }));
  if (verdicts.some((v) => v.verdict === undefined)) return undefined;

  const [only] = verdicts;
  if (verdicts.length === 1 && only !== undefined) {
    const reason = only.verdict?.why === 'other-ca' ? '' : `: it ${explain(only.verdict, input)}`;
    return problem.caa(`CAA record at ${where} ${quote(only.record)} does not allow ${thisCa} to issue for ${subject}${reason}`);
  }
  const reasons = verdicts.map(({ record, verdict }) => `${quote(record)} ${explain(verdict, input)}`);
  return problem.caa(`CAA records at ${where} do not allow ${thisCa} to issue for ${subject}: ${reasons.join('; ')}`);
}

/** RFC 8659 §4.2 and RFC 8657 §3, §4 for one issue or issuewild property value. */
function judge(value: string, ours: ReadonlySet<string>, input: CaaCheckInput): Verdict {
  const parsed = parseIssueValue(value);
  // §4.2: a value that "does not match the ABNF grammar MUST be treated the same as one specifying
  // an empty issuer-domain-name", and an empty one requests no issuance.
  if (parsed === undefined) return { why: 'malformed' };
  if (parsed.issuer === undefined) return { why: 'no-issuer' };
  if (!ours.has(parsed.issuer.toLowerCase())) return { why: 'other-ca' };

  // Parameter tags are compared case-insensitively so that a restriction is never missed for its spelling.
  const param = (name: string): string[] => parsed.parameters.filter((p) => p.tag.toLowerCase() === name).map((p) => p.value);
  // RFC 8657 §3: "A Property with multiple "accounturi" parameters is unsatisfiable."
  const accountUris = param('accounturi');
  if (accountUris.length > 1) return { why: 'many-accounturi' };
  const [accountUri] = accountUris;
  if (accountUri !== undefined && accountUri !== input.accountUri) return { why: 'account', required: accountUri };

  // RFC 8657 §4: "A CA MUST only consider a Property with the "validationmethods" parameter to
  // authorize issuance where the validation method being used is identified by one of the
  // validation method labels". Several such parameters, or a value outside its ABNF, authorize nothing.
  const methodParams = param('validationmethods');
  if (methodParams.length > 1) return { why: 'bad-validationmethods' };
  const [methods] = methodParams;
  if (methods !== undefined) {
    if (!/^(?:[A-Za-z0-9-]+(?:,[A-Za-z0-9-]+)*)?$/.test(methods)) return { why: 'bad-validationmethods' };
    const allowed = methods === '' ? [] : methods.split(',');
    // A profile without validation uses no method, so no list can name it.
    if (input.validationMethod === 'none' || !allowed.includes(input.validationMethod)) return { why: 'method', allowed };
  }
  return undefined;
}

function explain(verdict: Verdict, input: CaaCheckInput): string {
  if (verdict === undefined) return 'allows it';
  switch (verdict.why) {
    case 'malformed':
      return 'is malformed, which forbids issuance (RFC 8659 §4.2)';
    case 'no-issuer':
      return 'names no CA, which forbids issuance';
    case 'other-ca':
      return 'names another CA';
    case 'many-accounturi':
      return 'has more than one accounturi, which no account satisfies (RFC 8657 §3)';
    case 'bad-validationmethods':
      return 'has a validationmethods parameter that is repeated or malformed, which no method satisfies (RFC 8657 §4)';
    case 'account':
      return `is limited to account ${verdict.required}, not ${input.accountUri} (RFC 8657 §3)`;
    case 'method': {
      const listed = verdict.allowed.length === 0 ? 'no validation method' : `validation methods ${verdict.allowed.join(',')}`;
      const used = input.validationMethod === 'none' ? 'this profile issues without validation' : `the authorization used ${input.validationMethod}`;
      return `is limited to ${listed}, and ${used} (RFC 8657 §4)`;
    }
  }
}

interface IssueValue {
  /** Undefined for an empty issuer-domain-name (`;`, or an empty value). */
  issuer: string | undefined;
  parameters: { tag: string; value: string }[];
}

// RFC 8659 §4.2:
//   issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
//   issuer-domain-name = label *("." label)
//   label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//   parameters = (parameter *WSP ";" *WSP parameters) / parameter
//   parameter = tag *WSP "=" *WSP value
//   tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
//   value = *(%x21-3A / %x3C-7E)
const LABEL = '[A-Za-z0-9](?:-*[A-Za-z0-9])*';
const ISSUER_DOMAIN_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const PARAMETER = new RegExp(`^(${LABEL})[ \\t]*=[ \\t]*([\\x21-\\x3A\\x3C-\\x7E]*)$`);

/** The issuer and parameters of an issue/issuewild value, or undefined when it does not match the grammar. */
function parseIssueValue(value: string): IssueValue | undefined {
  const semicolon = value.indexOf(';');
  const head = trimWsp(semicolon === -1 ? value : value.slice(0, semicolon));
  if (head !== '' && !ISSUER_DOMAIN_NAME.test(head)) return undefined;
  const issuer = head === '' ? undefined : head;
  if (semicolon === -1) return { issuer, parameters: [] };

  const rest = trimWsp(value.slice(semicolon + 1));
  if (rest === '') return { issuer, parameters: [] };
  const parameters: IssueValue['parameters'] = [];
  // A parameter value cannot hold ";" (value excludes %x3B), so splitting on it is exact.
  for (const part of rest.split(';')) {
    const match = PARAMETER.exec(trimWsp(part));
    if (match === null) return undefined;
    parameters.push({ tag: match[1] ?? '', value: match[2] ?? '' });
  }
  return { issuer, parameters };
}

/** WSP = SP / HTAB (RFC 5234 B.1). */
function trimWsp(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Lower case, without the trailing dot of an absolute name. */
function normalizeName(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}

/** RFC 8659 §3 Parent(X): X without its leftmost label; '' once the root is reached. */
function parentOf(domain: string): string {
  const dot = domain.indexOf('.');
  return dot === -1 ? '' : domain.slice(dot + 1);
}

/** The record in presentation format (RFC 8659 §4.1.1), quoted for a problem detail. */
function quote(r: CaaRecord): string {
  return JSON.stringify(`${r.critical} ${r.tag} "${r.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
}
