import { createGateway } from '../../app/gateway.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../config/load.js';

const EX_CONFIG_STATUS = 78;

/**
 * Starts the gateway and, once it answers, prints the two lines other tools parse:
 * `Directory: <url>` and `CA bundle: <path>`. SIGTERM/SIGINT drain requests in flight, exit 0.
 */
export async function serve(config: Config): Promise<number> {
  let gateway;
  try {
    gateway = await createGateway(config);
  } catch (err) {
    // Settings the backend contradicts (template limits) are configuration errors: status 78.
    if (err instanceof ConfigError) {
      process.stderr.write(`acme-gateway: the configuration contradicts the backend:\n${err.errors.map((e) => `  ${e}`).join('\n')}\n`);
      return EX_CONFIG_STATUS;
    }
    throw err;
  }
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
