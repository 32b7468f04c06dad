/**
 * A raw WebSocket client that speaks frames, for tests: no reconnects, no magic. It
 * records every frame it receives, answers pings unless told not to, and can send
 * anything (including garbage).
 */
import { WebSocket } from 'ws';

export interface RawFrame {
  id?: number;
  command: string;
  payload?: any;
}

export interface RawClientOptions {
  /** Extra headers for the upgrade request (e.g. `Origin`). */
  headers?: Record<string, string>;
  /**
   * Answer Mesh `ping` frames with `pong` and WebSocket control pings with control pongs.
   * Default true. `false` simulates a silently dead client: nothing is answered at all.
   */
  answerPings?: boolean;
  /**
   * Answer WebSocket control pings (the `ws` client option `autoPong`). Default: as
   * `answerPings`. `false` with `answerPings: true` answers only Mesh `ping` frames.
   */
  autoPong?: boolean;
  /** How long to wait for the socket and `mesh/assign-id`. Default 2 000 ms. */
  timeoutMs?: number;
}

export interface RawClient {
  ws: WebSocket;
  /** The id from `mesh/assign-id`. */
  id: string;
  /** Every frame received, in order (assign-id included). */
  frames: RawFrame[];
  /** Sends a request and resolves its reply's payload. */
  request(command: string, payload?: unknown, timeoutMs?: number): Promise<any>;
  /** Sends raw data as is (a string as a text frame, a Buffer as a binary frame). */
  send(raw: string | Buffer): void;
  /**
   * Resolves the first frame (already received or arriving later) that matches; frames
   * before index `from` are skipped. Rejects after `timeoutMs` (default 2 000).
   */
  waitFor(predicate: (frame: RawFrame) => boolean, timeoutMs?: number, from?: number): Promise<RawFrame>;
  /** Presence pushes received so far (payloads of `mesh/presence-update`), optionally for one room. */
  updates(roomName?: string): any[];
  /** Resolves when the socket closed, with its close code. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** The error raised when the upgrade is refused: carries the HTTP status. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

export async function connectRaw(url: string, options: RawClientOptions = {}): Promise<RawClient> {
  const answerPings = options.answerPings ?? true;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const ws = new WebSocket(url, { headers: options.headers, autoPong: options.autoPong ?? answerPings });
  const frames: RawFrame[] = [];
  const waiters = new Set<{ predicate: (f: RawFrame) => boolean; from: number; resolve: (f: RawFrame) => void }>();
  const pending = new Map<number, (payload: unknown) => void>();
  let nextId = 1;

  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('error', () => {}); // surfaced through the open promise or `closed`

  ws.on('message', (data, isBinary) => {
    if (isBinary) throw new Error('the server sent a binary frame');
    const frame = JSON.parse(data.toString()) as RawFrame;
    frames.push(frame);
    if (frame.command === 'ping' && answerPings) ws.send(JSON.stringify({ command: 'pong', payload: {} }));
    if (typeof frame.id === 'number' && pending.has(frame.id)) {
      const resolve = pending.get(frame.id)!;
      pending.delete(frame.id);
      resolve(frame.payload);
    }
    const index = frames.length - 1;
    for (const waiter of waiters) {
      if (index >= waiter.from && waiter.predicate(frame)) {
        waiters.delete(waiter);
        waiter.resolve(frame);
      }
    }
  });

  function waitFor(predicate: (frame: RawFrame) => boolean, ms = 2_000, from = 0): Promise<RawFrame> {
    for (let i = from; i < frames.length; i++) if (predicate(frames[i]!)) return Promise.resolve(frames[i]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        from,
        resolve: (f: RawFrame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching frame within ${ms} ms; got: ${JSON.stringify(frames.slice(from)).slice(0, 2000)}`));
      }, ms);
      waiters.add(waiter);
    });
  }

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connect timed out')), timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      ws.terminate();
      reject(new UpgradeRefused(res.statusCode ?? 0));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  const assign = await waitFor((f) => f.command === 'mesh/assign-id', timeoutMs);

  return {
    ws,
    id: assign.payload as string,
    frames,
    closed,
    request(command, payload = {}, ms = 2_000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`no reply to ${command} within ${ms} ms`));
        }, ms);
        pending.set(id, (p) => {
          clearTimeout(timer);
          resolve(p);
        });
        ws.send(JSON.stringify({ id, command, payload }));
      });
    },
    send(raw) {
      ws.send(raw, { binary: typeof raw !== 'string' });
    },
    waitFor,
    updates(roomName) {
      return frames
        .filter((f) => f.command === 'mesh/presence-update' && (roomName === undefined || f.payload?.roomName === roomName))
        .map((f) => f.payload);
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      // a peer (or a paused socket of ours) that never completes the handshake is cut
      const timer = setTimeout(() => ws.terminate(), 1000);
      await closed;
      clearTimeout(timer);
    },
  };
}
