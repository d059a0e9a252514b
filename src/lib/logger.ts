import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

/** The structural logger every module receives; pino's Logger fits it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export function createLogger(level: LogLevel, destination?: DestinationStream): PinoLogger {
  return pino(
    {
      level,
      base: { svc: 'acme-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Never log secrets, even by accident (style.md: Logging).
      redact: { paths: ['*.hmacKey', '*.privateKey', '*.password', '*.csr', 'req.headers.authorization'], remove: true },
    },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

export const silentLogger: Logger = createLogger('silent');
