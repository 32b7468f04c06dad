/**
 * Access, from browser tests, to the presence servers that web-test-runner.config.mjs
 * starts in Node (see its `presenceServerPlugin`).
 */
import { executeServerCommand } from '@web/test-runner-commands';

/** ws:// URL of the presence server shared by the whole run. */
export function getServerUrl(): Promise<string> {
  return executeServerCommand<string, undefined>('presence-server-url');
}

/** A presence server of one's own, for tests that stop or restart it. */
export interface PrivateServer {
  id: string;
  url: string;
  /** Close the server; connected clients see it go away. */
  stop(): Promise<void>;
  /** Listen again on the same port (clients reconnect to the same URL). */
  start(): Promise<void>;
  /** Close it for good. */
  dispose(): Promise<void>;
}

/**
 * Start a private presence server; call `dispose()` when the test ends. With
 * `authenticate: true` a connection needs the token `<userId>:<name>`, which becomes its
 * server-trusted metadata `{userId, name}`.
 */
export async function createPrivateServer(options: { authenticate?: boolean } = {}): Promise<PrivateServer> {
  const { id, url } = await executeServerCommand<{ id: string; url: string }, { authenticate: boolean }>(
    'presence-server-create',
    { authenticate: options.authenticate === true },
  );
  const run = async (command: string) => {
    await executeServerCommand<boolean, { id: string }>(command, { id });
  };
  return {
    id,
    url,
    stop: () => run('presence-server-stop'),
    start: () => run('presence-server-start'),
    dispose: () => run('presence-server-dispose'),
  };
}

/** A room's presence as the server sees it. */
export interface ServerPresence {
  present: string[];
  states: Record<string, Record<string, unknown>>;
  metadata: Record<string, Record<string, unknown> | null>;
}

/** Who is in `room` on the shared server (or on the private server `serverId`). */
export function getServerPresence(room: string, serverId?: string): Promise<ServerPresence> {
  return executeServerCommand<ServerPresence, { room: string; id?: string }>(
    'presence-server-presence',
    serverId === undefined ? { room } : { room, id: serverId },
  );
}

/**
 * Resolves once the server lists `count` connections in `room` (or, given a predicate,
 * once it holds for the server's view), polled: the server's own view has no event in
 * the page. Rejects after `timeout` ms.
 */
export async function waitServerPresence(
  room: string,
  count: number | ((presence: ServerPresence) => boolean),
  serverId?: string,
  timeout = 5_000,
): Promise<ServerPresence> {
  const done = typeof count === 'number' ? (p: ServerPresence) => p.present.length === count : count;
  const deadline = Date.now() + timeout;
  for (;;) {
    const presence = await getServerPresence(room, serverId);
    if (done(presence)) return presence;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for the server's presence in ${room} (have ${presence.present.length} connections)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
