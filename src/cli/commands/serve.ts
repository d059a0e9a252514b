import { createGateway } from '../../app/gateway.js';
import type { Config } from '../../config/schema.js';

/**
 * Starts the gateway and, once it answers, prints the two lines other tools parse:
 * `Directory: <url>` and `CA bundle: <path>`. SIGTERM/SIGINT drain requests in flight, exit 0.
 */
export async function serve(config: Config): Promise<number> {
  const gateway = await createGateway(config);
  try {
    await gateway.listen();
  } catch (err) {
    gateway.log.error({ err, listen: config.server.listen }, 'cannot listen');
    await gateway.stop();
    return 1;
  }
  process.stdout.write(`Directory: ${gateway.directoryUrl()}\nCA bundle: ${gateway.caBundlePath}\n`);
  gateway.log.info({ directory: gateway.directoryUrl(), profiles: Object.keys(config.profiles) }, 'gateway ready');
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      gateway.log.info({ signal }, 'draining and stopping');
      gateway.stop().then(
        () => resolve(0),
        (err: unknown) => {
          gateway.log.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
