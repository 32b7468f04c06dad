/**
 * A server under test in a process of its own, started by `target.ts` with
 * `--expose-gc` so that its memory can be measured after a forced collection.
 *
 * Requests (over IPC): `start {kind, serverOptions, store, redisUrl, redisPrefix, profileTo}` → `{url}`;
 * `memory` → `MemorySample` after GC; `cpu` → CPU time used so far, in µs;
 * `profile-stop` → writes the CPU profile, if one was asked for (called before the clients
 * go, so that it shows the load only); `close` → closes the server and exits.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { serveIpc } from './lib/ipc.js';
import { createBareServer } from './bare-server.js';
import type { PresenceServerOptions } from '../src/server/index.js';

export type TargetKind = 'bare' | 'ours';

export interface ServerProcessConfig {
  kind: TargetKind;
  /**
   * Options of the server under test: for ours, passed to `createPresenceServer` as they
   * are (its production defaults fill in the rest; they admit the bench's load, whose busiest
   * client sends 10 publishes/s plus pongs); for bare, `BareServerOptions`.
   */
  serverOptions: Record<string, unknown>;
  /** Storage of our server: in memory, or Redis shared by every instance of one target. */
  store: 'memory' | 'redis';
  /** With `store: 'redis'`: the Redis to use. */
  redisUrl?: string;
  /** With `store: 'redis'`: the key prefix, one per target so that runs never see each other's keys. */
  redisPrefix?: string;
  /** When set, a CPU profile of the serving time (not start-up) is written to this file. */
  profileTo?: string;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  connections: number;
}

/** What the bench needs of a server; both `createBareServer` and `createPresenceServer` fit. */
interface ServerLike {
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
  readonly connectionCount: number;
}

const silentLogger = { info() {}, warn() {}, error() {} };

async function createOurs(config: ServerProcessConfig): Promise<ServerLike> {
  if (config.store === 'redis' && !config.redisUrl) throw new Error('store redis needs a redisUrl');
  // Imported lazily so that the bare baseline runs even when our server fails to load.
  const { createPresenceServer } = await import('../src/server/index.js');
  return createPresenceServer({
    ...(config.serverOptions as Partial<PresenceServerOptions>),
    ...(config.store === 'redis' ? { redis: { url: config.redisUrl!, prefix: config.redisPrefix } } : {}),
    logger: silentLogger,
  });
}

let server: ServerLike | null = null;
let profiler: { session: Session; file: string } | null = null;

/** Profiles in-process, so that the profile covers the load, not module loading. */
async function startProfiler(file: string): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  profiler = { session, file };
}

async function stopProfiler(): Promise<void> {
  if (!profiler) return;
  const { profile } = await profiler.session.post('Profiler.stop');
  writeFileSync(profiler.file, JSON.stringify(profile));
  profiler.session.disconnect();
  profiler = null;
}

function memorySample(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the server process needs --expose-gc');
  // Twice: the first pass may leave weakly held garbage for the second.
  gc();
  gc();
  const usage = process.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    connections: server?.connectionCount ?? 0,
  };
}

serveIpc(async (type, body) => {
  switch (type) {
    case 'start': {
      const config = body as ServerProcessConfig;
      server = config.kind === 'bare' ? createBareServer(config.serverOptions) : await createOurs(config);
      const url = await server.listen(0, '127.0.0.1');
      if (config.profileTo) await startProfiler(config.profileTo);
      return { url };
    }
    case 'memory':
      // Let pending socket work settle before collecting.
      await new Promise((resolve) => setTimeout(resolve, 50));
      return memorySample();
    case 'cpu': {
      // Cumulative CPU time of the process: less sensitive than latency to a busy machine.
      const usage = process.cpuUsage();
      return usage.user + usage.system;
    }
    case 'profile-stop':
      await stopProfiler();
      return null;
    case 'close':
      await stopProfiler();
      await server?.close();
      server = null;
      setImmediate(() => process.exit(0));
      return null;
    default:
      throw new Error(`unknown request ${type}`);
  }
});
