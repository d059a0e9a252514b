/** What every ACME request carries through the middleware into its handler. */
import type { ParameterizedContext } from 'koa';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Ra } from '../ra/index.js';
import type { ProfileRuntime } from '../ra/profiles.js';
import type { AccountRecord } from '../storage/store.js';
import type { AccountKey, ProtectedHeader } from './jws.js';
import type { Links } from './links.js';
import type { NonceStore } from './nonces.js';

/** Services shared by all requests; built once in src/app. */
export interface AcmeServices {
  ra: Ra;
  nonces: NonceStore;
  clock: Clock;
  log: Logger;
  profiles: ReadonlyMap<string, ProfileRuntime>;
  /** Public origin plus mount prefix, without a trailing slash; known once the listener is bound. */
  baseUrl(): string;
  bodyLimitBytes: number;
  /** Retry-After for a challenge being validated and for an order being processed. */
  retryAfterSeconds: number;
}

export interface VerifiedRequest {
  header: ProtectedHeader;
  /** undefined for POST-as-GET (RFC 8555 §6.3: empty payload). */
  payload: unknown;
  key: AccountKey;
}

export interface AcmeState {
  svc: AcmeServices;
  reqId: string;
  log: Logger;
  profile?: ProfileRuntime;
  links?: Links;
  jws?: VerifiedRequest;
  account?: AccountRecord;
  /** The problem type of an error response, for the request log. */
  problemType?: string;
  /** Raw request body (bytes), read by the body middleware. */
  rawBody?: Buffer;
}

export type AcmeContext = ParameterizedContext<AcmeState>;

/** A handler behind the profile middleware: profile and links are present. */
export interface ProfiledState extends AcmeState {
  profile: ProfileRuntime;
  links: Links;
}
export type ProfiledContext = ParameterizedContext<ProfiledState>;

/** A handler behind JWS verification. */
export interface JwsState extends ProfiledState {
  jws: VerifiedRequest;
}
export type JwsContext = ParameterizedContext<JwsState>;

/** A handler behind JWS verification with `kid`: the account is known and valid. */
export interface KidState extends JwsState {
  account: AccountRecord;
}
export type KidContext = ParameterizedContext<KidState>;

export type Handler<C> = (ctx: C) => Promise<void>;
