/**
 * Shared pieces of the Redis suites: a Redis with N CLI instances on it, raw clients with
 * teardown and arrival times, predicates on presence pushes, and a WebSocket constructor
 * that plays load balancer for `MeshClient` (it connects wherever the test points it).
 */
import { WebSocket as WsWebSocket } from 'ws';
import type { WebSocketCtor } from '../../src/client/node.js';
import { connectRaw, type RawClient, type RawFrame } from '../helpers/raw-client.js';
import { startInstances, type Instance, type InstanceOptions } from '../helpers/instances.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

export type TestContext = { after(fn: () => unknown): void };

/** A Redis and `count` server instances on it (named A, B, C…). */
export async function cluster(
  t: TestContext,
  count: number,
  options: InstanceOptions = {},
): Promise<{ redis: TestRedis; instances: Instance[] }> {
  const redis = await startRedis(t);
  const instances = await startInstances(t, redis.url, count, options);
  return { redis, instances };
}

/**
 * A context whose `after` callbacks run when `runAll` is called: for resources that a
 * `describe` block shares between its tests (its `before` hook has no `t.after`).
 */
export function sharedContext(): TestContext & { runAll(): Promise<void> } {
  const callbacks: Array<() => unknown> = [];
  return {
    after: (fn) => void callbacks.push(fn),
    async runAll() {
      for (const fn of callbacks.splice(0).reverse()) await fn();
    },
  };
}

export interface TimedClient extends RawClient {
  /** `performance.now()` at which each frame arrived (aligned with `frames`). */
  times: number[];
}

/** A raw client closed at the end of the test, with each frame's arrival time. */
export async function raw(t: TestContext, url: string): Promise<TimedClient> {
  const client = (await connectRaw(url, { timeoutMs: 5_000 })) as TimedClient;
  const times = client.frames.map(() => performance.now());
  // registered after connectRaw's own listener, so the frame is already in `frames`
  client.ws.on('message', () => {
    times[client.frames.length - 1] = performance.now();
  });
  client.times = times;
  t.after(() => client.close());
  return client;
}

export const isUpdate =
  (type: 'join' | 'leave' | 'state', connectionId: string, roomName?: string) =>
  (f: RawFrame): boolean =>
    f.command === 'mesh/presence-update' &&
    f.payload.type === type &&
    f.payload.connectionId === connectionId &&
    (roomName === undefined || f.payload.roomName === roomName);

/** A member's events as a subscriber saw them: `join`, `leave`, or `state:<json>`. */
export function eventsOf(client: RawClient, roomName: string, connectionId: string, from = 0): string[] {
  return client.frames
    .slice(from)
    .filter((f) => f.command === 'mesh/presence-update' && f.payload.roomName === roomName && f.payload.connectionId === connectionId)
    .map((f) => (f.payload.type === 'state' ? `state:${JSON.stringify(f.payload.state)}` : f.payload.type));
}

/** Polls an async check until it returns true; the error names `what` and the last value seen. */
export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not reached within ${ms} ms; last seen ${JSON.stringify(last)}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export { quiet } from '../helpers/time.js';

/** A unique room name per test, so that tests sharing a cluster do not see each other. */
let rooms = 0;
export const roomName = (label: string): string => `${label}-${process.pid}-${++rooms}`;

/**
 * A load balancer in front of the instances, for `MeshClient`: every (re)connection goes
 * to `route.url`, whatever URL the client was given. `sockets` are the sockets opened.
 */
export function router(initial: string): { ctor: WebSocketCtor; route: { url: string }; sockets: WsWebSocket[] } {
  const route = { url: initial };
  const sockets: WsWebSocket[] = [];
  class Routed extends WsWebSocket {
    constructor(_url: string | URL, ...rest: any[]) {
      super(route.url, ...(rest as []));
      sockets.push(this);
    }
  }
  return { ctor: Routed as unknown as WebSocketCtor, route, sockets };
}

/**
 * The presence of a room as `get-presence-state` answers it, asked through a fresh
 * connection. Rejects at once when the server closes that connection (e.g. 1013 while its
 * store is unavailable), so that polling it measures the server, not a timeout.
 */
export function presenceVia(url: string, room: string, ms = 5_000): Promise<{ present: string[]; states: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WsWebSocket(url);
    const timer = setTimeout(() => done(new Error(`get-presence-state through ${url}: no answer within ${ms} ms`)), ms);
    const done = (err: Error | null, value?: { present: string[]; states: Record<string, unknown> }) => {
      clearTimeout(timer);
      ws.removeAllListeners('close');
      ws.terminate();
      if (err) reject(err);
      else resolve(value!);
    };
    ws.on('error', (err) => done(err));
    ws.on('close', (code) => done(new Error(`get-presence-state through ${url}: closed with ${code}`)));
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { id?: number; command: string; payload: any };
      if (frame.command === 'mesh/assign-id') {
        ws.send(JSON.stringify({ id: 1, command: 'mesh/get-presence-state', payload: { roomName: room } }));
      } else if (frame.id === 1) {
        if (frame.payload?.success !== true) done(new Error(`get-presence-state refused: ${JSON.stringify(frame.payload)}`));
        else done(null, { present: frame.payload.present, states: frame.payload.states });
      }
    });
  });
}
