/** RFC 8555 §7.4 notBefore/notAfter, checked against the profile's validity range; never silently shortened. */
import { problem } from '../protocol/problem.js';
import { formatDurationMs } from '../lib/duration.js';
import type { ProfileConfig } from '../config/schema.js';

/** A requested notBefore may lie this far in the past (clock skew), no more. */
const BACKDATE_TOLERANCE_MS = 5 * 60_000;

function parseTime(field: string, value: string): Date {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(d.getTime())) throw problem.malformed(`${field} "${value}" is not an RFC 3339 date-time`);
  return d;
}

export function checkRequestedValidity(range: ProfileConfig['validity'], now: Date, notBefore?: string, notAfter?: string): { notBefore: Date | null; notAfter: Date | null } {
  if (notBefore === undefined && notAfter === undefined) return { notBefore: null, notAfter: null };
  const nb = notBefore !== undefined ? parseTime('notBefore', notBefore) : now;
  const na = notAfter !== undefined ? parseTime('notAfter', notAfter) : new Date(nb.getTime() + range.default);
  if (na.getTime() <= nb.getTime()) throw problem.malformed('notAfter must be later than notBefore');
  if (nb.getTime() < now.getTime() - BACKDATE_TOLERANCE_MS) throw problem.malformed(`notBefore ${nb.toISOString()} lies in the past`);
  const span = na.getTime() - nb.getTime();
  const { min, max } = range;
  if (span > max) throw problem.malformed(`the requested validity (${formatDurationMs(span)}) is longer than this profile allows (${formatDurationMs(max)})`);
  if (span < min) throw problem.malformed(`the requested validity (${formatDurationMs(span)}) is shorter than this profile allows (${formatDurationMs(min)})`);
  return { notBefore: notBefore !== undefined ? nb : null, notAfter: na };
}
