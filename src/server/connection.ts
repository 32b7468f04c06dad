/**
 * One client connection: its socket, its local bookkeeping (rooms joined, presence
 * subscriptions), its heartbeat counter and rate limiter, and batched writes.
 *
 * Kept small on purpose: an idle connection costs one instance of this class plus the
 * `ws` socket. Sets are allocated only once the connection joins or subscribes.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Metadata } from '../protocol.js';
import type { HeartbeatMember } from './heartbeat.js';
import type { ConnectionInfo } from './options.js';

/**
 * Writes are corked per socket and uncorked once per event-loop turn, so that every frame
 * a socket gets during one turn (fan-outs, replies) leaves in one `writev` syscall.
 */
const corked: Connection[] = [];
let flushScheduled = false;

function flushCorked(): void {
  flushScheduled = false;
  // Swap out first: uncorking may run callbacks that write again.
  const batch = corked.splice(0, corked.length);
  for (const conn of batch) conn.uncork();
}

export class Connection implements ConnectionInfo, HeartbeatMember {
  readonly id: string;
  readonly ws: WebSocket;
  readonly authenticated: Metadata | null;
  readonly remoteAddress: string | undefined;
  metadata: Metadata | null;
  /**
   * Rooms this connection is a member of: kept by its own join/leave commands, and by the
   * store's `expired` leaves (a ttl ran out); other events never change it.
   */
  rooms: Set<string> | null = null;
  /** Rooms whose presence this connection receives. */
  subscriptions: Set<string> | null = null;
  /** Heartbeat visits since anything was heard from the client. */
  missed = 0;
  /** The heartbeat slice this connection was dealt into (see heartbeat.ts). */
  heartbeatSlice = -1;
  closed = false;
  /** The last command still running, or null: the next one waits for it (see server.ts). */
  queue: Promise<void> | null = null;
  /** Set once the send buffer overflowed: nothing more is written (the socket is closing). */
  overflowed = false;
  readonly #maxBufferedBytes: number;
  readonly #onOverflow: (conn: Connection) => void;
  #socket: Socket | undefined;
  #corked = false;
  // token bucket
  #tokens: number;
  #refilledAt: number;
  #dropped = 0;
  #dropWindowStart = 0;

  constructor(
    id: string,
    ws: WebSocket,
    authenticated: Metadata | null,
    remoteAddress: string | undefined,
    burst: number,
    maxBufferedBytes: number,
    onOverflow: (conn: Connection) => void,
  ) {
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#onOverflow = onOverflow;
    this.id = id;
    this.ws = ws;
    this.authenticated = authenticated;
    this.metadata = authenticated;
    this.remoteAddress = remoteAddress;
    this.#tokens = burst;
    this.#refilledAt = Date.now();
    // `ws` keeps the net.Socket private; corking it is what batches our writes.
    this.#socket = (ws as unknown as { _socket?: Socket })._socket;
  }

  /** Sends an already serialised frame as a text frame (queued until the turn ends). */
  send(frame: Buffer): void {
    if (this.closed || this.overflowed || this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.#corked && this.#socket) {
      this.#socket.cork();
      this.#corked = true;
      corked.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushCorked);
      }
    }
    this.ws.send(frame, { binary: false });
    // A client that stops reading would otherwise make us buffer its frames without end.
    if (this.ws.bufferedAmount > this.#maxBufferedBytes) {
      this.overflowed = true;
      this.#onOverflow(this);
    }
  }

  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket?.uncork();
  }

  /**
   * Takes one token. `'ok'`: go on; `'drop'`: answer `ERATELIMIT`; `'close'`: the flood
   * went on far beyond the limit, close with 1008.
   */
  takeToken(now: number, perSecond: number, burst: number, maxDropped: number, windowMs: number): 'ok' | 'drop' | 'close' {
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(burst, this.#tokens + (elapsed * perSecond) / 1000);
      this.#refilledAt = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 'ok';
    }
    if (now - this.#dropWindowStart > windowMs) {
      this.#dropWindowStart = now;
      this.#dropped = 0;
    }
    this.#dropped++;
    return this.#dropped > maxDropped ? 'close' : 'drop';
  }
}
