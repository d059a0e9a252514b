import type { Identifier, OrderStatus, ProblemDocument } from './types.js';

const URN = 'urn:ietf:params:acme:error:';

/** RFC 8555 §6.7 error types, plus RFC 9773 `alreadyReplaced` and draft-ietf-acme-profiles `invalidProfile`. */
export type AcmeErrorType =
  | 'accountDoesNotExist'
  | 'alreadyReplaced'
  | 'alreadyRevoked'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'caa'
  | 'compound'
  | 'connection'
  | 'dns'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'invalidContact'
  | 'invalidProfile'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'tls'
  | 'unauthorized'
  | 'unsupportedContact'
  | 'unsupportedIdentifier'
  | 'userActionRequired';

export interface Subproblem {
  type: AcmeErrorType;
  detail: string;
  identifier: Identifier;
}

/** The only error that reaches a client. Built with the `problem.*` factories below. */
export class AcmeProblem extends Error {
  override readonly name = 'AcmeProblem';
  /** Extra response headers: Retry-After, Link (userActionRequired), Location (409 on keyChange). */
  readonly headers: Record<string, string> = {};
  /** Extra members of the document (RFC 7807 §3.2), e.g. `instance`. */
  readonly extra: Record<string, unknown> = {};

  constructor(
    readonly type: AcmeErrorType,
    readonly status: number,
    readonly detail: string,
    readonly subproblems: readonly Subproblem[] = [],
  ) {
    super(detail);
  }

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }

  withExtra(name: string, value: unknown): this {
    this.extra[name] = value;
    return this;
  }

  toDocument(): ProblemDocument {
    // RFC 7807 §3.1 members, RFC 8555 §6.7.1 subproblems
    const doc: ProblemDocument = { type: URN + this.type, detail: this.detail, status: this.status, ...this.extra };
    if (this.subproblems.length > 0) {
      doc.subproblems = this.subproblems.map((s) => ({
        type: URN + s.type,
        detail: s.detail,
        status: this.status,
        identifier: s.identifier,
      }));
    }
    return doc;
  }

  static fromDocument(doc: ProblemDocument): AcmeProblem {
    const type = doc.type.startsWith(URN) ? (doc.type.slice(URN.length) as AcmeErrorType) : 'serverInternal';
    const subs = (doc.subproblems ?? []).map((s) => ({
      type: (s.type.startsWith(URN) ? s.type.slice(URN.length) : 'serverInternal') as AcmeErrorType,
      detail: s.detail,
      identifier: s.identifier ?? { type: 'dns' as const, value: '' },
    }));
    return new AcmeProblem(type, doc.status, doc.detail, subs);
  }
}

export function isAcmeProblem(e: unknown): e is AcmeProblem {
  return e instanceof AcmeProblem;
}

/** RFC 8555 §6.7: each factory fixes the HTTP status, so no two call sites disagree. */
export const problem = {
  accountDoesNotExist: (detail = 'no account exists with this key') => new AcmeProblem('accountDoesNotExist', 400, detail),
  /** §7.3.6: "a POST or POST-as-GET from a deactivated account ... 401 (Unauthorized)"; revoked alike. */
  accountNotValid: (status: string) => new AcmeProblem('unauthorized', 401, `account is "${status}"; it accepts no further requests`),
  alreadyReplaced: (detail: string) => new AcmeProblem('alreadyReplaced', 409, detail),
  alreadyRevoked: (detail = 'the certificate is already revoked') => new AcmeProblem('alreadyRevoked', 400, detail),
  badCSR: (detail: string) => new AcmeProblem('badCSR', 400, detail),
  badNonce: () => new AcmeProblem('badNonce', 400, 'nonce is unknown, expired or already used'),
  badPublicKey: (detail: string) => new AcmeProblem('badPublicKey', 400, detail),
  badRevocationReason: (detail: string) => new AcmeProblem('badRevocationReason', 400, detail),
  badSignatureAlgorithm: (detail: string, algorithms: readonly string[]) =>
    new AcmeProblem('badSignatureAlgorithm', 400, detail).withExtra('algorithms', [...algorithms]),
  caa: (detail: string, subproblems: Subproblem[] = []) => new AcmeProblem('caa', 403, detail, subproblems),
  compound: (detail: string, subproblems: Subproblem[]) => new AcmeProblem('compound', 403, detail, subproblems),
  connection: (detail: string) => new AcmeProblem('connection', 400, detail),
  dns: (detail: string) => new AcmeProblem('dns', 400, detail),
  externalAccountRequired: (detail = 'this profile requires an external account binding') =>
    new AcmeProblem('externalAccountRequired', 400, detail),
  incorrectResponse: (detail: string) => new AcmeProblem('incorrectResponse', 403, detail),
  invalidContact: (detail: string) => new AcmeProblem('invalidContact', 400, detail),
  invalidProfile: (detail: string) => new AcmeProblem('invalidProfile', 400, detail),
  malformed: (detail: string, status = 400) => new AcmeProblem('malformed', status, detail),
  notFound: (what: string) => new AcmeProblem('malformed', 404, `${what} does not exist`),
  methodNotAllowed: (detail: string) => new AcmeProblem('malformed', 405, detail),
  orderNotReady: (status: OrderStatus) => new AcmeProblem('orderNotReady', 403, `order is "${status}", not "ready"`),
  rateLimited: (detail: string, retryAfterSeconds: number) =>
    new AcmeProblem('rateLimited', 429, detail).withHeader('Retry-After', String(retryAfterSeconds)),
  rejectedIdentifier: (subproblems: Subproblem[], detail?: string) =>
    new AcmeProblem('rejectedIdentifier', 400, detail ?? `${subproblems.length} identifier(s) refused`, subproblems),
  serverInternal: (detail = 'internal error; the operator has the details in the log', status = 500) =>
    new AcmeProblem('serverInternal', status, detail),
  unavailable: (detail: string, retryAfterSeconds: number) =>
    new AcmeProblem('serverInternal', 503, detail).withHeader('Retry-After', String(retryAfterSeconds)),
  tls: (detail: string) => new AcmeProblem('tls', 400, detail),
  unauthorized: (detail: string) => new AcmeProblem('unauthorized', 403, detail),
  unsupportedContact: (detail: string) => new AcmeProblem('unsupportedContact', 400, detail),
  unsupportedIdentifier: (detail: string, subproblems: Subproblem[] = []) =>
    new AcmeProblem('unsupportedIdentifier', 400, detail, subproblems),
  /** RFC 8555 §7.3.3: the terms changed; the Link header points at them. */
  userActionRequired: (detail: string, termsUrl: string) =>
    new AcmeProblem('userActionRequired', 403, detail)
      .withHeader('Link', `<${termsUrl}>;rel="terms-of-service"`)
      .withExtra('instance', termsUrl),
};
