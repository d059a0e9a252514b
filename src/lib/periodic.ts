/**
 * A background job on a timer: `run` is called every `intervalMs` (the first time one interval after
 * start), never twice at once: the next run is scheduled when the previous one has ended. The timer
 * is unref'd, so it never keeps the process alive. A run that throws is handed to `onError`; the
 * job goes on. stop() cancels the next run and waits for the one in flight.
 */
export interface Periodic {
  stop(): Promise<void>;
}

export function runEvery(intervalMs: number, run: () => Promise<unknown>, onError: (err: unknown) => void): Periodic {
  if (!(intervalMs > 0)) throw new RangeError(`interval must be longer than 0, got ${intervalMs}`);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = (async () => {
        try {
          await run();
        } catch (err) {
          onError(err);
        }
      })().finally(() => {
        running = undefined;
        schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
