import { KeyObject, verify as verifySignature } from 'node:crypto';
import { errors, flattenedVerify, importJWK, type CryptoKey } from 'jose';
import { thumbprintOfJwk } from '../ra/thumbprint.js';
import { AcmeProblem, problem } from '../protocol/problem.js';
import { base64url } from '../lib/base64url.js';

/** RFC 8555 §6.2: account-key algorithms. Never "none", never a MAC ("MUST NOT contain ... MAC"). */
export const ACCOUNT_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type AccountAlgorithm = (typeof ACCOUNT_ALGORITHMS)[number];
/** RFC 8555 §7.3.4: "The alg field MUST indicate a MAC-based algorithm"; only inside externalAccountBinding. */
export const EAB_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

/** RFC 7515 §7.2.2 flattened JSON serialization, as RFC 8555 §6.2 restricts it: these three members only. */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** The protected header members RFC 8555 §6.2 reads; anything else in the header is ignored. */
export interface ProtectedHeader {
  alg: string;
  /** §6.5.2; its presence is checked by the caller (the keyChange inner JWS and EAB have none). */
  nonce?: string;
  /** §6.4.1; the caller compares it with the request URL. */
  url: string;
  /** Exactly one of `jwk` and `kid` is set. */
  jwk?: Record<string, unknown>;
  kid?: string;
}

/** An imported public account key; shared from a cache, so never mutate it. */
export interface AccountKey {
  /** The key as jose imported it (and checked: on the curve, usable with `alg` only). */
  readonly key: CryptoKey;
  /** The same key for node:crypto's one-shot verify, which costs a fraction of WebCrypto's job round trip. */
  readonly keyObject: KeyObject;
  /** The RFC 7638 required public members only (kty, crv, x, y / e, n), canonical; what accounts store. */
  readonly jwk: Record<string, unknown>;
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  readonly thumbprint: string;
  /** The algorithm the key was imported for. */
  readonly alg: AccountAlgorithm;
}

const JWS_MEMBERS = new Set(['protected', 'payload', 'signature']);
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// RFC 7517 §9.3 / RFC 7518 §6.2.2, §6.3.2, §6.4.1: members that only private or symmetric keys carry.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
// RFC 7518 §6.2.1.2: "the full size of a coordinate for the curve"; RFC 8037 §2: Ed25519 x is 32 octets.
const EC_COORDINATE_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };
const ALG_KEYS: Record<AccountAlgorithm, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
};
// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used"; the upper bound keeps verification cheap.
const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 8192;
const KEY_CACHE_MAX = 10_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, quoted rendering of a client-supplied value for a problem detail. */
function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function isAccountAlgorithm(alg: string): alg is AccountAlgorithm {
  return (ACCOUNT_ALGORITHMS as readonly string[]).includes(alg);
}

/** JSON.parse of UTF-8 bytes when they hold a JSON object; undefined otherwise. */
function parseJsonObject(bytes: Uint8Array | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined; // not UTF-8 or not JSON: the caller reports malformed
  }
}

/** RFC 8555 §6.2 structure shared by the outer JWS, the keyChange inner JWS and the EAB JWS. */
function parseFlattened(body: unknown, label: string): { jws: FlattenedJws; fields: Record<string, unknown> } {
  if (!isObject(body)) throw problem.malformed(`${label} is not a JSON object`);
  if (Object.hasOwn(body, 'signatures')) {
    throw problem.malformed(`${label} uses the general JSON serialization; RFC 8555 §6.2 requires the flattened one`);
  }
  if (Object.hasOwn(body, 'header')) {
    throw problem.malformed(`${label} has an unprotected header; RFC 8555 §6.2 forbids it`);
  }
  for (const name of Object.keys(body)) {
    if (!JWS_MEMBERS.has(name)) throw problem.malformed(`${label} has an unexpected member ${quote(name)}`);
  }
  const { protected: encodedHeader, payload, signature } = body;
  if (typeof encodedHeader !== 'string' || encodedHeader === '') {
    throw problem.malformed(`${label} has no "protected" header`);
  }
  // §6.2: "The JWS Payload MUST NOT be detached"; "" is POST-as-GET (§6.3).
  if (typeof payload !== 'string') throw problem.malformed(`${label} has no "payload" string`);
  if (typeof signature !== 'string' || signature === '') throw problem.malformed(`${label} has no "signature"`);
  for (const [name, value] of [['protected', encodedHeader], ['payload', payload], ['signature', signature]]) {
    if (value === undefined || !BASE64URL.test(value) || value.length % 4 === 1) {
      throw problem.malformed(`${label} member "${name}" is not base64url (RFC 7515 §2)`);
    }
  }
  const fields = parseJsonObject(base64url.decode(encodedHeader));
  if (fields === undefined) throw problem.malformed(`${label} protected header is not a JSON object`);
  // RFC 7515 §4.1.11: no extension is understood here; §6.2: "Unencoded Payload Option MUST NOT be used".
  if (Object.hasOwn(fields, 'crit')) throw problem.malformed(`${label} has a "crit" header; no extensions are supported`);
  if (Object.hasOwn(fields, 'b64')) throw problem.malformed(`${label} uses "b64"; RFC 8555 §6.2 forbids RFC 7797`);
  return { jws: { protected: encodedHeader, payload, signature }, fields };
}

/** RFC 8555 §6.2 header checks once `alg` is known to be acceptable. */
function readHeader(fields: Record<string, unknown>, alg: string, label: string): ProtectedHeader {
  const { jwk, kid, url, nonce } = fields;
  if (jwk !== undefined && kid !== undefined) {
    throw problem.malformed(`${label} has both "jwk" and "kid"; RFC 8555 §6.2 makes them mutually exclusive`);
  }
  if (jwk === undefined && kid === undefined) throw problem.malformed(`${label} has neither "jwk" nor "kid"`);
  if (jwk !== undefined && !isObject(jwk)) throw problem.malformed(`${label} "jwk" is not a JSON object`);
  if (kid !== undefined && (typeof kid !== 'string' || kid === '')) {
    throw problem.malformed(`${label} "kid" is not a non-empty string`);
  }
  // §6.4.1: "The "url" header parameter MUST be carried in the protected header".
  if (typeof url !== 'string' || url === '') throw problem.malformed(`${label} has no "url" header (RFC 8555 §6.4.1)`);
  // §6.5.2: "If the value ... is not valid according to this encoding, then the verifier MUST reject ... as malformed".
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce === '' || !BASE64URL.test(nonce))) {
    throw problem.malformed(`${label} "nonce" is not base64url (RFC 8555 §6.5.2)`);
  }
  const header: ProtectedHeader = { alg, url };
  if (typeof nonce === 'string') header.nonce = nonce;
  if (isObject(jwk)) header.jwk = jwk;
  if (typeof kid === 'string') header.kid = kid;
  return header;
}

function parseWith(body: unknown, allowList: readonly string[], label: string) {
  const { jws, fields } = parseFlattened(body, label);
  const alg = fields.alg;
  if (typeof alg !== 'string' || alg === '') throw problem.malformed(`${label} protected header has no "alg"`);
  const supported = allowList.filter((a) => a !== 'none');
  // §6.2: unsupported alg: 400 badSignatureAlgorithm with an "algorithms" array.
  if (!supported.includes(alg)) {
    throw problem.badSignatureAlgorithm(`${label} algorithm ${quote(alg)} is not supported`, supported);
  }
  return { jws, header: readHeader(fields, alg, label) };
}

/**
 * Checks the body is a flattened JSON JWS (RFC 7515 §7.2.2) with exactly `protected`, `payload` and
 * `signature`, and checks its protected header (RFC 8555 §6.2): `alg` in the allow-list (else
 * badSignatureAlgorithm listing the algorithms), exactly one of `jwk`/`kid`, a `url`, a base64url
 * `nonce` when present. Nonce presence and the URL comparison are the caller's. Does not verify.
 */
export function parseJws(
  body: unknown,
  allowList: readonly string[] = ACCOUNT_ALGORITHMS,
): { jws: FlattenedJws; header: ProtectedHeader } {
  return parseWith(body, allowList, 'JWS');
}

interface PublicJwk {
  kty: 'RSA' | 'EC' | 'OKP';
  crv?: string;
  rsaBits?: number;
  /** RFC 7638 §3.2 required members, in lexicographic order (so JSON.stringify is the thumbprint input). */
  members: Record<string, string>;
}

/** Base64url that re-encodes to itself, so one key has one spelling and one thumbprint. */
function canonicalBytes(value: unknown, member: string, label: string): Uint8Array {
  const bytes = typeof value === 'string' ? base64url.decode(value) : undefined;
  if (bytes === undefined || bytes.length === 0 || base64url.encode(bytes) !== value) {
    throw problem.badPublicKey(`${label} member "${member}" is missing or not canonical base64url`);
  }
  return bytes;
}

function fixedBytes(value: unknown, member: string, size: number, label: string): string {
  const bytes = canonicalBytes(value, member, label);
  if (bytes.length !== size) throw problem.badPublicKey(`${label} member "${member}" is not ${size} octets`);
  return base64url.encode(bytes);
}

/** Validates a public JWK and reduces it to its RFC 7638 members. */
function publicJwk(jwk: unknown, label: string): PublicJwk {
  if (!isObject(jwk) || typeof jwk.kty !== 'string') throw problem.malformed(`${label} is not a JSON Web Key`);
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(jwk, member)) {
      throw problem.malformed(`${label} holds private key material ("${member}"); send the public key only`);
    }
  }
  switch (jwk.kty) {
    case 'RSA': {
      // RFC 7518 §6.3.1: Base64urlUInt, "the minimum number of octets needed to represent the value".
      const n = canonicalBytes(jwk.n, 'n', label);
      const e = canonicalBytes(jwk.e, 'e', label);
      if (n[0] === 0 || e[0] === 0) throw problem.badPublicKey(`${label} RSA members must not have leading zero octets`);
      const rsaBits = (n.length - 1) * 8 + Math.floor(Math.log2(n[0] ?? 1)) + 1;
      return { kty: 'RSA', rsaBits, members: { e: base64url.encode(e), kty: 'RSA', n: base64url.encode(n) } };
    }
    case 'EC': {
      const crv = jwk.crv;
      const size = typeof crv === 'string' ? EC_COORDINATE_BYTES[crv] : undefined;
      if (typeof crv !== 'string' || size === undefined) {
        throw problem.badPublicKey(`${label} curve ${quote(crv)} is not supported; use P-256, P-384 or P-521`);
      }
      const x = fixedBytes(jwk.x, 'x', size, label);
      const y = fixedBytes(jwk.y, 'y', size, label);
      return { kty: 'EC', crv, members: { crv, kty: 'EC', x, y } };
    }
    case 'OKP': {
      if (jwk.crv !== 'Ed25519') throw problem.badPublicKey(`${label} curve ${quote(jwk.crv)} is not supported; use Ed25519`);
      return { kty: 'OKP', crv: 'Ed25519', members: { crv: 'Ed25519', kty: 'OKP', x: fixedBytes(jwk.x, 'x', 32, label) } };
    }
    default:
      throw problem.badPublicKey(`${label} key type ${quote(jwk.kty)} is not supported`);
  }
}

/** §6.2 badPublicKey examples: "alg is RS256 but the modulus n is too small", "ES256 but ... not P-256". */
function checkKeyFitsAlg(key: PublicJwk, source: Record<string, unknown>, alg: AccountAlgorithm): void {
  const want = ALG_KEYS[alg];
  if (key.kty !== want.kty || key.crv !== want.crv) {
    const have = key.crv === undefined ? key.kty : `${key.kty} ${key.crv}`;
    const need = want.crv === undefined ? want.kty : `${want.kty} ${want.crv}`;
    throw problem.badPublicKey(`${alg} needs an ${need} key; the jwk is ${have}`);
  }
  if (key.rsaBits !== undefined && (key.rsaBits < RSA_MIN_BITS || key.rsaBits > RSA_MAX_BITS)) {
    throw problem.badPublicKey(`RSA modulus has ${key.rsaBits} bits; ${alg} needs ${RSA_MIN_BITS} to ${RSA_MAX_BITS}`);
  }
  // RFC 7517 §4.1, §4.4: a key that declares another use or algorithm is not this signing key.
  if (source.use !== undefined && source.use !== 'sig') throw problem.badPublicKey(`jwk "use" is ${quote(source.use)}, not "sig"`);
  if (source.alg !== undefined && source.alg !== alg) {
    throw problem.badPublicKey(`jwk "alg" is ${quote(source.alg)} but the JWS uses ${alg}`);
  }
}

// Importing a key costs far more than a map lookup; accounts sign many requests with one key.
const keyCache = new Map<string, AccountKey>();

function cachedKey(cacheKey: string): AccountKey | undefined {
  const hit = keyCache.get(cacheKey);
  if (hit !== undefined) {
    keyCache.delete(cacheKey); // re-insert: Map order is the LRU order
    keyCache.set(cacheKey, hit);
  }
  return hit;
}

function rememberKey(cacheKey: string, key: AccountKey): void {
  keyCache.set(cacheKey, key);
  if (keyCache.size > KEY_CACHE_MAX) {
    const oldest = keyCache.keys().next();
    if (!oldest.done) keyCache.delete(oldest.value);
  }
}

/**
 * Imports a public JWK for `alg` (RFC 8555 §6.2): unsupported alg → badSignatureAlgorithm; private
 * material → malformed; kty/crv not matching alg, RSA below 2048 bits, invalid point → badPublicKey.
 * Results are cached (LRU, 10 000 keys).
 */
export async function importAccountKey(jwk: Record<string, unknown>, alg: string): Promise<AccountKey> {
  if (!isAccountAlgorithm(alg)) {
    throw problem.badSignatureAlgorithm(`algorithm ${quote(alg)} is not supported for account keys`, ACCOUNT_ALGORITHMS);
  }
  const parsed = publicJwk(jwk, 'jwk');
  checkKeyFitsAlg(parsed, jwk, alg);
  const cacheKey = `${alg} ${JSON.stringify(parsed.members)}`;
  const hit = cachedKey(cacheKey);
  if (hit !== undefined) return hit;

  let imported: CryptoKey | Uint8Array;
  try {
    imported = await importJWK({ ...parsed.members }, alg, { extractable: false });
  } catch {
    // WebCrypto refuses points off the curve and other invalid values; the cause is the key itself.
    throw problem.badPublicKey(`jwk is not a valid ${alg} public key`);
  }
  if (imported instanceof Uint8Array) throw problem.badPublicKey(`jwk is not a ${alg} public key`);
  const members = Object.freeze({ ...parsed.members });
  const key: AccountKey = Object.freeze({
    key: imported,
    keyObject: KeyObject.from(imported),
    jwk: members,
    // RFC 7638 §3: the required members in lexicographic order, no whitespace; `members` is built so.
    thumbprint: thumbprintOfJwk(members),
    alg,
  });
  rememberKey(cacheKey, key);
  return key;
}

async function verifyWith(jws: FlattenedJws, key: CryptoKey | Uint8Array, alg: string, label: string) {
  try {
    const { payload } = await flattenedVerify(
      { protected: jws.protected, payload: jws.payload, signature: jws.signature },
      key,
      { algorithms: [alg] },
    );
    return payload;
  } catch (e) {
    if (e instanceof errors.JWSSignatureVerificationFailed) return undefined;
    if (e instanceof errors.JOSEError) throw problem.malformed(`${label} cannot be verified: ${e.message}`);
    throw e;
  }
}

/** RFC 7518 §3.1: the hash each account algorithm signs under (EdDSA: none, the key decides). */
const ALG_HASH: Record<AccountAlgorithm, string | null> = { RS256: 'sha256', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', EdDSA: null };
const ascii = (s: string) => Buffer.from(s, 'latin1');

/**
 * RFC 7515 §5.2 step 8 with node:crypto: the signing input is `protected.payload` (both already
 * checked to be base64url by parseJws); ECDSA signatures are R ‖ S (RFC 7518 §3.4).
 */
function verifyAccountSignature(jws: FlattenedJws, key: AccountKey): boolean {
  const signature = base64url.decode(jws.signature);
  if (signature === undefined) return false;
  const input = ascii(`${jws.protected}.${jws.payload}`);
  try {
    return verifySignature(ALG_HASH[key.alg], input, key.alg.startsWith('ES') ? { key: key.keyObject, dsaEncoding: 'ieee-p1363' } : key.keyObject, signature);
  } catch {
    return false; // a signature OpenSSL cannot even decode is one that does not verify
  }
}

function payloadText(jws: FlattenedJws, label: string): Uint8Array {
  const bytes = jws.payload === '' ? new Uint8Array(0) : base64url.decode(jws.payload);
  if (bytes === undefined) throw problem.malformed(`${label} payload is not base64url`);
  return bytes;
}

/**
 * Verifies the signature with `key` (which must have been imported for `header.alg`) and returns the
 * payload: `undefined` for POST-as-GET (payload ""), else the decoded JSON object. A bad signature,
 * or a payload that is not a JSON object, is malformed.
 */
export async function verifyJws(jws: FlattenedJws, header: ProtectedHeader, key: AccountKey): Promise<unknown> {
  if (header.alg !== key.alg) {
    throw problem.badPublicKey(`the JWS uses ${quote(header.alg)} but the account key is for ${key.alg}`);
  }
  if (!verifyAccountSignature(jws, key)) throw problem.malformed('JWS signature is invalid');
  const payload = payloadText(jws, 'JWS');
  if (jws.payload === '') return undefined; // RFC 8555 §6.3: POST-as-GET
  const value = parseJsonObject(payload);
  if (value === undefined) throw problem.malformed('JWS payload is not a JSON object');
  return value;
}

/** RFC 7638 SHA-256 thumbprint of a public JWK, base64url; malformed/badPublicKey for anything else. */
export async function thumbprintOf(jwk: Record<string, unknown>): Promise<string> {
  return thumbprintOfJwk(publicJwk(jwk, 'jwk').members);
}

/** Whether two JWKs are the same public key (RFC 7638 thumbprints); false when either is not a usable public JWK. */
export async function sameKey(a: Record<string, unknown>, b: Record<string, unknown>): Promise<boolean> {
  const [ta, tb] = await Promise.all([a, b].map((k) => thumbprintOf(k).catch((e: unknown) => {
    if (e instanceof AcmeProblem) return undefined; // not a key: documented as "not the same"
    throw e;
  })));
  return ta !== undefined && ta === tb;
}

/**
 * RFC 8555 §7.3.4 steps 1–5 for a newAccount `externalAccountBinding`: a flattened JWS with alg
 * HS256/384/512, a `kid`, no `nonce`, `url` equal to `expectedUrl`, a MAC that verifies with
 * `lookup(kid)`, and a payload that is the same key as `accountJwk`. Returns the kid.
 * Structural errors → malformed; unknown kid, wrong MAC or another key → unauthorized.
 */
export async function verifyExternalAccountBinding(
  eab: unknown,
  accountJwk: Record<string, unknown>,
  expectedUrl: string,
  lookup: (kid: string) => Promise<Uint8Array | undefined>,
): Promise<string> {
  const label = 'externalAccountBinding';
  const { jws, fields } = parseFlattened(eab, label);
  const alg = fields.alg;
  if (typeof alg !== 'string' || !(EAB_ALGORITHMS as readonly string[]).includes(alg)) {
    throw problem.malformed(`${label} algorithm ${quote(alg)} is not one of ${EAB_ALGORITHMS.join(', ')} (RFC 8555 §7.3.4)`);
  }
  const header = readHeader(fields, alg, label);
  if (header.kid === undefined) throw problem.malformed(`${label} must name its key with "kid", not "jwk"`);
  // §7.3.4: "The "nonce" field MUST NOT be present"; "The "url" field MUST be set to the same value as the outer JWS".
  if (Object.hasOwn(fields, 'nonce')) throw problem.malformed(`${label} must not carry a "nonce"`);
  if (header.url !== expectedUrl) {
    throw problem.malformed(`${label} "url" ${quote(header.url)} is not the request URL ${quote(expectedUrl)}`);
  }
  const secret = await lookup(header.kid);
  if (secret === undefined) throw problem.unauthorized(`unknown EAB key id ${quote(header.kid)}`);
  if (secret.length === 0) throw new Error(`EAB key ${quote(header.kid)} is empty; check the EAB key store`);
  const payload = await verifyWith(jws, secret, alg, label);
  if (payload === undefined) throw problem.unauthorized(`${label} MAC does not verify with EAB key ${quote(header.kid)}`);
  const bound = parseJsonObject(payload);
  if (bound === undefined) throw problem.malformed(`${label} payload is not a JWK`);
  const [boundThumbprint, accountThumbprint] = await Promise.all([
    thumbprintOfJwk(publicJwk(bound, `${label} payload`).members),
    thumbprintOf(accountJwk),
  ]);
  // §7.3.4 step 5: "the payload of the JWS represents the same key as was used to verify the outer JWS".
  if (boundThumbprint !== accountThumbprint) throw problem.unauthorized(`${label} binds a different key than the account key`);
  return header.kid;
}

/**
 * RFC 8555 §7.3.5 for the keyChange inner JWS: flattened, `jwk` (no `kid`), no `nonce`, `url` equal to
 * the outer `url`, signed by that jwk, payload `{ account, oldKey }`. Steps 7–9 (account and old key
 * match, new key unused) are the caller's. Errors are malformed, or as in importAccountKey for the key.
 */
export async function verifyKeyChangeInner(
  inner: unknown,
  outerUrl: string,
): Promise<{ newKey: AccountKey; account: string; oldKey: Record<string, unknown> }> {
  const label = 'keyChange inner JWS';
  const { jws, header } = parseWith(inner, ACCOUNT_ALGORITHMS, label);
  // §7.3.5: "The inner JWS MUST have a "jwk" header parameter"; "MUST omit the "nonce" header parameter".
  if (header.jwk === undefined) throw problem.malformed(`${label} must carry the new key in "jwk", not "kid"`);
  if (header.nonce !== undefined) throw problem.malformed(`${label} must not carry a "nonce"`);
  if (header.url !== outerUrl) throw problem.malformed(`${label} "url" ${quote(header.url)} is not the outer "url"`);
  const newKey = await importAccountKey(header.jwk, header.alg);
  if (!verifyAccountSignature(jws, newKey)) throw problem.malformed(`${label} signature is invalid`);
  const payload = payloadText(jws, label);
  const keyChange = parseJsonObject(payload);
  if (keyChange === undefined || typeof keyChange.account !== 'string' || keyChange.account === '' || !isObject(keyChange.oldKey)) {
    throw problem.malformed(`${label} payload is not a keyChange object { account, oldKey }`);
  }
  return { newKey, account: keyChange.account, oldKey: keyChange.oldKey };
}
