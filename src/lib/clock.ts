/** The one source of "now". Code takes a Clock so tests can move time by hand. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; for tests and for replaying recorded runs. */
export class TestClock implements Clock {
  private ms: number;
  constructor(start: string | Date = '2030-01-01T00:00:00Z') {
    this.ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(to: string | Date): void {
    this.ms = new Date(to).getTime();
  }
}

export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export function addMs(d: Date, ms: number): Date {
  return new Date(d.getTime() + ms);
}
