/** A Logger that keeps its lines, so a test can assert what an operator would read. */
import type { Logger } from '../../src/lib/logger.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string | undefined;
  obj: object;
}

export function memoryLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at = (level: LogLine['level'], bound: object) => (obj: object, msg?: string) => void lines.push({ level, msg, obj: { ...bound, ...obj } });
  const make = (bound: object): Logger & { lines: LogLine[] } => ({
    lines,
    debug: at('debug', bound),
    info: at('info', bound),
    warn: at('warn', bound),
    error: at('error', bound),
    child: (b) => make({ ...bound, ...b }),
  });
  return make({});
}
