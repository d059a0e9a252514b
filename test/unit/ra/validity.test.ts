/**
 * Requested validity (src/ra/validity.ts, RFC 8555 §7.4 notBefore/notAfter) against a profile's
 * range: never silently shortened, refused with malformed naming the value or the limit.
 */
import { describe, it, expect } from 'vitest';
import { DAY_MS, HOUR_MS, MINUTE_MS, addMs } from '../../../src/lib/clock.js';
import { AcmeProblem } from '../../../src/protocol/problem.js';
import { checkRequestedValidity } from '../../../src/ra/validity.js';
import { T0 } from '../../helpers/records.js';

const RANGE = { default: 90 * DAY_MS, min: HOUR_MS, max: 397 * DAY_MS };
const at = (ms: number) => addMs(T0, ms).toISOString();

function refusal(notBefore?: string, notAfter?: string): AcmeProblem {
  try {
    checkRequestedValidity(RANGE, T0, notBefore, notAfter);
  } catch (e) {
    if (e instanceof AcmeProblem) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('checkRequestedValidity', () => {
  it('leaves the validity to the template when the order asks for none', () => {
    expect(checkRequestedValidity(RANGE, T0)).toEqual({ notBefore: null, notAfter: null });
  });

  it('keeps both requested times as given', () => {
    expect(checkRequestedValidity(RANGE, T0, at(DAY_MS), at(31 * DAY_MS))).toEqual({ notBefore: addMs(T0, DAY_MS), notAfter: addMs(T0, 31 * DAY_MS) });
  });

  it('measures a lone notAfter from now and leaves notBefore to issuance', () => {
    expect(checkRequestedValidity(RANGE, T0, undefined, at(30 * DAY_MS))).toEqual({ notBefore: null, notAfter: addMs(T0, 30 * DAY_MS) });
  });

  it('gives a lone notBefore the profile\'s default lifetime', () => {
    expect(checkRequestedValidity(RANGE, T0, at(DAY_MS))).toEqual({ notBefore: addMs(T0, DAY_MS), notAfter: addMs(T0, 91 * DAY_MS) });
  });

  it('accepts a date-time with a numeric offset and fractional seconds', () => {
    expect(checkRequestedValidity(RANGE, T0, '2030-01-01T02:00:00.250+02:00', '2030-02-01T00:00:00Z').notBefore).toEqual(addMs(T0, 250));
  });

  it('accepts exactly the profile\'s longest and shortest lifetimes', () => {
    expect(checkRequestedValidity(RANGE, T0, at(0), at(397 * DAY_MS)).notAfter).toEqual(addMs(T0, 397 * DAY_MS));
    expect(checkRequestedValidity(RANGE, T0, at(0), at(HOUR_MS)).notAfter).toEqual(addMs(T0, HOUR_MS));
  });

  it('accepts a notBefore up to five minutes in the past (clock skew)', () => {
    expect(checkRequestedValidity(RANGE, T0, at(-5 * MINUTE_MS), at(DAY_MS)).notBefore).toEqual(addMs(T0, -5 * MINUTE_MS));
  });

  it('refuses a notBefore more than five minutes in the past, naming it', () => {
    expect(refusal(at(-5 * MINUTE_MS - 1000), at(DAY_MS))).toMatchObject({ type: 'malformed', status: 400, detail: 'notBefore 2029-12-31T23:54:59.000Z lies in the past' });
  });

  it('refuses a notAfter that is not later than notBefore', () => {
    expect(refusal(at(DAY_MS), at(DAY_MS)).detail).toBe('notAfter must be later than notBefore');
  });

  it('refuses a notAfter in the past', () => {
    expect(refusal(undefined, at(-DAY_MS)).detail).toBe('notAfter must be later than notBefore');
  });

  it('refuses a lifetime longer than the profile allows, naming both', () => {
    expect(refusal(at(0), at(398 * DAY_MS))).toMatchObject({ type: 'malformed', detail: 'the requested validity (398d) is longer than this profile allows (397d)' });
  });

  it('refuses a lifetime shorter than the profile allows, naming both', () => {
    expect(refusal(at(0), at(30 * MINUTE_MS)).detail).toBe('the requested validity (30m) is shorter than this profile allows (1h)');
  });

  it('refuses text that is not a date-time, naming the field and the value', () => {
    expect(refusal('next tuesday')).toMatchObject({ type: 'malformed', detail: 'notBefore "next tuesday" is not an RFC 3339 date-time' });
    expect(refusal(undefined, '2030-02-01').detail).toBe('notAfter "2030-02-01" is not an RFC 3339 date-time');
  });

  it('refuses a date-time without an offset rather than reading it in the server\'s time zone', () => {
    // RFC 3339 §5.6: date-time = full-date "T" full-time, and full-time ends with a time-offset.
    expect(refusal(undefined, '2030-02-01T00:00:00').detail).toBe('notAfter "2030-02-01T00:00:00" is not an RFC 3339 date-time');
  });

  it('refuses a day the month does not have instead of rolling it into the next month', () => {
    // RFC 3339 §5.7: date-mday 01-28, 01-29, 01-30, 01-31 "based on month/year".
    expect(refusal(undefined, '2030-02-30T00:00:00Z').detail).toBe('notAfter "2030-02-30T00:00:00Z" is not an RFC 3339 date-time');
  });

  it('refuses an hour past 23', () => {
    expect(refusal(undefined, '2030-02-01T24:00:00Z').detail).toContain('is not an RFC 3339 date-time');
  });
});
