import { describe, expect, it } from 'vitest';
import { LazyChildLogger, type Logger } from '../../../src/lib/logger.js';
import { memoryLogger } from '../../helpers/memory-logger.js';

describe('LazyChildLogger', () => {
  it('makes the child only when something is logged, with every binding of the chain', () => {
    const base = memoryLogger();
    let children = 0;
    const counting: Logger = { ...base, child: (b) => (children++, base.child(b)) };
    const lazy = new LazyChildLogger(counting, { reqId: 'r1' }).child({ account: 'a1' });
    expect(children).toBe(0);
    lazy.warn({ x: 1 }, 'something');
    lazy.info({ y: 2 }, 'more');
    expect(children).toBe(1);
    expect(base.lines).toEqual([
      { level: 'warn', msg: 'something', obj: { reqId: 'r1', account: 'a1', x: 1 } },
      { level: 'info', msg: 'more', obj: { reqId: 'r1', account: 'a1', y: 2 } },
    ]);
  });
});
