/** runEvery (src/lib/periodic.ts): the timer of the background checks. */
import { describe, expect, it } from 'vitest';
import { runEvery } from '../../../src/lib/periodic.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runEvery', () => {
  it('runs again after each run ends, never two at once, and goes on after a run throws', async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    const errors: unknown[] = [];
    const job = runEvery(5, async () => {
      runs++;
      active++;
      most = Math.max(most, active);
      await sleep(15);
      active--;
      if (runs === 1) throw new Error('first run fails');
    }, (err) => errors.push(err));
    await sleep(120);
    await job.stop();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(most).toBe(1);
    expect(errors).toEqual([new Error('first run fails')]);
  });

  it('waits on stop() for the run in flight, and runs no more after it', async () => {
    let finished = false;
    let runs = 0;
    const job = runEvery(5, async () => {
      runs++;
      await sleep(40);
      finished = true;
    }, () => undefined);
    await sleep(15);
    await job.stop();
    expect(finished).toBe(true);
    const after = runs;
    await sleep(30);
    expect(runs).toBe(after);
  });

  it('refuses an interval of 0', () => {
    expect(() => runEvery(0, () => Promise.resolve(), () => undefined)).toThrow(RangeError);
  });
});
