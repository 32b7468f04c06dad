/**
 * Starting a server under test. Each instance runs in a child process of its own
 * (`server-process.ts`, with `--expose-gc`), so that both servers run under the same
 * conditions and neither shares a core's event loop with the load generator.
 *
 * `instances: 2` with `store: 'redis'` starts two processes on one Redis (with a key prefix
 * of their own) and the bench spreads clients over `urls`.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IpcPeer } from './lib/ipc.js';
import type { MemorySample, ServerProcessConfig, TargetKind } from './server-process.js';

export type { MemorySample, TargetKind };

export interface TargetOptions {
  /** Server processes to start; clients are spread over them round-robin. Default 1. */
  instances?: number;
  /** Ours: options for `createPresenceServer` over the bench defaults. Bare: `BareServerOptions`. */
  serverOptions?: Record<string, unknown>;
  /** Store of our server. Default `memory`. */
  store?: 'memory' | 'redis';
  /** Required with `store: 'redis'`. */
  redisUrl?: string;
  /** Writes a CPU profile of each instance's serving time to `<path>-<n>.cpuprofile`. */
  profilePath?: string;
}

export interface Target {
  kind: TargetKind;
  /** One `ws://` URL per instance. */
  urls: string[];
  /** Memory of all instances after a forced GC, summed. */
  memory(): Promise<MemorySample>;
  /** CPU time (user + system) used so far by all instances, in µs. */
  cpuMicros(): Promise<number>;
  /** Ends and writes the CPU profiles (when `profilePath` was given); later calls do nothing. */
  stopProfiles(): Promise<void>;
  /** Closes every instance and waits for its process to exit. */
  close(): Promise<void>;
}

const serverEntry = fileURLToPath(new URL('./server-process.ts', import.meta.url));
let targetCount = 0;
const root = fileURLToPath(new URL('..', import.meta.url));

/** Starts `kind` as configured; rejects (after cleaning up) if any instance fails. */
export async function startTarget(kind: TargetKind, options: TargetOptions = {}): Promise<Target> {
  const instances = options.instances ?? 1;
  // every target on a fresh key prefix: a previous target's leftovers (or another run's) stay out of sight
  const redisPrefix = `mesh-bench-${process.pid}-${++targetCount}:`;
  const peers: IpcPeer[] = [];
  const close = async () => {
    await Promise.all(
      peers.map(async (peer) => {
        await peer.request('close', null, 10_000).catch(() => {});
        await peer.stop(2_000);
      }),
    );
  };
  try {
    const urls: string[] = [];
    for (let i = 0; i < instances; i++) {
      const child = fork(serverEntry, [], {
        cwd: root,
        execArgv: ['--import', 'tsx', '--expose-gc'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const peer = new IpcPeer(child, `${kind} server #${i + 1}`);
      peers.push(peer);
      const config: ServerProcessConfig = {
        kind,
        serverOptions: options.serverOptions ?? {},
        store: options.store ?? 'memory',
        redisUrl: options.redisUrl,
        redisPrefix,
        profileTo: options.profilePath ? `${options.profilePath}-${i + 1}.cpuprofile` : undefined,
      };
      const { url } = await peer.request<{ url: string }>('start', config, 30_000);
      urls.push(url);
    }
    return {
      kind,
      urls,
      async memory() {
        const samples = await Promise.all(peers.map((peer) => peer.request<MemorySample>('memory', null, 30_000)));
        const sum = (key: keyof MemorySample) => samples.reduce((total, sample) => total + sample[key], 0);
        return {
          rss: sum('rss'),
          heapUsed: sum('heapUsed'),
          connections: sum('connections'),
        };
      },
      async cpuMicros() {
        const samples = await Promise.all(peers.map((peer) => peer.request<number>('cpu', null, 10_000)));
        return samples.reduce((total, sample) => total + sample, 0);
      },
      async stopProfiles() {
        await Promise.all(peers.map((peer) => peer.request('profile-stop', null, 30_000)));
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
