/** RFC 8555 §7.4 notBefore/notAfter, checked against the profile's validity range; never silently shortened. */
import { problem } from '../protocol/problem.js';
import { formatDurationMs } from '../lib/duration.js';
import type { ProfileConfig } from '../config/schema.js';

/** A requested notBefore may lie this far in the past (clock skew), no more. */
const BACKDATE_TOLERANCE_MS = 5 * 60_000;

// RFC 3339 §5.6: date-time = full-date "T" full-time; full-time ends with a time-offset ("Z" or ±hh:mm).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 §5.7 ranges, which Date does not check: it rolls 2030-02-30 into March and 24:00 into the next day. */
function fieldsInRange(m: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second, offsetHour = 0, offsetMinute = 0] = m.slice(1).map((v) => (v === undefined ? undefined : Number(v)));
  if (year === undefined || month === undefined || day === undefined || hour === undefined || minute === undefined || second === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && offsetHour <= 23 && offsetMinute <= 59;
}

function parseTime(field: string, value: string): Date {
  const m = DATE_TIME.exec(value);
  const d = new Date(value);
  // Without an offset, Date would read the time in the server's own time zone.
  if (!m || !fieldsInRange(m) || Number.isNaN(d.getTime())) throw problem.malformed(`${field} "${value}" is not an RFC 3339 date-time`);
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
