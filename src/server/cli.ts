#!/usr/bin/env node
/**
 * `mesh-presence serve`: runs a presence server. Prints exactly one line on stdout — the
 * `ws://` URL — once listening; everything else (logs) goes to stderr, so scripts can read
 * the URL with `read`. SIGINT/SIGTERM close gracefully (clients get 1012 and reconnect at
 * once); a second signal exits at once. Exit codes: 0 done, 1 failure, 2 bad arguments.
 */
import { parseCliArgs, USAGE, UsageError } from './cli-args.js';
import { createPresenceServer, type Logger } from './index.js';

async function main(argv: string[]): Promise<void> {
  const args = parseCliArgs(argv);
  if (args.command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const logger: Logger = {
    info: (...items) => console.error(...items),
    warn: (...items) => console.error(...items),
    error: (...items) => console.error(...items),
  };
  let server;
  try {
    server = createPresenceServer({
      path: args.path,
      pingInterval: args.pingInterval,
      maxMissedPongs: args.maxMissedPongs,
      allowedOrigins: args.allowedOrigins,
      redis: args.redis,
      logger,
    });
  } catch (err) {
    // an option out of range (e.g. --max-missed-pongs 0): a usage error, exit 2
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
  for (const pattern of args.track) server.trackPresence(pattern);
  const url = await server.listen(args.port, args.host);
  process.stdout.write(`${url}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.error(`mesh-presence: ${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`mesh-presence: ${signal}, closing connections (1012) and exiting`);
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('mesh-presence: close failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`mesh-presence: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`mesh-presence: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
