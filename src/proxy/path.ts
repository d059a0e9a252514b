/**
 * Which route a request target belongs to, and whether its path may leave the route's prefix.
 * Works on the raw request target (what the client sent), never on a decoded or normalised copy,
 * so what is checked is exactly what is forwarded.
 */

export interface RawTarget {
  /** The path as sent, percent-encoding intact. */
  path: string;
  /** With its "?", or ''. */
  query: string;
}

/**
 * RFC 9112 §3.2: origin-form ("/a/b?q") as is; absolute-form ("http://host/a/b?q") gives its path
 * and query only, so a client cannot choose the upstream with it. Authority-form and "*" are not
 * routed (undefined).
 */
export function rawTarget(url: string): RawTarget | undefined {
  let rest = url;
  if (!rest.startsWith('/')) {
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(rest);
    if (m === null) return undefined;
    rest = rest.slice(m[0].length) || '/';
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  const q = rest.indexOf('?');
  return q === -1 ? { path: rest, query: '' } : { path: rest.slice(0, q), query: rest.slice(q) };
}

/** The part of `path` below `prefix` ('' or starting with '/'), or undefined when it is not under it. */
export function below(path: string, prefix: string): string | undefined {
  if (path === prefix) return '';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : undefined;
}

/**
 * "." and "..", and what some servers take for them: "..;jsessionid" (Tomcat and other servlet
 * containers drop path parameters before resolving), "..." and ". ." (Windows trims dots and
 * spaces at the end of a name).
 */
export function isDotSegment(segment: string): boolean {
  const name = segment.split(';', 1)[0] ?? '';
  return name.includes('.') && /^[.\s]+$/.test(name);
}

// RFC 3986 §3.3 pchar and "/": unreserved, sub-delims, ":", "@" and percent-encoded octets.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;
 
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Decoding rounds checked: an upstream that decodes twice still sees no dot segment. */
const DECODE_ROUNDS = 3;

const percentDecode = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/**
 * Why a raw request path must not be forwarded, or undefined when it may. Refused: characters
 * outside RFC 3986 paths (backslashes, spaces, controls, non-ASCII), malformed percent-encoding,
 * and any dot segment, in the path as sent and after each of up to three rounds of
 * percent-decoding (so "%2e%2e", "..%2f", "%252e%252e" and "..%5c" are all caught). Empty
 * segments and an encoded "/" inside a segment are allowed: OCSP GET requests carry base64,
 * which has "/" (RFC 6960 Appendix A.1).
 */
export function refusedPath(path: string): string | undefined {
  if (!PATH_CHARS.test(path)) return 'path holds a character outside RFC 3986 (backslash, space, control or non-ASCII)';
  if (BAD_PERCENT.test(path)) return 'path holds a malformed percent-encoding';
  let text = path;
  for (let round = 0; round <= DECODE_ROUNDS; round++) {
    if (text.includes('\\')) return 'path holds an encoded backslash';
    if (CONTROL.test(text)) return 'path holds an encoded control character';
    if (text.split('/').some(isDotSegment)) return 'path holds a dot segment';
    if (!text.includes('%')) return undefined;
    text = percentDecode(text);
  }
  return 'path is percent-encoded more than three times over';
}

/**
 * The upstream path for a request: the target URL's path with the part below the route's prefix
 * after it, raw, then the query. The prefix itself maps onto the target path exactly.
 */
export function upstreamPath(targetPath: string, rest: string, query: string): string {
  if (rest === '') return targetPath + query;
  return targetPath.replace(/\/$/, '') + rest + query;
}
