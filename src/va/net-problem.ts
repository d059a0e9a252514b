import { problem, type AcmeProblem } from '../protocol/problem.js';
import { NetError } from './net.js';

/**
 * The one mapping from a NetError kind to an RFC 8555 §6.7 problem type: `dns` for lookups, `tls`
 * for handshakes, `connection` for everything about reaching the server and reading its answer.
 * `detail` is the whole sentence; callers put the challenge type and what was attempted first.
 */
export function problemFromNetError(e: NetError, detail: string): AcmeProblem {
  switch (e.kind) {
    case 'dns':
      return problem.dns(detail);
    case 'tls':
      return problem.tls(detail);
    case 'connection':
    case 'timeout':
    case 'too-large':
    case 'redirect':
      return problem.connection(detail);
  }
}

export function isNetError(e: unknown): e is NetError {
  return e instanceof NetError;
}
