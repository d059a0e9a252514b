/**
 * The only file that speaks HTTP to `cfssl serve`: a minimal typed interface over the endpoints
 * the connector uses (all `POST /api/v1/cfssl/<name>` with JSON in and out), a deadline on every
 * call, and the authsign HMAC. Replies are `unknown` until checked here; failures leave as
 * CfsslApiError (cfssl answered with its error envelope) or CfsslTransportError (everything else).
 * Turning those into ConnectorErrors is mapping.ts's job.
 */
import { createHmac } from 'node:crypto';
import { z } from '../../src/sdk/index.js';

/** The inner request of `sign` and `authsign` (cfssl api/signhandler jsonSignRequest). */
export interface SignRequest {
  certificate_request: string;
  /** Replaces the CSR's SANs (NOTES.md quirk 7); IPs become iPAddress, the rest dNSName. */
  hosts: string[];
  profile: string;
  label?: string;
}

export interface CaInfo {
  /** The signer's certificate (PEM). */
  certificate: string;
  usages: string[];
  expiry: string;
}

export interface OcspSignRequest {
  certificate: string;
  status: 'good' | 'revoked';
  /** RFC 5280 reason code; only with status revoked. */
  reason?: number;
  /** "YYYY-MM-DD" (cfssl 1.2.0 takes a day, nothing finer) or "now". */
  revoked_at?: string;
}

export interface CfsslClient {
  /** `sign`, or `authsign` with the token when the client has a key. Resolves with the certificate PEM. */
  sign(req: SignRequest, signal: AbortSignal): Promise<string>;
  /** The signer's certificate and default usages; the connector's CA and trust anchor. */
  info(signal: AbortSignal): Promise<CaInfo>;
  /** REST revoke; `serial` in decimal, `aki` lower-case hex or "", `reason` an RFC 5280 code. */
  revoke(serial: string, aki: string, reason: number, signal: AbortSignal): Promise<void>;
  /** A DER OCSPResponse signed by cfssl's responder for one certificate. */
  ocspSign(req: OcspSignRequest, signal: AbortSignal): Promise<Uint8Array>;
  /** Nothing to release today (fetch pools its sockets globally); called once at shutdown. */
  close(): Promise<void>;
}

/** cfssl answered `success: false`; `code` is cfssl's (category × 1000 + reason, or an HTTP-like 400). */
export class CfsslApiError extends Error {
  override readonly name = 'CfsslApiError';
  constructor(
    readonly endpoint: string,
    readonly code: number,
    /** cfssl's own message. */
    readonly detail: string,
    readonly httpStatus: number,
  ) {
    super(`${endpoint}: cfssl error ${code}: ${detail}`);
  }
}

export type TransportKind =
  | 'connection' // refused, reset, unreachable: cfssl was not reached or dropped us
  | 'http' // an HTTP status without cfssl's envelope (404 endpoint off, 405, a proxy's 5xx)
  | 'protocol' // an answer that is not the JSON we expect
  | 'timeout'; // the caller's deadline or timeoutMs passed

export class CfsslTransportError extends Error {
  override readonly name = 'CfsslTransportError';
  constructor(
    readonly endpoint: string,
    readonly kind: TransportKind,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ClientOptions {
  /** Base URL of cfssl serve. */
  url: string;
  /** The auth_key (raw bytes): `sign` goes to `authsign` with a token. */
  authKey?: Uint8Array;
  timeoutMs: number;
}

// ---------------------------------------------------------------- reply shapes

// Every reply: {"success":bool,"result":...,"errors":[{"code":int,"message":str}],"messages":[]} (NOTES.md).
const Envelope = z.object({
  success: z.boolean(),
  result: z.unknown(),
  errors: z.array(z.object({ code: z.number().int(), message: z.string() })).nullish(),
});
const SignResult = z.object({ certificate: z.string().min(1) });
const InfoResult = z.object({ certificate: z.string().min(1), usages: z.array(z.string()).nullish(), expiry: z.string().nullish() });
const OcspResult = z.object({ ocspResponse: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/) });

/** The authsign body: token = base64(HMAC-SHA256(key, exact inner bytes)), request = base64(inner) (NOTES.md quirk 8). */
export function authenticatedRequest(key: Uint8Array, inner: Uint8Array): { token: string; request: string } {
  return {
    token: createHmac('sha256', key).update(inner).digest('base64'),
    request: Buffer.from(inner).toString('base64'),
  };
}

const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function codeOf(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  const c = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof c === 'string' ? c : '';
}

/** What fetch threw, as a typed error. Exported for the unit tests. */
export function classify(endpoint: string, e: unknown, signal: AbortSignal): CfsslTransportError {
  if (e instanceof CfsslTransportError) return e;
  if (signal.aborted) return new CfsslTransportError(endpoint, 'timeout', `${endpoint}: no answer before the deadline`, undefined, { cause: e });
  const code = codeOf(e);
  const message = e instanceof Error ? e.message : String(e);
  if (REFUSED.has(code) || /fetch failed|other side closed|socket/i.test(message)) {
    return new CfsslTransportError(endpoint, 'connection', `${endpoint}: cannot reach cfssl (${code || message})`, undefined, { cause: e });
  }
  return new CfsslTransportError(endpoint, 'protocol', `${endpoint}: ${message}`, undefined, { cause: e });
}

// ---------------------------------------------------------------- the client

/** No network call until the first request. */
export function createCfsslClient(o: ClientOptions): CfsslClient {
  const base = new URL('api/v1/cfssl/', o.url.endsWith('/') ? o.url : `${o.url}/`);

  async function call(endpoint: string, body: Uint8Array | string, signal: AbortSignal): Promise<unknown> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]);
    let status: number;
    let text: string;
    try {
      if (deadline.aborted) throw deadline.reason;
      const res = await fetch(new URL(endpoint, base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: deadline,
      });
      status = res.status;
      text = await res.text();
    } catch (e) {
      throw classify(endpoint, e, deadline);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CfsslTransportError(endpoint, status === 200 ? 'protocol' : 'http', `${endpoint}: HTTP ${status} without cfssl's JSON envelope`, status);
    }
    const envelope = Envelope.safeParse(json);
    if (!envelope.success) throw new CfsslTransportError(endpoint, status === 200 ? 'protocol' : 'http', `${endpoint}: HTTP ${status} with an unexpected reply shape`, status);
    if (!envelope.data.success) {
      const [first] = envelope.data.errors ?? [];
      throw new CfsslApiError(endpoint, first?.code ?? status, first?.message ?? 'no error message', status);
    }
    return envelope.data.result;
  }

  function parse<T extends z.ZodType>(endpoint: string, schema: T, result: unknown): z.output<T> {
    const r = schema.safeParse(result);
    if (!r.success) throw new CfsslTransportError(endpoint, 'protocol', `${endpoint}: unexpected result: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return r.data;
  }

  return {
    async sign(req, signal) {
      const inner = new TextEncoder().encode(JSON.stringify(req));
      if (o.authKey === undefined) return parse('sign', SignResult, await call('sign', inner, signal)).certificate;
      const body = JSON.stringify(authenticatedRequest(o.authKey, inner));
      return parse('authsign', SignResult, await call('authsign', body, signal)).certificate;
    },
    async info(signal) {
      const r = parse('info', InfoResult, await call('info', '{}', signal));
      return { certificate: r.certificate, usages: r.usages ?? [], expiry: r.expiry ?? '' };
    },
    async revoke(serial, aki, reason, signal) {
      // api/revoke: reason is a name or a number, sent as a string.
      await call('revoke', JSON.stringify({ serial, authority_key_id: aki, reason: String(reason) }), signal);
    },
    async ocspSign(req, signal) {
      const r = parse('ocspsign', OcspResult, await call('ocspsign', JSON.stringify(req), signal));
      return new Uint8Array(Buffer.from(r.ocspResponse, 'base64'));
    },
    async close() {
      // fetch's global dispatcher pools the sockets; nothing is held per client.
    },
  };
}
