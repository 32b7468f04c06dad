/** Options, limits and the types the application sees. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Metadata } from '../protocol.js';
import type { RedisStoreOptions } from './redis-store.js';
import type { PresenceStore } from './store.js';

/** What guards and hooks learn about a connection. */
export interface ConnectionInfo {
  /** The connection id sent to the client with `mesh/assign-id`. */
  readonly id: string;
  /** The connection's current metadata (authenticated keys included), or null. */
  readonly metadata: Metadata | null;
  /** What `authenticate` returned for this connection (read-only for the client), or null. */
  readonly authenticated: Metadata | null;
  /** The upgrade request's remote address, when known. */
  readonly remoteAddress: string | undefined;
}

/** Decides whether a connection may join, subscribe to, read or publish in a room. */
export type PresenceGuard = (connection: ConnectionInfo, roomName: string) => boolean | Promise<boolean>;

export interface TrackPresenceOptions {
  /**
   * Presence time-to-live in ms: a member that sends nothing (no pong, no refresh) for this
   * long is removed with a `leave`, even if its socket looks open. Pongs renew it in every
   * room, `mesh/refresh-presence` in one room. Default 0: membership ends with the
   * connection (heartbeats already remove dead sockets).
   */
  ttl?: number;
  /** Refuse a connection for a room: join, subscribe, get-presence-state and publish answer `EFORBIDDEN`. */
  guard?: PresenceGuard;
}

/** Extra information handed to `authenticate`. */
export interface AuthenticateInfo {
  /**
   * The `token` query parameter of the upgrade URL, or null. Browsers cannot set headers on
   * a WebSocket upgrade, so the client sends its token this way.
   */
  token: string | null;
  /** The parsed upgrade URL. */
  url: URL;
}

export type Authenticate = (
  req: IncomingMessage,
  info: AuthenticateInfo,
) => Metadata | null | undefined | Promise<Metadata | null | undefined>;

export interface Logger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * Per-connection limits. Defaults follow the OWASP WebSocket Security Cheat Sheet:
 * small frames, bounded state, bounded fan-in per connection, rate-limited messages.
 */
export interface PresenceLimits {
  /** Largest accepted frame in bytes; a larger one closes the socket with 1009. Default 65 536 (64 KiB). */
  maxFrameBytes: number;
  /** Largest presence state, as serialised JSON bytes; larger → `ETOOLARGE`. Default 8 192. */
  maxStateBytes: number;
  /** Deepest nesting of a state or metadata (the object itself is depth 1); deeper → `ETOOLARGE`. Default 8. */
  maxStateDepth: number;
  /** Most keys and array items in one state or metadata; more → `ETOOLARGE`. Default 1 024. */
  maxStateNodes: number;
  /** Largest connection metadata, as serialised JSON bytes; larger → `ETOOLARGE`. Default 8 192. */
  maxMetadataBytes: number;
  /** Most rooms one connection may join, and separately subscribe to; beyond → `ELIMIT`. Default 100. */
  maxRoomsPerConnection: number;
  /** Longest room name in characters; longer → `EINVALID`. Default 256. */
  maxRoomNameLength: number;
  /** Sustained messages per second per connection (token bucket refill). Default 30. */
  messagesPerSecond: number;
  /**
   * Bucket size: how many messages may arrive at once. Default 150: a reconnecting client
   * restores each room with join, subscribe and publish (3 messages), so a typical restore
   * of ~40 rooms plus its metadata replay fits in the bucket alone, and the refill
   * (`messagesPerSecond`) covers the rest of a larger one, which the client paces. Higher
   * would mostly let a flood run longer before `ERATELIMIT`.
   */
  burst: number;
  /**
   * Dropped (`ERATELIMIT`) messages tolerated within `floodWindowMs` before the socket is
   * closed with 1008 (policy violation). Default 200.
   */
  maxDroppedMessages: number;
  /** Window over which dropped messages are counted. Default 10 000 ms. */
  floodWindowMs: number;
  /**
   * Most bytes waiting to be written to one connection (`ws.bufferedAmount`). A client
   * that stops reading (yet may keep sending pongs) passes it: its socket is closed with
   * 1013 (try again later; cut after `closeTimeout` if the close frame cannot get through)
   * and its presence removed. Default 4 194 304 (4 MiB).
   */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: Readonly<PresenceLimits> = Object.freeze({
  maxFrameBytes: 64 * 1024,
  maxStateBytes: 8 * 1024,
  maxStateDepth: 8,
  maxStateNodes: 1024,
  maxMetadataBytes: 8 * 1024,
  maxRoomsPerConnection: 100,
  maxRoomNameLength: 256,
  messagesPerSecond: 30,
  burst: 150,
  maxDroppedMessages: 200,
  floodWindowMs: 10_000,
  maxBufferedBytes: 4 * 1024 * 1024,
});

export interface PresenceServerOptions {
  /** Port for `listen()` when it is called without one. Default 0 (any free port). */
  port?: number;
  /** Host for `listen()`. Default `'127.0.0.1'`. */
  host?: string;
  /** URL path that accepts WebSocket upgrades. Default `'/'`. */
  path?: string;
  /** Attach to this existing HTTP server at `path` right away (same as calling `attach()`). */
  server?: HttpServer;
  /** Where presence lives. Default: a new `MemoryStore` (closed by `close()`; a store you pass is not). */
  store?: PresenceStore;
  /**
   * Share presence with other instances through Redis (or Valkey): a `redis://` URL, or
   * `{ url, prefix, instanceTimeout }` (see `RedisStoreOptions`: key prefix default
   * `'mesh-presence:'`; a crashed instance's connections leave within `instanceTimeout`,
   * default 10 000 ms). The server creates a `RedisStore` and closes it with `close()`.
   * Not together with `store`.
   */
  redis?: string | RedisStoreOptions;
  /**
   * Heartbeat interval in ms: once per interval every connection gets a Mesh `ping` frame
   * and a WebSocket control ping. Connections are spread over the interval (up to 50
   * groups, at least 10 ms apart), so that they are not all pinged at the same moment.
   * Default 5 000.
   */
  pingInterval?: number;
  /**
   * Ticks in a row with nothing heard from a connection (no frame, no control pong) that it
   * may miss; at the next tick it is closed and its presence removed. Default 2: with the
   * default interval a silently dead client is gone within (2 + 1) × 5 s = 15 s, while a
   * throttled background tab (which answers on message arrival, and whose network stack
   * answers control pings) is never dropped.
   */
  maxMissedPongs?: number;
  /**
   * Authenticates the upgrade request. What it returns becomes the connection's metadata
   * and is trusted: the client cannot change or remove those keys (`EREADONLY`). `null`
   * or `undefined` (or a throw) refuses the upgrade with HTTP 401 and nothing else.
   * Default: none (every connection starts without metadata).
   */
  authenticate?: Authenticate;
  /**
   * Accepted `Origin` header values, matched exactly (e.g. `'https://app.example.com'`).
   * Others get HTTP 403 before the upgrade. A request without `Origin` (a non-browser
   * client) is accepted. Default: every origin accepted, and the server says so once.
   */
  allowedOrigins?: string[];
  /**
   * Per-connection limits; each defaults as documented in `PresenceLimits`. Each must be an
   * integer >= 1 (`maxDroppedMessages` >= 0; `messagesPerSecond` and `floodWindowMs` any
   * finite number > 0); `createPresenceServer` throws a `TypeError` naming the option
   * otherwise (as it does for `pingInterval` <= 0, `maxMissedPongs` not an integer >= 1 and
   * `closeTimeout` < 0).
   */
  limits?: Partial<PresenceLimits>;
  /**
   * Path of the health endpoint (`GET` → 200 `{status:'ok', connections, rooms}`) on the
   * server `listen()` creates. Default `'/health'`; `false` disables it. With `attach()` the
   * endpoint is not mounted on your server (it has its own request handler): call
   * `presence.handleHealthRequest(req, res)` from it.
   */
  healthPath?: string | false;
  /**
   * How long `close()` waits for clients to answer the close handshake before it cuts the
   * remaining sockets. Default 1 000 ms.
   */
  closeTimeout?: number;
  /** Where the server logs. Default `console`. */
  logger?: Logger;
}

/**
 * Rules for numeric options: `int` must be an integer, `min` the smallest value accepted.
 * Zero is refused wherever it would mean something absurd: `maxMissedPongs: 0` would close
 * every live connection at its first heartbeat, and `ws` reads `maxFrameBytes: 0` as "no
 * limit".
 */
const NUMBER_RULES: Record<string, { int: boolean; min: number; above?: boolean }> = {
  pingInterval: { int: false, min: 0, above: true },
  maxMissedPongs: { int: true, min: 1 },
  closeTimeout: { int: false, min: 0 },
  maxFrameBytes: { int: true, min: 1 },
  maxStateBytes: { int: true, min: 1 },
  maxStateDepth: { int: true, min: 1 },
  maxStateNodes: { int: true, min: 1 },
  maxMetadataBytes: { int: true, min: 1 },
  maxRoomsPerConnection: { int: true, min: 1 },
  maxRoomNameLength: { int: true, min: 1 },
  messagesPerSecond: { int: false, min: 0, above: true },
  burst: { int: true, min: 1 },
  maxDroppedMessages: { int: true, min: 0 },
  floodWindowMs: { int: false, min: 0, above: true },
  maxBufferedBytes: { int: true, min: 1 },
};

/** Throws a `TypeError` naming the first numeric option that breaks its rule. */
export function validateNumericOptions(values: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(values)) {
    const rule = NUMBER_RULES[name];
    if (!rule) continue;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!rule.int || Number.isInteger(value)) &&
      (rule.above ? value > rule.min : value >= rule.min);
    if (!ok) {
      const want = `${rule.int ? 'an integer' : 'a finite number'} ${rule.above ? '>' : '>='} ${rule.min}`;
      throw new TypeError(`mesh-presence: option ${name} must be ${want}, got ${String(value)}`);
    }
  }
}
