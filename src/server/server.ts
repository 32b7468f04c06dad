/**
 * The presence server: upgrade handling (path, origin, authentication), connection life
 * (assign-id, heartbeats, rate limits, bad-frame handling), dispatch to the command
 * handlers, and fan-out of store events to local subscribers.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CloseCode,
  Command,
  ErrorCode,
  errorPayload,
  isPlainObject,
  type Frame,
  type Metadata,
  type MetadataUpdate,
  type PresenceState,
  type PresenceUpdate,
} from '../protocol.js';
import { Connection } from './connection.js';
import { HeartbeatScheduler } from './heartbeat.js';
import {
  createCommandTable,
  EncodedPayload,
  failureReply,
  Refusal,
  ReplyThen,
  type CommandSpec,
  type ServerCore,
} from './handlers.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore, StoreUnavailableError } from './redis-store.js';
import { SnapshotEncoder } from './snapshot-encoder.js';
import {
  DEFAULT_LIMITS,
  validateNumericOptions,
  type ConnectionInfo,
  type Logger,
  type PresenceLimits,
  type PresenceServerOptions,
  type TrackPresenceOptions,
} from './options.js';
import type { PresenceStore, RoomSnapshot, StoreEvent } from './store.js';

export interface JoinEvent {
  roomName: string;
  connectionId: string;
  metadata: Metadata | null;
}

export interface LeaveEvent {
  roomName: string;
  connectionId: string;
}

export interface RoomPresence {
  present: string[];
  states: Record<string, PresenceState>;
  metadata: Record<string, Metadata | null>;
}

/** Counters for tests and monitoring. */
export interface PresenceServerStats {
  /** Store events received. */
  readonly events: number;
  /** Event frames serialised (at most one per event, none for an event nobody here subscribes to). */
  readonly serializations: number;
  /** Event frames written to sockets. */
  readonly framesSent: number;
}

export interface PresenceServer {
  /**
   * Starts an HTTP server of its own (with the health endpoint) and accepts upgrades at
   * `path`. Resolves with the `ws://` URL, path included. Port default `options.port` or 0,
   * host default `options.host` or `'127.0.0.1'`.
   */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Accepts upgrades for `path` (default `options.path` or `'/'`) on an existing HTTP
   * server; upgrades for other paths are left to other listeners. The health endpoint is
   * not mounted: call `handleHealthRequest` from your request handler.
   */
  attach(httpServer: HttpServer, path?: string): void;
  /** The `ws://` URL once listening (or attached to a listening server), else undefined. */
  readonly url: string | undefined;
  /**
   * Tracks presence for rooms matching `pattern` (a string matches exactly). Without any
   * call every room is tracked; after the first one, only matching rooms are (the first
   * matching pattern's options apply).
   */
  trackPresence(pattern: string | RegExp, options?: TrackPresenceOptions): void;
  /** The room's presence now. */
  getPresence(roomName: string): Promise<RoomPresence>;
  /** Sets a room's metadata (`null` removes it); clients read it with `mesh/get-room-metadata`. */
  setRoomMetadata(roomName: string, metadata: Metadata | null): Promise<void>;
  /** Called for every join this instance learns of (from the store). Returns an unsubscribe function. */
  onJoin(callback: (event: JoinEvent) => void): () => void;
  /** Called for every leave this instance learns of. Returns an unsubscribe function. */
  onLeave(callback: (event: LeaveEvent) => void): () => void;
  /**
   * Answers `GET`/`HEAD` on the health path with 200 `{status:'ok', connections, rooms}`.
   * Returns false (and does nothing) for any other request.
   */
  handleHealthRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Graceful shutdown: refuses new upgrades, closes every socket with `code` (default 1012,
   * service restart, so clients reconnect at once), waits for them (cutting those that do
   * not answer within `closeTimeout`), removes their presence, clears every timer, closes
   * its own HTTP server and its own store. Calling it again returns the same promise.
   */
  close(options?: { code?: number }): Promise<void>;
  /** Open connections on this instance. */
  readonly connectionCount: number;
  /** Random id of this server instance; connections are registered in the store under it. */
  readonly instanceId: string;
  readonly stats: PresenceServerStats;
}

interface Tracker {
  pattern: string | RegExp;
  options: TrackPresenceOptions;
}

const PING_FRAME = Buffer.from(JSON.stringify({ command: Command.ping, payload: {} }));
/** Commands a client sends without expecting a reply. */
const NON_REQUESTS: ReadonlySet<string> = new Set([Command.pong, Command.latencyResponse]);

const silentNoop = (): void => {};

function newConnectionId(): string {
  // 96 random bits, url-safe, 16 characters.
  return randomBytes(12).toString('base64url');
}

function notFoundMessage(command: unknown): string {
  return typeof command === 'string' ? `unknown command "${command.slice(0, 64)}"` : 'the frame has no command';
}

function encode(frame: Frame): Buffer {
  return Buffer.from(JSON.stringify(frame));
}

function formatUrl(address: AddressInfo | string | null, path: string, fallbackHost: string): string | undefined {
  if (!address || typeof address === 'string') return undefined;
  let host = address.address;
  if (host === '0.0.0.0' || host === '::') host = fallbackHost === '0.0.0.0' || fallbackHost === '::' ? '127.0.0.1' : fallbackHost;
  if (host.includes(':')) host = `[${host}]`;
  return `ws://${host}:${address.port}${path}`;
}

/**
 * Subscribers of one room on this instance. The value is the sequence number of the
 * snapshot the subscriber received (later events only are sent), or, while its snapshot
 * is being taken, the buffer of events that arrived meanwhile.
 */
type RoomSubscribers = Map<Connection, number | StoreEvent[]>;

/**
 * What the subscribers of one room on this instance were told: members and their states.
 * Kept only with a store that can miss events (Redis), to send the differences after a
 * resync. `pending` buffers events until the first snapshot arrives.
 */
interface RoomView {
  seq: number;
  members: Map<string, PresenceState | null>;
  pending: StoreEvent[] | null;
}

const STORE_UNAVAILABLE = 'the presence store is unavailable; try again shortly';

class PresenceServerImpl implements PresenceServer, ServerCore {
  readonly instanceId = randomBytes(9).toString('base64url');
  readonly store: PresenceStore;
  readonly limits: PresenceLimits;
  readonly #options: PresenceServerOptions;
  readonly #ownsStore: boolean;
  readonly #logger: Logger;
  readonly #pingInterval: number;
  readonly #maxMissedPongs: number;
  readonly #closeTimeout: number;
  readonly #path: string;
  readonly #wss: WebSocketServer;
  readonly #commands: Map<string, CommandSpec> = createCommandTable();
  readonly #connections = new Map<string, Connection>();
  readonly #subscribers = new Map<string, RoomSubscribers>();
  readonly #trackers: Tracker[] = [];
  readonly #joinHooks = new Set<(e: JoinEvent) => void>();
  readonly #leaveHooks = new Set<(e: LeaveEvent) => void>();
  readonly #cleanups = new Set<Promise<void>>();
  readonly #attached: Array<{ server: HttpServer; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }> = [];
  readonly #unsubscribeStore: () => void;
  readonly #snapshotEncoder = new SnapshotEncoder();
  /** Present only when the store can miss events (see `RoomView`). */
  readonly #views: Map<string, RoomView> | undefined;
  readonly #unsubscribeResync: (() => void) | undefined;
  readonly #unsubscribeMetadata: (() => void) | undefined;
  /**
   * Frames of events that wait in subscribers' buffers, so that each event is serialised
   * once however many subscribers it reaches live or after their snapshot.
   */
  readonly #bufferedFrames = new WeakMap<StoreEvent, Buffer>();
  #httpServer: HttpServer | undefined;
  #urlServer: { server: HttpServer; path: string; host: string } | undefined;
  readonly #heartbeat: HeartbeatScheduler<Connection>;
  #closing: Promise<void> | undefined;
  #originWarningDone = false;
  #anyTtl = false;
  #stats = { events: 0, serializations: 0, framesSent: 0 };

  constructor(options: PresenceServerOptions = {}) {
    this.#options = options;
    this.#logger = options.logger ?? console;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#pingInterval = options.pingInterval ?? 5_000;
    this.#maxMissedPongs = options.maxMissedPongs ?? 2;
    this.#closeTimeout = options.closeTimeout ?? 1_000;
    this.#path = options.path ?? '/';
    validateNumericOptions({
      pingInterval: this.#pingInterval,
      maxMissedPongs: this.#maxMissedPongs,
      closeTimeout: this.#closeTimeout,
      ...this.limits,
    });
    if (options.store && options.redis) {
      throw new TypeError('mesh-presence: pass either store or redis, not both');
    }
    this.#ownsStore = !options.store;
    this.store =
      options.store ??
      (options.redis
        ? new RedisStore({
            logger: this.#logger,
            ...(typeof options.redis === 'string' ? { url: options.redis } : options.redis),
          })
        : new MemoryStore());
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#heartbeat = new HeartbeatScheduler<Connection>(this.#pingInterval, (conn) => this.#heartbeatVisit(conn));
    this.#unsubscribeStore = this.store.subscribe((event) => this.#onStoreEvent(event));
    if (this.store.onResync) {
      this.#views = new Map();
      this.#unsubscribeResync = this.store.onResync(() => void this.#resyncViews());
    }
    this.#unsubscribeMetadata = this.store.onMetadataUpdate?.((id, metadata, rooms) =>
      this.#pushMetadataUpdateFor(id, metadata, rooms),
    );
    if (options.server) this.attach(options.server, this.#path);
  }

  // ---- public API ------------------------------------------------------------------

  get url(): string | undefined {
    const u = this.#urlServer;
    return u ? formatUrl(u.server.address(), u.path, u.host) : undefined;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get stats(): PresenceServerStats {
    return { ...this.#stats };
  }

  async listen(port = this.#options.port ?? 0, host = this.#options.host ?? '127.0.0.1'): Promise<string> {
    if (this.#closing) throw new Error('mesh-presence: the server is closed');
    if (this.#httpServer) throw new Error('mesh-presence: listen() was already called');
    const server = createServer((req, res) => {
      if (this.handleHealthRequest(req, res)) return;
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      res.writeHead(pathname === this.#path ? 426 : 404, { 'content-type': 'text/plain' });
      res.end(pathname === this.#path ? 'Upgrade to WebSocket required\n' : 'Not found\n');
    });
    if (this.store.ready) {
      try {
        await this.store.ready();
      } catch (err) {
        throw new Error(`mesh-presence: the presence store is unreachable: ${(err as Error).message}`, { cause: err });
      }
    }
    this.#httpServer = server;
    this.attach(server, this.#path);
    this.#urlServer = { server, path: this.#path, host };
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.url!;
  }

  attach(httpServer: HttpServer, path = this.#path): void {
    if (this.#closing) throw new Error('mesh-presence: the server is closed');
    const own = httpServer === this.#httpServer;
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      void this.#onUpgrade(req, socket, head, path, own);
    };
    httpServer.on('upgrade', listener);
    this.#attached.push({ server: httpServer, listener });
    this.#urlServer ??= { server: httpServer, path, host: '127.0.0.1' };
    this.#start();
  }

  trackPresence(pattern: string | RegExp, options: TrackPresenceOptions = {}): void {
    if (typeof pattern !== 'string' && !(pattern instanceof RegExp)) {
      throw new TypeError('mesh-presence: trackPresence pattern must be a string or a RegExp');
    }
    if (options.ttl !== undefined && (!Number.isFinite(options.ttl) || options.ttl < 0)) {
      throw new TypeError('mesh-presence: trackPresence ttl must be a finite number >= 0');
    }
    this.#trackers.push({ pattern, options });
    if (options.ttl) this.#anyTtl = true;
  }

  async getPresence(roomName: string): Promise<RoomPresence> {
    const { present, states, metadata } = await this.store.snapshot(roomName);
    return { present, states, metadata };
  }

  async setRoomMetadata(roomName: string, metadata: Metadata | null): Promise<void> {
    if (metadata !== null && !isPlainObject(metadata)) {
      throw new TypeError('mesh-presence: room metadata must be a plain object or null');
    }
    await this.store.setRoomMetadata(roomName, metadata);
  }

  onJoin(callback: (event: JoinEvent) => void): () => void {
    this.#joinHooks.add(callback);
    return () => this.#joinHooks.delete(callback);
  }

  onLeave(callback: (event: LeaveEvent) => void): () => void {
    this.#leaveHooks.add(callback);
    return () => this.#leaveHooks.delete(callback);
  }

  handleHealthRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const healthPath = this.#options.healthPath ?? '/health';
    if (healthPath === false || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== healthPath) return false;
    this.store.roomCount().then(
      (rooms) => {
        const body = JSON.stringify({ status: 'ok', connections: this.#connections.size, rooms });
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        // an unreachable store is said once by the store, not once per probe
        if (!(err instanceof StoreUnavailableError)) this.#logger.error('mesh-presence: health check failed:', err);
        res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        const error = err instanceof StoreUnavailableError ? STORE_UNAVAILABLE : 'health check failed';
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ status: 'error', error, connections: this.#connections.size }));
      },
    );
    return true;
  }

  close(options: { code?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.code ?? CloseCode.serviceRestart);
    return this.#closing;
  }

  // ---- ServerCore (used by the handlers) -------------------------------------------

  async checkAccess(conn: Connection, roomName: string): Promise<TrackPresenceOptions> {
    const tracking = this.#tracking(roomName);
    if (!tracking) throw new Refusal(ErrorCode.forbidden, `presence is not tracked for room "${roomName}"`);
    if (tracking.guard && !(await tracking.guard(conn, roomName))) {
      throw new Refusal(ErrorCode.forbidden, `not allowed in room "${roomName}"`);
    }
    return tracking;
  }

  async subscribe(conn: Connection, roomName: string): Promise<{ snapshot: RoomSnapshot; flush: () => void }> {
    let subs = this.#subscribers.get(roomName);
    if (!subs) {
      subs = new Map();
      this.#subscribers.set(roomName, subs);
    }
    const existing = subs.get(conn);
    if (typeof existing === 'number') {
      // Already subscribed: a fresh snapshot, and the live stream goes on unchanged.
      return { snapshot: await this.store.snapshot(roomName), flush: silentNoop };
    }
    const buffer: StoreEvent[] = Array.isArray(existing) ? existing : [];
    subs.set(conn, buffer);
    (conn.subscriptions ??= new Set()).add(roomName);
    if (this.#views && !this.#views.has(roomName)) {
      this.#views.set(roomName, { seq: -1, members: new Map(), pending: [] });
    }
    let snapshot: RoomSnapshot;
    try {
      snapshot = await this.store.snapshot(roomName);
    } catch (err) {
      this.unsubscribe(conn, roomName);
      throw err;
    }
    const view = this.#views?.get(roomName);
    if (view?.pending) this.#initView(view, snapshot);
    // Events keep buffering until the reply is written, so that none arrives before it.
    const flush = (): void => {
      const current = this.#subscribers.get(roomName);
      // Unsubscribed or closed meanwhile: nothing to send.
      if (current?.get(conn) !== buffer) return;
      current.set(conn, snapshot.seq);
      for (const event of buffer) if (event.seq > snapshot.seq) this.#sendEvent(conn, event);
    };
    return { snapshot, flush };
  }

  unsubscribe(conn: Connection, roomName: string): boolean {
    const subs = this.#subscribers.get(roomName);
    const had = subs?.delete(conn) ?? false;
    if (subs && subs.size === 0) {
      this.#subscribers.delete(roomName);
      this.#views?.delete(roomName);
    }
    conn.subscriptions?.delete(roomName);
    return had;
  }

  snapshotPayload(roomName: string, snapshot: RoomSnapshot, withStates: boolean): EncodedPayload {
    return new EncodedPayload(this.#snapshotEncoder.encode(roomName, snapshot, withStates));
  }

  /**
   * The `mesh/metadata-update` extension push: serialised once, written once to each local
   * connection joined to or subscribed to a room the owner is in (those that may read it,
   * as get-connection-metadata decides). The owner is left out: its own reply says the
   * change was made, and it knows what it set. Reaches connections on this instance only.
   */
  pushMetadataUpdate(owner: Connection): void {
    // A shared store tells every instance, this one included, through onMetadataUpdate.
    if (this.#unsubscribeMetadata || !owner.rooms?.size) return;
    this.#pushMetadataUpdateFor(owner.id, owner.metadata, [...owner.rooms]);
  }

  /** The push itself, on this instance, to its readers of `rooms` (the owner excluded). */
  #pushMetadataUpdateFor(ownerId: string, metadata: Metadata | null, rooms: string[]): void {
    const recipients = new Set<Connection>();
    for (const roomName of rooms) {
      const subs = this.#subscribers.get(roomName);
      if (subs) for (const conn of subs.keys()) recipients.add(conn);
    }
    for (const conn of this.#connections.values()) {
      if (conn.rooms && rooms.some((roomName) => conn.rooms!.has(roomName))) recipients.add(conn);
    }
    const owner = this.#connections.get(ownerId);
    if (owner) recipients.delete(owner);
    if (recipients.size === 0) return;
    const payload: MetadataUpdate = { connectionId: ownerId, metadata };
    const frame = encode({ command: Command.metadataUpdate, payload });
    for (const conn of recipients) conn.send(frame);
  }

  async canSee(conn: Connection, targetId: string): Promise<boolean> {
    if (!conn.rooms?.size && !conn.subscriptions?.size) return false;
    for (const roomName of await this.store.roomsOf(targetId)) {
      if (conn.rooms?.has(roomName) || conn.subscriptions?.has(roomName)) return true;
    }
    return false;
  }

  // ---- internals -------------------------------------------------------------------

  #tracking(roomName: string): TrackPresenceOptions | null {
    if (this.#trackers.length === 0) return {};
    for (const { pattern, options } of this.#trackers) {
      if (typeof pattern === 'string') {
        if (pattern === roomName) return options;
        continue;
      }
      pattern.lastIndex = 0; // a /g or /y pattern would otherwise remember its last match
      if (pattern.test(roomName)) return options;
    }
    return null;
  }

  #start(): void {
    if (!this.#originWarningDone) {
      this.#originWarningDone = true;
      if (!this.#options.allowedOrigins) {
        this.#logger.warn(
          'mesh-presence: no allowedOrigins given, so WebSocket connections from every origin are accepted',
        );
      }
    }
    this.#heartbeat.start();
  }

  /**
   * Once per `pingInterval` for each connection (connections are spread over the interval,
   * see heartbeat.ts): close it if it stayed silent too long, else ping it.
   *
   * Both pings go out on every visit. The Mesh `ping` frame is what Mesh clients watch
   * (the stock client reconnects after two 30 s windows without one; ours after 65 s of
   * silence), and its `pong` answer is what renews a presence `ttl`, as in Mesh. The
   * control ping is answered by a browser's network stack even when the page's timers are
   * throttled. Both cost a few bytes per connection and interval; what hurt fan-out
   * latency was sending them to every connection at once, not sending both.
   */
  #heartbeatVisit(conn: Connection): void {
    if (conn.missed >= this.#maxMissedPongs) {
      this.#logger.info(`mesh-presence: connection ${conn.id} missed ${conn.missed} pings, closing it`);
      conn.ws.terminate();
      return;
    }
    conn.missed++;
    conn.send(PING_FRAME);
    try {
      conn.ws.ping();
    } catch {
      // the socket is closing; its close event cleans up
    }
  }

  #reject(socket: Duplex, status: number, text: string): void {
    if (socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, path: string, own: boolean): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      if (own) this.#reject(socket, 400, 'Bad Request');
      return;
    }
    if (url.pathname !== path) {
      // On a user's server another listener may own this path; ours has no other.
      if (own) this.#reject(socket, 404, 'Not Found');
      return;
    }
    socket.on('error', silentNoop);
    if (this.#closing) return this.#reject(socket, 503, 'Service Unavailable');
    const origin = req.headers.origin;
    const allowed = this.#options.allowedOrigins;
    if (allowed && origin !== undefined && !allowed.includes(origin)) {
      return this.#reject(socket, 403, 'Forbidden');
    }
    let metadata: Metadata | null = null;
    if (this.#options.authenticate) {
      try {
        const result = await this.#options.authenticate(req, { token: url.searchParams.get('token'), url });
        if (result === null || result === undefined) return this.#reject(socket, 401, 'Unauthorized');
        if (!isPlainObject(result)) throw new TypeError('authenticate must return a plain object or null');
        metadata = result;
      } catch (err) {
        this.#logger.error('mesh-presence: authenticate threw; refusing the connection:', err);
        return this.#reject(socket, 401, 'Unauthorized');
      }
      if (this.#closing) return this.#reject(socket, 503, 'Service Unavailable');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', silentNoop);
      this.#onConnection(ws, req, metadata);
    });
  }

  #onConnection(ws: WebSocket, req: IncomingMessage, metadata: Metadata | null): void {
    const conn = new Connection(
      newConnectionId(),
      ws,
      metadata,
      req.socket.remoteAddress,
      this.limits.burst,
      this.limits.maxBufferedBytes,
      (c) => this.#onOverflow(c),
    );
    ws.on('error', (err) => {
      // e.g. a frame above maxPayload (ws closes with 1009) or invalid UTF-8 (1007)
      this.#logger.info(`mesh-presence: connection ${conn.id}: ${err.message}`);
    });
    ws.on('close', () => this.#onClose(conn));
    ws.on('pong', () => {
      conn.missed = 0;
    });
    ws.on('message', (data, isBinary) => this.#onMessage(conn, data as Buffer, isBinary));
    this.#connections.set(conn.id, conn);
    this.#heartbeat.add(conn);
    this.store.addConnection(conn.id, metadata, this.instanceId).then(
      () => {
        if (conn.closed) return;
        conn.send(encode({ command: Command.assignId, payload: conn.id }));
      },
      (err: unknown) => {
        if (!(err instanceof StoreUnavailableError)) {
          this.#logger.error('mesh-presence: could not register a connection:', err);
        }
        ws.close(CloseCode.tryAgainLater, 'store unavailable');
      },
    );
  }

  #onClose(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#connections.delete(conn.id);
    this.#heartbeat.delete(conn);
    if (conn.subscriptions) {
      for (const roomName of conn.subscriptions) this.unsubscribe(conn, roomName);
      conn.subscriptions = null;
    }
    const cleanup = this.store
      .removeConnection(conn.id)
      .then(silentNoop, (err: unknown) => this.#logger.error(`mesh-presence: cleanup of ${conn.id} failed:`, err))
      .finally(() => this.#cleanups.delete(cleanup));
    this.#cleanups.add(cleanup);
  }

  /**
   * The client does not read what we send (its send buffer passed `maxBufferedBytes`):
   * close with 1013 (try again later; a client that reconnects gets a fresh snapshot). The
   * close frame waits behind the unread data, so the socket is cut after `closeTimeout`;
   * its close event then removes its presence.
   */
  #onOverflow(conn: Connection): void {
    this.#logger.warn(
      `mesh-presence: connection ${conn.id} does not read its frames (more than ${this.limits.maxBufferedBytes} bytes waiting), closing it`,
    );
    conn.ws.close(CloseCode.tryAgainLater, 'send buffer full');
    setTimeout(() => conn.ws.terminate(), this.#closeTimeout).unref();
  }

  #pushError(conn: Connection, code: string, message: string): void {
    conn.send(encode({ command: Command.error, payload: errorPayload(code, message) }));
  }

  #reply(conn: Connection, id: number, command: string, payload: unknown): void {
    if (payload instanceof EncodedPayload) {
      // The same bytes as encode({id, command, payload}), without serialising the payload again.
      conn.send(Buffer.from(`{"id":${JSON.stringify(id)},"command":${JSON.stringify(command)},"payload":${payload.json}}`));
    } else {
      conn.send(encode({ id, command, payload }));
    }
  }

  #onMessage(conn: Connection, data: Buffer, isBinary: boolean): void {
    conn.missed = 0;
    const l = this.limits;
    const verdict = conn.takeToken(Date.now(), l.messagesPerSecond, l.burst, l.maxDroppedMessages, l.floodWindowMs);
    if (verdict === 'close') {
      if (conn.ws.readyState === WebSocket.OPEN) {
        this.#logger.warn(`mesh-presence: connection ${conn.id} kept flooding past the rate limit, closing it`);
        conn.ws.close(CloseCode.policyViolation, 'message rate limit exceeded');
        // a flooder may not bother with the close handshake
        setTimeout(() => conn.ws.terminate(), this.#closeTimeout).unref();
      }
      return;
    }
    if (isBinary) {
      return this.#pushError(conn, ErrorCode.binary, 'binary frames are not accepted; send UTF-8 JSON text frames');
    }
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return this.#pushError(conn, ErrorCode.badJson, 'the frame is not valid JSON');
    }
    if (!isPlainObject(frame)) {
      return this.#pushError(conn, ErrorCode.badFrame, 'a frame must be a JSON object {id?, command, payload}');
    }
    const { id, command, payload } = frame;
    if (typeof command === 'string' && NON_REQUESTS.has(command)) {
      if (verdict === 'ok' && command === Command.pong && this.#anyTtl) this.#refreshTtl(conn);
      return;
    }
    const spec = typeof command === 'string' ? this.#commands.get(command) : undefined;
    const usableId = typeof id === 'number' && Number.isFinite(id);
    if (!usableId && id === undefined && !spec) {
      return this.#pushError(conn, ErrorCode.notFound, notFoundMessage(command));
    }
    if (!usableId) {
      const what = typeof command === 'string' ? ` (command "${command.slice(0, 64)}")` : '';
      return this.#pushError(
        conn,
        ErrorCode.badFrame,
        id === undefined ? `a request needs a numeric id${what}` : `the request id must be a finite number${what}`,
      );
    }
    const commandName = typeof command === 'string' ? command : '';
    if (verdict === 'drop') {
      return this.#reply(
        conn,
        id,
        commandName,
        errorPayload(ErrorCode.rateLimited, `more than ${l.messagesPerSecond} messages per second; this one was dropped`),
      );
    }
    if (!spec) return this.#reply(conn, id, commandName, errorPayload(ErrorCode.notFound, notFoundMessage(command)));
    // A connection's commands run one after another in arrival order: handlers await the
    // guard and the store, so `join` + `leave` sent back to back would otherwise race (and
    // leave a ghost member). Nothing pending: run at once, no promise chain to pay for.
    const tail = conn.queue;
    const run: Promise<void> = tail
      ? tail.then(() => this.#run(conn, id, commandName, spec, payload))
      : this.#run(conn, id, commandName, spec, payload);
    conn.queue = run;
    void run.then(() => {
      if (conn.queue === run) conn.queue = null;
    });
  }

  async #run(conn: Connection, id: number, command: string, spec: CommandSpec, payload: unknown): Promise<void> {
    let result: unknown;
    try {
      result = await spec.run(conn, payload, this);
    } catch (err) {
      if (err instanceof Refusal) {
        result = failureReply(spec.kind, err.code, err.message);
      } else if (err instanceof StoreUnavailableError) {
        // said once by the store; one line per failed command would flood the log
        result = failureReply(spec.kind, ErrorCode.server, STORE_UNAVAILABLE);
      } else {
        this.#logger.error(`mesh-presence: command ${command} failed:`, err);
        result = failureReply(spec.kind, ErrorCode.server, 'internal server error');
      }
    }
    // Never rejects: the connection's next command waits on this promise.
    try {
      if (result instanceof ReplyThen) {
        this.#reply(conn, id, command, result.payload);
        result.after();
      } else {
        this.#reply(conn, id, command, result);
      }
    } catch (err) {
      this.#logger.error(`mesh-presence: the reply to ${command} failed:`, err);
    }
  }

  #refreshTtl(conn: Connection): void {
    if (!conn.rooms) return;
    for (const roomName of conn.rooms) {
      if (this.#tracking(roomName)?.ttl) {
        this.store.refresh(roomName, conn.id).catch((err: unknown) => {
          if (err instanceof StoreUnavailableError) return;
          this.#logger.error('mesh-presence: presence refresh failed:', err);
        });
      }
    }
  }

  #onStoreEvent(event: StoreEvent): void {
    this.#stats.events++;
    const local = this.#connections.get(event.connectionId);
    // Keep the connection's mirror of its rooms true after a ttl expiry. Other changes come
    // from its own commands (an event may arrive after the reply to a later command), and a
    // `swept` leave of a live connection is repaired by the store.
    if (local && event.type === 'leave' && event.reason === 'expired') local.rooms?.delete(event.roomName);
    if (event.type === 'join') {
      for (const hook of this.#joinHooks) {
        this.#safely(() => hook({ roomName: event.roomName, connectionId: event.connectionId, metadata: event.metadata }));
      }
    } else if (event.type === 'leave') {
      for (const hook of this.#leaveHooks) {
        this.#safely(() => hook({ roomName: event.roomName, connectionId: event.connectionId }));
      }
    }
    const subs = this.#subscribers.get(event.roomName);
    if (!subs) return;
    const view = this.#views?.get(event.roomName);
    // After Redis lost its data, instances register their live members again, each with a
    // `join`: subscribers that already have the member must not hear it join twice (a stock
    // Mesh client would list it twice).
    let known = false;
    if (view) {
      if (view.pending) view.pending.push(event);
      else if (event.seq > view.seq) {
        known = event.type === 'join' && view.members.has(event.connectionId);
        applyToView(view, event);
      }
    }
    let frame: Buffer | undefined;
    let buffered = false;
    for (const [conn, since] of subs) {
      if (typeof since !== 'number') {
        since.push(event);
        buffered = true;
      } else if (known) {
        subs.set(conn, Math.max(since, event.seq));
      } else if (event.seq > since) {
        frame ??= this.#encodeEvent(event);
        conn.send(frame);
        this.#stats.framesSent++;
      }
    }
    if (buffered && frame) this.#bufferedFrames.set(event, frame);
  }

  /** Sends an event that waited in a subscriber's buffer: encoded once for all of them. */
  #sendEvent(conn: Connection, event: StoreEvent): void {
    let frame = this.#bufferedFrames.get(event);
    if (!frame) {
      frame = this.#encodeEvent(event);
      this.#bufferedFrames.set(event, frame);
    }
    conn.send(frame);
    this.#stats.framesSent++;
  }

  /** The one place an event becomes a frame. */
  #encodeEvent(event: StoreEvent): Buffer {
    this.#stats.serializations++;
    const payload: PresenceUpdate = {
      type: event.type,
      connectionId: event.connectionId,
      roomName: event.roomName,
      timestamp: event.timestamp,
    };
    if (event.type === 'state') payload.state = event.state;
    else if (event.type === 'join') payload.metadata = event.metadata;
    return encode({ command: Command.presenceUpdate, payload });
  }

  #initView(view: RoomView, snapshot: RoomSnapshot): void {
    for (const id of snapshot.present) view.members.set(id, snapshot.states[id] ?? null);
    view.seq = snapshot.seq;
    const pending = view.pending ?? [];
    view.pending = null;
    for (const event of pending) if (event.seq > view.seq) applyToView(view, event);
  }

  /**
   * The store may have missed events (Redis came back, or its event channel reconnected):
   * each room with subscribers here gets a fresh snapshot, and its subscribers get the
   * differences from what they were told as ordinary events — `leave` for members that
   * are gone, `join` (and `state`) for those that are new, `state` where it changed.
   */
  async #resyncViews(): Promise<void> {
    if (!this.#views || this.#closing) return;
    for (const [roomName, view] of [...this.#views]) {
      if (view.pending) continue;
      // What subscribers were told so far; events keep flowing to them (and into `pending`)
      // while the snapshot is taken, since a later event may arrive before its reply.
      const told: RoomView = { seq: view.seq, members: new Map(view.members), pending: null };
      view.pending = [];
      let snapshot: RoomSnapshot;
      try {
        snapshot = await this.store.snapshot(roomName);
      } catch {
        // the next resync will come; meanwhile the view goes on from what was told
        if (this.#views.get(roomName) === view) {
          const pending = view.pending ?? [];
          view.members = told.members;
          view.seq = told.seq;
          view.pending = null;
          for (const event of pending) if (event.seq > view.seq) applyToView(view, event);
        }
        continue;
      }
      if (this.#views.get(roomName) !== view) continue;
      for (const event of view.pending ?? []) if (event.seq > told.seq) applyToView(told, event);
      // The truth: the snapshot plus the events newer than it.
      view.members = new Map();
      this.#initView(view, snapshot);
      const timestamp = Date.now();
      const seq = view.seq;
      const events: StoreEvent[] = [];
      for (const id of told.members.keys()) {
        if (!view.members.has(id)) events.push({ type: 'leave', roomName, connectionId: id, timestamp, seq });
      }
      for (const [id, state] of view.members) {
        if (!told.members.has(id)) {
          const metadata = snapshot.metadata[id] ?? null;
          events.push({ type: 'join', roomName, connectionId: id, metadata, timestamp, seq });
          if (state) events.push({ type: 'state', roomName, connectionId: id, state, timestamp, seq });
        } else if (JSON.stringify(told.members.get(id)) !== JSON.stringify(state)) {
          events.push({ type: 'state', roomName, connectionId: id, state, timestamp, seq });
        }
      }
      const subs = this.#subscribers.get(roomName);
      if (!subs || events.length === 0) continue;
      this.#logger.info(`mesh-presence: room "${roomName}" resynchronised: ${events.length} missed change(s) sent`);
      for (const [conn, since] of subs) {
        if (typeof since !== 'number') {
          since.push(...events);
          continue;
        }
        for (const event of events) this.#sendEvent(conn, event);
        if (seq > since) subs.set(conn, seq);
      }
    }
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error('mesh-presence: a presence hook threw:', err);
    }
  }

  async #close(code: number): Promise<void> {
    this.#heartbeat.stop();
    const sockets = [...this.#connections.values()].map((conn) => conn.ws);
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const timer = setTimeout(() => ws.terminate(), this.#closeTimeout);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(code, code === CloseCode.serviceRestart ? 'server restart' : 'server closing');
          }),
      ),
    );
    await Promise.all([...this.#cleanups]);
    for (const { server, listener } of this.#attached) server.off('upgrade', listener);
    this.#attached.length = 0;
    this.#wss.close();
    if (this.#httpServer) {
      const server = this.#httpServer;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    this.#unsubscribeStore();
    this.#unsubscribeResync?.();
    this.#unsubscribeMetadata?.();
    this.#views?.clear();
    this.#snapshotEncoder.clear();
    if (this.#ownsStore) await this.store.close();
  }
}

function applyToView(view: RoomView, event: StoreEvent): void {
  view.seq = event.seq;
  if (event.type === 'join') {
    if (!view.members.has(event.connectionId)) view.members.set(event.connectionId, null);
  } else if (event.type === 'leave') {
    view.members.delete(event.connectionId);
  } else if (view.members.has(event.connectionId)) {
    view.members.set(event.connectionId, event.state);
  }
}

/** Creates a presence server. Call `listen()` or `attach()` (or pass `options.server`). */
export function createPresenceServer(options?: PresenceServerOptions): PresenceServer {
  return new PresenceServerImpl(options);
}

export type { ConnectionInfo };
