/**
 * Starts a real presence server on 127.0.0.1, port 0, with a silent logger, and registers
 * its teardown on the test context.
 */
import { createPresenceServer, type PresenceServer, type PresenceServerOptions, type TrackPresenceOptions } from '../../src/server/index.js';

export interface TestServerOptions extends PresenceServerOptions {
  /** `trackPresence` calls to make before listening: patterns, or `[pattern, options]` pairs. */
  track?: Array<string | RegExp | [string | RegExp, TrackPresenceOptions]>;
}

/** A logger that says nothing (pass `logger` to see logs in a test). */
export const silentLogger = { info() {}, warn() {}, error() {} };

export async function startServer(
  t: { after(fn: () => unknown): void },
  options: TestServerOptions = {},
): Promise<{ server: PresenceServer; url: string }> {
  const { track, ...rest } = options;
  const server = createPresenceServer({ logger: silentLogger, ...rest });
  for (const entry of track ?? []) {
    if (Array.isArray(entry)) server.trackPresence(entry[0], entry[1]);
    else server.trackPresence(entry);
  }
  t.after(() => server.close());
  const url = await server.listen(0, '127.0.0.1');
  return { server, url };
}
