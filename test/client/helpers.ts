/**
 * Helpers for the client tests: clients with teardown, event waiting, a WebSocket that
 * records what the client sends, and a tiny scripted server for peers that are not ours
 * (a plain Mesh server, a server that never answers).
 */
import { WebSocket as WsWebSocket, WebSocketServer, type WebSocket as WsSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { MeshClient, type MeshClientEvents, type MeshClientOptions, type PresenceUpdate, type WebSocketCtor } from '../../src/client/node.js';

export type TestContext = { after(fn: () => unknown): void };

/** Short timings so that the suite stays fast. */
export const FAST: MeshClientOptions = {
  requestTimeout: 2000,
  reconnect: { minDelay: 10, maxDelay: 50 },
};

/** A client closed when the test ends. */
export function makeClient(t: TestContext, url: string, options: MeshClientOptions = {}): MeshClient {
  const client = new MeshClient(url, { ...FAST, ...options });
  t.after(() => client.close());
  return client;
}

/** Resolves the next `event` of `client` (rejects after `ms`). */
export function nextEvent<K extends keyof MeshClientEvents>(
  client: MeshClient,
  event: K,
  ms = 3000,
  predicate: (payload: MeshClientEvents[K]) => boolean = () => true,
): Promise<MeshClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} event within ${ms} ms`));
    }, ms);
    const off = client.on(event, (payload) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Records presence updates and lets a test wait for one. */
export class Updates {
  readonly list: PresenceUpdate[] = [];
  private waiters: Array<{ match: (u: PresenceUpdate) => boolean; resolve: (u: PresenceUpdate) => void }> = [];

  readonly callback = (update: PresenceUpdate): void => {
    this.list.push(update);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(update)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(update);
      }
    }
  };

  /** The first update (already received or coming) that matches. */
  wait(match: Partial<PresenceUpdate> | ((u: PresenceUpdate) => boolean), ms = 3000): Promise<PresenceUpdate> {
    const fn = typeof match === 'function' ? match : (u: PresenceUpdate) => matches(u, match);
    const found = this.list.find(fn);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no update matching ${JSON.stringify(match)} within ${ms} ms; got ${JSON.stringify(this.list)}`));
      }, ms);
      const done = (u: PresenceUpdate): void => {
        clearTimeout(timer);
        resolve(u);
      };
      this.waiters.push({ match: fn, resolve: done });
    });
  }

  of(type: PresenceUpdate['type'], connectionId?: string): PresenceUpdate[] {
    return this.list.filter((u) => u.type === type && (connectionId === undefined || u.connectionId === connectionId));
  }
}

function matches(update: PresenceUpdate, expected: Partial<PresenceUpdate>): boolean {
  return Object.entries(expected).every(([key, value]) => JSON.stringify((update as unknown as Record<string, unknown>)[key]) === JSON.stringify(value));
}

export { quiet } from '../helpers/time.js';

/** Polls `check` until it returns true (bounded). */
export async function until(check: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A WebSocket constructor that records every frame the client sends, parsed. */
export function recordingWebSocket(): { ctor: WebSocketCtor; sent: Array<{ id?: number; command: string; payload?: any }> } {
  const sent: Array<{ id?: number; command: string; payload?: any }> = [];
  class Recording extends WsWebSocket {
    override send(data: any, ...rest: any[]): void {
      sent.push(JSON.parse(String(data)));
      (super.send as (...args: any[]) => void)(data, ...rest);
    }
  }
  return { ctor: Recording as unknown as WebSocketCtor, sent };
}

export interface ScriptedPeer {
  url: string;
  port: number;
  sockets: Set<WsSocket>;
  /** Every frame received, with the socket it came on. */
  received: Array<{ socket: WsSocket; frame: any }>;
  /** Resolves the first received frame (past or future) that matches. */
  waitFor(match: (frame: any) => boolean, ms?: number): Promise<any>;
  close(): Promise<void>;
}

/**
 * A small WebSocket server whose behaviour the test scripts: `onConnection` runs for
 * every socket (after the optional assign-id), `onFrame` answers frames.
 */
export async function startScriptedPeer(
  t: TestContext,
  script: {
    assignId?: boolean;
    onConnection?: (socket: WsSocket, index: number, req: IncomingMessage) => void;
    onFrame?: (socket: WsSocket, frame: any) => void;
    port?: number;
  } = {},
): Promise<ScriptedPeer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: script.port ?? 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as AddressInfo).port;
  const sockets = new Set<WsSocket>();
  const received: Array<{ socket: WsSocket; frame: any }> = [];
  const waiters = new Set<{ match: (f: any) => boolean; resolve: (f: any) => void }>();
  let count = 0;
  wss.on('connection', (socket, req) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data));
      received.push({ socket, frame });
      for (const waiter of [...waiters]) {
        if (waiter.match(frame)) {
          waiters.delete(waiter);
          waiter.resolve(frame);
        }
      }
      script.onFrame?.(socket, frame);
    });
    const index = count++;
    if (script.assignId ?? true) socket.send(JSON.stringify({ command: 'mesh/assign-id', payload: `peer-${index}` }));
    script.onConnection?.(socket, index, req);
  });
  let closed: Promise<void> | undefined;
  const peer: ScriptedPeer = {
    url: `ws://127.0.0.1:${port}`,
    port,
    sockets,
    received,
    waitFor(match, ms = 3000) {
      const found = received.find((r) => match(r.frame));
      if (found) return Promise.resolve(found.frame);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (f: any) => {
            clearTimeout(timer);
            resolve(f);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`peer got no matching frame within ${ms} ms; got ${JSON.stringify(received.map((r) => r.frame))}`));
        }, ms);
        waiters.add(waiter);
      });
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.terminate();
        wss.close(() => resolve());
      });
      return closed;
    },
  };
  t.after(() => peer.close());
  return peer;
}

/** Sends a frame to a scripted peer's socket. */
export function send(socket: WsSocket, frame: unknown): void {
  socket.send(JSON.stringify(frame));
}
