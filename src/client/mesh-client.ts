import {
  Command,
  ErrorCode,
  FORBIDDEN_KEYS,
  expireAfterProblem,
  isErrorPayload,
  isPlainObject,
  roomNameProblem,
  type Metadata,
  type MetadataStrategy,
  type PresenceState,
  type PresenceUpdate,
} from '../protocol.js';
import { Emitter } from './emitter.js';
import { ClientErrorCode, MeshError, type MeshErrorEvent, type ResultError } from './errors.js';
import { MetadataCache } from './metadata-cache.js';
import { Pacer } from './pacer.js';
import { PresenceSubscription, type PresenceCallback } from './presence-subscription.js';
import { normalizeSnapshot, toMetadata, type NormalizedSnapshot } from './snapshot.js';
import {
  OPEN,
  backoffDelay,
  messageText,
  resolveWebSocket,
  withToken,
  type WebSocketCtor,
  type WebSocketLike,
} from './transport.js';

export type { PresenceCallback } from './presence-subscription.js';

/** Connection status of a `MeshClient`. */
export type ClientStatus = 'connecting' | 'online' | 'reconnecting' | 'offline';

/** Reconnection backoff: `min(2^n·minDelay, maxDelay)` with jitter (50–100 % of it). */
export interface ReconnectOptions {
  /** First delay, ms. Default 100. */
  minDelay?: number;
  /** Largest delay, ms. Default 10 000. */
  maxDelay?: number;
  /** Attempts in a row before giving up with `reconnectfailed`. Default `Infinity`. */
  maxAttempts?: number;
}

export interface MeshClientOptions {
  /** Sent as the `token` query parameter of the upgrade request. */
  token?: string;
  /** Called before every (re)connection; its result is sent as `token`. Wins over `token`. */
  getToken?: () => string | Promise<string>;
  /** WebSocket constructor. Default: the global `WebSocket`, else the one set with `setDefaultWebSocket` (`ws` in Node). */
  WebSocket?: WebSocketCtor;
  /** Time a request waits for its reply (including waiting for a connection), ms. Default 10 000. */
  requestTimeout?: number;
  /** Time from opening the socket to `mesh/assign-id`, ms. Default: `requestTimeout`. */
  connectTimeout?: number;
  /** Interval of `mesh/refresh-presence` for each joined room, ms; 0 turns it off. Default 15 000. */
  refreshInterval?: number;
  /** Reconnect after an unexpected close. Default `true` (with the `ReconnectOptions` defaults). */
  reconnect?: boolean | ReconnectOptions;
  /**
   * A socket on which nothing (not even a ping) arrived for this long is closed and
   * reconnected, ms; 0 turns it off. Default 65 000 (two missed pings of a Mesh
   * server's 30 s interval). Set it above the server's ping interval.
   */
  pingTimeout?: number;
  /** Connect in the constructor. Default `false`: the first call (or `connect()`) connects. */
  autoConnect?: boolean;
  /** Browser only: close the socket on `pagehide` and come back on `pageshow`. Default `true`. */
  pageLifecycle?: boolean;
}

/** Events of a `MeshClient` and their payloads. */
export interface MeshClientEvents {
  /** The first connection is up (after `mesh/assign-id`). */
  connect: undefined;
  /** A later connection is up and rooms, subscriptions and states are restored. */
  reconnect: undefined;
  /** A connection ended. */
  disconnect: { code: number; reason: string };
  /** `reconnect.maxAttempts` attempts failed in a row; the status is `offline`. */
  reconnectfailed: undefined;
  status: ClientStatus;
  /** Every failure: refused or failed requests, timeouts, `mesh/error` pushes, failed connection attempts. */
  error: MeshErrorEvent;
  /** Round-trip time the server measured (`latency` push), ms. */
  latency: number;
  /**
   * A connection's metadata changed (extension push `mesh/metadata-update`, sent by our
   * server to connections sharing a room with it). The cache is updated before this
   * fires. A plain Mesh server never sends it.
   */
  metadata: { connectionId: string; metadata: Metadata | null };
}

/** Result of `joinRoom`. */
export interface JoinRoomResult {
  success: boolean;
  /** Connection ids in the room. */
  present: string[];
  /** States at that moment, when known (always with a callback). */
  states?: Record<string, PresenceState>;
  error?: ResultError;
}

/** Result of `subscribePresence` and `getPresenceState`. */
export interface PresenceResult {
  success: boolean;
  present: string[];
  states: Record<string, PresenceState>;
  error?: ResultError;
}

export interface LeaveRoomResult {
  success: boolean;
  error?: ResultError;
}

export interface PublishOptions {
  /** The whole state; replaces the previous one. */
  state: PresenceState;
  /** The server drops the state after this many ms (at most one day). */
  expireAfter?: number;
  /** Store without notifying subscribers. */
  silent?: boolean;
}

interface Pending {
  id: number;
  command: string;
  frame: string;
  resolve: (value: unknown) => void;
  reject: (error: MeshError) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Re-send on the next connection if this one drops before the reply. */
  retry: boolean;
  /** Restore traffic bound to one connection (its generation); `null` for user requests. */
  gen: number | null;
  /** Generation of the socket it was sent on; `null` while queued. */
  sentOn: number | null;
}

interface Published {
  state: PresenceState;
  silent?: boolean;
  /** Absolute expiry time, when published with `expireAfter`. */
  expiresAt?: number;
}

interface JoinedRoom {
  /** Callbacks given to `joinRoom`; `leaveRoom` removes them. */
  joinCallbacks: Set<PresenceCallback>;
  published?: Published;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: ResultError };

/** A successful `setConnectionMetadata`, replayed on every new connection. */
interface MetadataCall {
  metadata: Metadata;
  strategy: MetadataStrategy;
}

interface RoomOp {
  /** Number of the room's last join/leave call (from a client-wide sequence, so never reused). */
  op: number;
  /** Calls and refreshes in flight that compare `op`; the entry goes when none is left. */
  holds: number;
}

/** Background requests (restore, refresh) in flight at once. */
const BACKGROUND_IN_FLIGHT = 8;
/** First pause after `ERATELIMIT`, ms (doubles while refusals go on, up to `MAX_RATE_PAUSE`). */
const FIRST_RATE_PAUSE = 250;
const MAX_RATE_PAUSE = 4000;
/** Timeouts of one background request before the connection is deemed sick and replaced. */
const BACKGROUND_TIMEOUTS = 3;
/** Remembered metadata steps that cannot be folded together; beyond, the oldest are folded approximately. */
const MAX_METADATA_LOG = 32;
/** Spread of the first reconnect after 1012, ms: a restarting server's clients do not all come back in one instant. */
const RESTART_JITTER = 250;

const METADATA_STRATEGIES: ReadonlySet<string> = new Set(['replace', 'merge', 'deepMerge']);
const NOOP = (): void => {};

/**
 * A presence client speaking the Mesh wire protocol (see `PROTOCOL.md`), against our
 * server or a plain Mesh server.
 *
 * Methods wait for the connection (connecting on first use), so none needs an
 * explicit `connect()`. Failures resolve the documented shapes (`{success: false,
 * error}` or `false`) and are emitted as `error` events; only invalid arguments and
 * use after `close()` reject, with a `MeshError` carrying `code`.
 */
export class MeshClient extends Emitter<MeshClientEvents> {
  readonly url: string;
  private readonly opts: {
    requestTimeout: number;
    connectTimeout: number;
    refreshInterval: number;
    pingTimeout: number;
    reconnect: Required<ReconnectOptions> | null;
    pageLifecycle: boolean;
  };
  private readonly token?: string;
  private readonly getToken?: () => string | Promise<string>;
  private readonly WebSocketImpl?: WebSocketCtor;

  private socket: WebSocketLike | null = null;
  /** Bumped for every socket; late events of an older one are ignored. */
  private gen = 0;
  /** True once `mesh/assign-id` arrived on the current socket. */
  private assigned = false;
  private _status: ClientStatus = 'offline';
  private _connectionId: string | undefined;
  private closed = false;
  /** Page in the back/forward cache or unloading: stay away until `pageshow`. */
  private suspended = false;
  private everOnline = false;
  private attempt = 0;
  private nextId = 1;
  private lastFrameAt = 0;
  private refreshSupported = true;

  private readonly pending = new Map<number, Pending>();
  private connectWaiters: Array<{ resolve: () => void; reject: (e: MeshError) => void }> = [];
  private readonly rooms = new Map<string, JoinedRoom>();
  /**
   * Per room with a join/leave call or refresh in flight: the number of the last call, so
   * that a late reply of a stale call is not recorded. Idle rooms are pruned.
   */
  private readonly roomOps = new Map<string, RoomOp>();
  private opSeq = 0;
  /** Rooms whose refresh is still on its way (paced or retried): the next tick skips them. */
  private readonly refreshing = new Set<string>();
  private readonly subs = new Map<string, PresenceSubscription>();
  private readonly metadata = new MetadataCache();
  /** `setConnectionMetadata` calls that succeeded, folded where exact; replayed on restore. */
  private metadataLog: MetadataCall[] = [];
  /** Paces restore and refresh traffic of the current connection. */
  private pacer = newPacer();

  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdogTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private detachPage: (() => void) | undefined;

  /**
   * @param url `ws://` or `wss://` URL of the server.
   * @param options see `MeshClientOptions` for every default.
   */
  constructor(url: string, options: MeshClientOptions = {}) {
    super();
    this.url = url;
    this.token = options.token;
    this.getToken = options.getToken;
    this.WebSocketImpl = options.WebSocket;
    const requestTimeout = positive(options.requestTimeout, 10_000);
    const reconnect = options.reconnect ?? true;
    this.opts = {
      requestTimeout,
      connectTimeout: positive(options.connectTimeout, requestTimeout),
      refreshInterval: nonNegative(options.refreshInterval, 15_000),
      pingTimeout: nonNegative(options.pingTimeout, 65_000),
      reconnect:
        reconnect === false
          ? null
          : {
              minDelay: nonNegative(reconnect === true ? undefined : reconnect.minDelay, 100),
              maxDelay: nonNegative(reconnect === true ? undefined : reconnect.maxDelay, 10_000),
              maxAttempts: positive(reconnect === true ? undefined : reconnect.maxAttempts, Infinity),
            },
      pageLifecycle: options.pageLifecycle ?? true,
    };
    if (options.autoConnect) this.connect().catch(NOOP);
  }

  // ---- state ------------------------------------------------------------------------

  /** `connecting`, `online`, `reconnecting` or `offline`. */
  get status(): ClientStatus {
    return this._status;
  }

  /** The id the server assigned to the current connection. */
  get connectionId(): string | undefined {
    return this._connectionId;
  }

  /** True after `close()`. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Rooms this client has joined (and rejoins after a reconnect). */
  get joinedRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** Rooms whose presence this client is subscribed to. */
  get subscribedRooms(): string[] {
    return [...this.subs.keys()];
  }

  /**
   * The presence of a subscribed room as the callbacks know it, kept up to date by the
   * subscription; `null` when not subscribed (or before the first snapshot).
   */
  presenceSnapshot(roomName: string): { present: string[]; states: Record<string, PresenceState> } | null {
    const sub = this.subs.get(roomName);
    return sub?.live ? sub.snapshot() : null;
  }

  /** Cached metadata of a connection without a request: `undefined` when not cached. */
  peekConnectionMetadata(connectionId: string): Metadata | null | undefined {
    return this.metadata.peek(connectionId);
  }

  // ---- connection -------------------------------------------------------------------

  /** Connects (if not yet) and resolves once the server assigned an id and the client is online. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (this._status === 'online') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.connectWaiters.push({ resolve, reject });
      this.ensureConnecting();
    });
  }

  /**
   * Closes the connection for good: clears every timer and listener, settles pending
   * requests (`ECLOSED`), and resolves once the socket closed (at most ~1 s). Later
   * calls reject with `ECLOSED`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.pacer.dispose();
    this.detachPage?.();
    this.detachPage = undefined;
    const socket = this.socket;
    const hadConnection = this.assigned;
    this.socket = null;
    this.assigned = false;
    this.gen++;
    for (const entry of [...this.pending.values()]) this.settle(entry, closedError(entry.command));
    this.rejectConnectWaiters(closedError());
    this.setStatus('offline');
    if (hadConnection) this._emit('disconnect', { code: 1000, reason: 'client closed' });
    this._removeAllListeners();
    this.rooms.clear();
    this.roomOps.clear();
    this.subs.clear();
    this.metadata.clear();
    this.metadataLog = [];
    if (socket) await closeSocket(socket);
  }

  private ensureConnecting(): void {
    // any other status means an attempt is running or scheduled
    if (this.closed || this.suspended || this._status !== 'offline') return;
    this.attempt = 0;
    this.setStatus(this.everOnline ? 'reconnecting' : 'connecting');
    void this.open();
  }

  private async open(): Promise<void> {
    const gen = ++this.gen;
    this.attachPage();
    let token = this.token;
    if (this.getToken) {
      try {
        token = await this.getToken();
      } catch (error) {
        if (gen !== this.gen || this.closed) return;
        this.emitError({ code: ClientErrorCode.token, message: `getToken() failed: ${describe(error)}` });
        this.lost(gen, 0, 'getToken() failed', false);
        return;
      }
      if (gen !== this.gen || this.closed) return;
    }
    const Ctor = resolveWebSocket(this.WebSocketImpl);
    if (!Ctor) {
      this.emitError({
        code: ClientErrorCode.connect,
        message: 'no WebSocket implementation: pass options.WebSocket, or import mesh-presence/client in Node',
      });
      this.giveUp();
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = new Ctor(withToken(this.url, token));
    } catch (error) {
      this.emitError({ code: ClientErrorCode.connect, message: `cannot open ${this.url}: ${describe(error)}` });
      this.lost(gen, 0, 'cannot open socket', false);
      return;
    }
    this.socket = socket;
    this.assigned = false;
    this.lastFrameAt = Date.now();
    socket.onopen = NOOP;
    socket.onerror = NOOP; // a close event follows every error
    socket.onmessage = (event) => this.onMessage(gen, event.data);
    socket.onclose = (event) => {
      if (gen === this.gen) this.lost(gen, event.code, event.reason, true);
    };
    this.connectTimer = setTimeout(() => {
      if (gen === this.gen && !this.assigned) this.drop(gen, 4000, `no mesh/assign-id within ${this.opts.connectTimeout} ms`);
    }, this.opts.connectTimeout);
    this.armWatchdog(gen);
  }

  /** Abandons the current socket at once (dead or unwanted) and handles it as a close. */
  private drop(gen: number, code: number, reason: string): void {
    if (gen !== this.gen || !this.socket) return;
    const socket = this.socket;
    detach(socket);
    const terminate = (socket as { terminate?: () => void }).terminate;
    try {
      // `ws` can cut a dead TCP connection at once; a browser socket can only close
      if (typeof terminate === 'function') terminate.call(socket);
      else socket.close(code >= 3000 ? code : 1000, reason);
    } catch {
      // already closing
    }
    this.lost(gen, code, reason, true);
  }

  /**
   * The socket of generation `gen` is gone (or never came up): settles or re-queues
   * pending requests, then reconnects, stays away (suspended), or gives up.
   */
  private lost(gen: number, code: number, reason: string, hadSocket: boolean): void {
    if (gen !== this.gen || this.closed) return;
    const wasAssigned = this.assigned;
    this.socket = null;
    this.assigned = false;
    this.gen++;
    this.clearTimers();
    // restore traffic of the old connection stops waiting; the next one gets a fresh pacer
    this.pacer.dispose();
    this.pacer = newPacer();
    // pushes held for a snapshot came on the old connection: none may be replayed after
    // the snapshot of a new one, including for a subscription whose first reply was lost
    for (const sub of this.subs.values()) sub.buffer = [];
    const willRetry = this.opts.reconnect !== null || this.suspended;
    for (const entry of [...this.pending.values()]) {
      if (entry.gen !== null) this.settle(entry, closedError(entry.command, 'the connection closed during restore'));
      else if (entry.sentOn !== null) {
        if (entry.retry && willRetry) entry.sentOn = null;
        else this.settle(entry, closedError(entry.command, 'the connection closed before the reply'));
      } else if (!willRetry) this.settle(entry, closedError(entry.command, 'the connection closed'));
    }
    if (wasAssigned) {
      this._emit('disconnect', { code, reason });
    } else if (hadSocket && !this.suspended) {
      this.emitError({ code: ClientErrorCode.connect, message: `could not connect to ${this.url} (close code ${code})` });
    }
    if (this.suspended) {
      this.setStatus('offline');
      return;
    }
    const policy = this.opts.reconnect;
    if (!policy) {
      this.setStatus('offline');
      this.rejectConnectWaiters(new MeshError(ClientErrorCode.connect, `connection to ${this.url} closed (${code})`));
      return;
    }
    if (this.attempt >= policy.maxAttempts) {
      this.giveUp();
      this._emit('reconnectfailed', undefined);
      return;
    }
    // a server restarting (1012) asks for an immediate first attempt, spread a little so
    // that all of its clients do not land on the next instance in the same instant
    const delay =
      code === 1012 && this.attempt === 0
        ? Math.floor(Math.random() * RESTART_JITTER)
        : backoffDelay(this.attempt, policy.minDelay, policy.maxDelay);
    this.attempt++;
    this.setStatus(this.everOnline ? 'reconnecting' : 'connecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.open();
    }, delay);
  }

  private giveUp(): void {
    this.setStatus('offline');
    for (const entry of [...this.pending.values()]) {
      this.settle(entry, closedError(entry.command, 'gave up reconnecting'));
    }
    this.rejectConnectWaiters(new MeshError(ClientErrorCode.connect, `could not connect to ${this.url}`));
  }

  private onAssigned(gen: number, payload: unknown): void {
    if (this.assigned) return;
    if (typeof payload !== 'string' || payload === '') {
      this.emitError({ code: ErrorCode.badFrame, message: 'mesh/assign-id without a connection id' });
      return;
    }
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.assigned = true;
    const previous = this._connectionId;
    if (previous !== undefined && previous !== payload && !this.isKnownMember(previous)) this.metadata.delete(previous);
    this._connectionId = payload;
    this.refreshSupported = true;
    this.restore(gen).then(
      () => this.online(gen),
      () => this.online(gen),
    );
  }

  private online(gen: number): void {
    if (gen !== this.gen || this.closed) return;
    this.attempt = 0;
    const first = !this.everOnline;
    this.everOnline = true;
    this.setStatus('online');
    this.startRefresh(gen);
    // user requests queued while offline go out after the restore, in call order
    for (const entry of this.pending.values()) {
      if (entry.sentOn === null && entry.gen === null) this.transmit(entry);
    }
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    this._emit(first ? 'connect' : 'reconnect', undefined);
  }

  private setStatus(status: ClientStatus): void {
    if (this._status === status) return;
    this._status = status;
    this._emit('status', status);
  }

  private rejectConnectWaiters(error: MeshError): void {
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  private clearTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.watchdogTimer);
    clearInterval(this.refreshTimer);
    this.reconnectTimer = this.connectTimer = this.watchdogTimer = this.refreshTimer = undefined;
  }

  /** Closes a socket that stayed silent for `pingTimeout` (a dead link the OS has not noticed). */
  private armWatchdog(gen: number): void {
    const limit = this.opts.pingTimeout;
    if (limit <= 0) return;
    const check = (): void => {
      if (gen !== this.gen) return;
      const idle = Date.now() - this.lastFrameAt;
      if (idle >= limit) this.drop(gen, 4001, `nothing received for ${idle} ms`);
      else this.watchdogTimer = setTimeout(check, limit - idle);
    };
    this.watchdogTimer = setTimeout(check, limit);
  }

  // ---- frames -----------------------------------------------------------------------

  private onMessage(gen: number, data: unknown): void {
    if (gen !== this.gen) return;
    this.lastFrameAt = Date.now();
    const text = messageText(data);
    let frame: unknown;
    try {
      frame = text === null ? undefined : JSON.parse(text);
    } catch {
      frame = undefined;
    }
    if (!isPlainObject(frame) || typeof frame.command !== 'string') {
      this.emitError({ code: ErrorCode.badFrame, message: 'the server sent a frame that is not a {command, payload} object' });
      return;
    }
    const { command, payload } = frame;
    if (typeof frame.id === 'number') {
      const entry = this.pending.get(frame.id);
      if (entry && entry.sentOn === gen) {
        if (isErrorPayload(payload)) {
          this.settle(entry, new MeshError(payload.code, payload.error, entry.command));
        } else {
          this.settle(entry, undefined, payload);
        }
      }
      return;
    }
    switch (command) {
      case Command.assignId:
        this.onAssigned(gen, payload);
        return;
      case Command.ping:
        // answered on arrival, not on a timer: a throttled background tab stays alive
        this.sendFrame(`{"command":"${Command.pong}","payload":{}}`);
        return;
      case Command.latencyRequest:
        this.sendFrame(`{"command":"${Command.latencyResponse}","payload":{}}`);
        return;
      case Command.latency:
        if (typeof payload === 'number') this._emit('latency', payload);
        return;
      case Command.presenceUpdate:
        this.onPresenceUpdate(payload);
        return;
      case Command.metadataUpdate:
        this.onMetadataUpdate(payload);
        return;
      case Command.error:
        if (isPlainObject(payload)) {
          this.emitError({
            code: typeof payload.code === 'string' ? payload.code : ErrorCode.server,
            message: typeof payload.error === 'string' ? payload.error : 'error from the server',
          });
        }
        return;
      default:
        return;
    }
  }

  private onPresenceUpdate(payload: unknown): void {
    if (
      !isPlainObject(payload) ||
      (payload.type !== 'join' && payload.type !== 'leave' && payload.type !== 'state') ||
      typeof payload.connectionId !== 'string' ||
      typeof payload.roomName !== 'string'
    ) {
      this.emitError({ code: ErrorCode.badFrame, message: 'malformed mesh/presence-update push' });
      return;
    }
    const update: PresenceUpdate = {
      type: payload.type,
      connectionId: payload.connectionId,
      roomName: payload.roomName,
      timestamp: typeof payload.timestamp === 'number' ? payload.timestamp : Date.now(),
    };
    if (update.type === 'state') update.state = isPlainObject(payload.state) ? payload.state : null;
    if (update.type === 'join' && 'metadata' in payload) {
      update.metadata = toMetadata(payload.metadata);
      this.metadata.set(update.connectionId, update.metadata);
    }
    this.subs.get(update.roomName)?.push(update);
  }

  /** Extension push: a connection's metadata changed; the cache follows, listeners are told. */
  private onMetadataUpdate(payload: unknown): void {
    if (
      !isPlainObject(payload) ||
      typeof payload.connectionId !== 'string' ||
      payload.connectionId === '' ||
      !('metadata' in payload)
    ) {
      this.emitError({ code: ErrorCode.badFrame, message: 'malformed mesh/metadata-update push' });
      return;
    }
    const connectionId = payload.connectionId;
    const metadata = toMetadata(payload.metadata);
    // only ids the client cares about: an entry for anyone else would never be dropped
    if (this.metadata.isTracked(connectionId) || connectionId === this._connectionId || this.isKnownMember(connectionId)) {
      this.metadata.set(connectionId, metadata);
    }
    this._emit('metadata', { connectionId, metadata });
  }

  private sendFrame(text: string): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    try {
      socket.send(text);
      return true;
    } catch {
      return false;
    }
  }

  private transmit(entry: Pending): void {
    entry.sentOn = this.gen;
    this.sendFrame(entry.frame);
  }

  private settle(entry: Pending, error: MeshError | undefined, value?: unknown): void {
    if (this.pending.get(entry.id) !== entry) return;
    this.pending.delete(entry.id);
    clearTimeout(entry.timer);
    if (error) entry.reject(error);
    else entry.resolve(value);
  }

  /**
   * Sends a request and resolves with the reply's payload. Rejects with a `MeshError`:
   * the server's error payload (its `code`), `ETIMEOUT`, or `ECLOSED`. A request whose
   * connection drops is sent again after the reconnect (presence commands act on the
   * current connection), within the same timeout.
   */
  request(command: string, payload: unknown = {}, options: { timeout?: number } = {}): Promise<unknown> {
    if (typeof command !== 'string' || command === '') {
      return Promise.reject(new MeshError(ErrorCode.invalid, 'command must be a non-empty string'));
    }
    return this.enqueue(command, payload, { timeout: options.timeout, retry: true, gen: null });
  }

  private enqueue(
    command: string,
    payload: unknown,
    options: { timeout?: number; retry: boolean; gen: number | null },
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(closedError(command));
    const id = this.nextId++;
    let payloadJson: string;
    try {
      payloadJson = JSON.stringify(payload ?? {});
    } catch (error) {
      return Promise.reject(new ArgumentError(ErrorCode.invalid, `payload is not JSON: ${describe(error)}`, command));
    }
    const frame = `{"id":${id},"command":${JSON.stringify(command)},"payload":${payloadJson}}`;
    const timeout = options.timeout ?? this.opts.requestTimeout;
    return new Promise((resolve, reject) => {
      const entry: Pending = {
        id,
        command,
        frame,
        resolve,
        reject,
        retry: options.retry,
        gen: options.gen,
        sentOn: null,
        timer: setTimeout(() => {
          this.settle(entry, new MeshError(ErrorCode.timeout, `no reply to ${command} within ${timeout} ms`, command));
        }, timeout),
      };
      this.pending.set(id, entry);
      if (options.gen !== null) {
        if (options.gen === this.gen && this.assigned) this.transmit(entry);
        else this.settle(entry, closedError(command, 'the connection closed during restore'));
      } else if (this._status === 'online') {
        this.transmit(entry);
      } else {
        this.ensureConnecting();
      }
    });
  }

  /** A request as an outcome, never rejecting (except for use after close). */
  private async call(command: string, payload: unknown, gen: number | null = null, timeout?: number): Promise<Outcome> {
    try {
      return { ok: true, value: await this.enqueue(command, payload, { retry: gen === null, gen, timeout }) };
    } catch (error) {
      // a payload that cannot be sent is the caller's mistake: it rejects
      if (error instanceof MeshError && !(error instanceof ArgumentError)) {
        return { ok: false, error: { code: error.code, message: error.message } };
      }
      throw error;
    }
  }

  private emitError(event: MeshErrorEvent): void {
    this._emit('error', event);
  }

  /** Emits the failure of a request and returns it as a result error. */
  private failed(command: string, roomName: string | undefined, error: ResultError): ResultError {
    const event: MeshErrorEvent = { code: error.code, message: error.message, command };
    if (roomName !== undefined) event.roomName = roomName;
    this.emitError(event);
    return error;
  }

  // ---- rooms ------------------------------------------------------------------------

  /**
   * Joins a room; with `callback` also subscribes to its presence (the callback gets
   * `join`/`leave`/`state` updates, and `leaveRoom` removes it). `present` holds
   * connection ids.
   */
  async joinRoom(roomName: string, callback?: PresenceCallback): Promise<JoinRoomResult> {
    this.assertUsable();
    assertRoom(roomName);
    if (callback !== undefined && typeof callback !== 'function') {
      throw new MeshError(ErrorCode.invalid, 'callback must be a function');
    }
    const op = this.beginRoomOp(roomName);
    let outcome: Outcome;
    let current = false;
    try {
      outcome = await this.call(Command.joinRoom, { roomName });
      // no later join/leave of this room was called meanwhile
      current = this.roomOps.get(roomName)?.op === op;
    } finally {
      this.endRoomOp(roomName);
    }
    const result = successOf(outcome, 'the server refused to join the room');
    if (!result.ok) {
      return { success: false, present: [], error: this.failed(Command.joinRoom, roomName, result.error) };
    }
    const snapshot = normalizeSnapshot(result.value);
    this.prime(snapshot);
    if (current && !this.closed) {
      let room = this.rooms.get(roomName);
      if (!room) {
        room = { joinCallbacks: new Set() };
        this.rooms.set(roomName, room);
      }
      if (callback) room.joinCallbacks.add(callback);
    }
    if (callback) {
      const sub = await this.subscribePresence(roomName, callback);
      const joined: JoinRoomResult = { success: sub.success, present: sub.success ? sub.present : snapshot.present, states: sub.states };
      if (sub.error) joined.error = sub.error;
      return joined;
    }
    const joined: JoinRoomResult = { success: true, present: snapshot.present };
    if (isPlainObject(result.value) && isPlainObject(result.value.states)) joined.states = snapshot.states;
    return joined;
  }

  /** Leaves a room (its state goes with it) and removes the callbacks given to `joinRoom`. */
  async leaveRoom(roomName: string): Promise<LeaveRoomResult> {
    this.assertUsable();
    assertRoom(roomName);
    this.beginRoomOp(roomName);
    const room = this.rooms.get(roomName);
    this.rooms.delete(roomName);
    let outcome: Outcome;
    try {
      outcome = await this.call(Command.leaveRoom, { roomName });
    } finally {
      this.endRoomOp(roomName);
    }
    if (room && !this.closed) {
      for (const callback of [...room.joinCallbacks]) await this.removePresenceListener(roomName, callback);
    }
    const result = successOf(outcome, 'the server did not leave the room (not joined?)', ErrorCode.notJoined);
    if (!result.ok) return { success: false, error: this.failed(Command.leaveRoom, roomName, result.error) };
    return { success: true };
  }

  /** Starts a join/leave call of a room: a new op number, held until `endRoomOp`. */
  private beginRoomOp(roomName: string): number {
    const entry = this.holdRoom(roomName);
    entry.op = ++this.opSeq;
    return entry.op;
  }

  /** Holds the room's op entry (without a new op) so that a later comparison is sound. */
  private holdRoom(roomName: string): RoomOp {
    let entry = this.roomOps.get(roomName);
    if (!entry) this.roomOps.set(roomName, (entry = { op: 0, holds: 0 }));
    entry.holds++;
    return entry;
  }

  /** Ends a hold; an idle room's entry is dropped, so the map does not grow with every room ever used. */
  private endRoomOp(roomName: string): void {
    const entry = this.roomOps.get(roomName);
    if (!entry) return;
    entry.holds--;
    if (entry.holds <= 0) this.roomOps.delete(roomName);
  }

  // ---- presence ---------------------------------------------------------------------

  /**
   * Subscribes `callback` to a room's presence. Several callbacks per room share one
   * server subscription; a later one gets the snapshot the client holds, no request.
   */
  async subscribePresence(roomName: string, callback: PresenceCallback): Promise<PresenceResult> {
    this.assertUsable();
    assertRoom(roomName);
    if (typeof callback !== 'function') throw new MeshError(ErrorCode.invalid, 'callback must be a function');
    const existing = this.subs.get(roomName);
    if (existing) {
      if (!existing.live) {
        const first = (await existing.ready) as PresenceResult;
        if (!first.success || this.subs.get(roomName) !== existing) return { ...first };
      }
      existing.callbacks.add(callback);
      return { success: true, ...existing.snapshot() };
    }
    const sub = new PresenceSubscription(
      roomName,
      (id) => this.metadata.peek(id),
      (id) => this.forgetMember(id),
    );
    sub.callbacks.add(callback);
    this.subs.set(roomName, sub);
    const ready = (async (): Promise<PresenceResult> => {
      const outcome = await this.call(Command.subscribePresence, { roomName });
      const result = successOf(outcome, 'the server refused the presence subscription');
      if (!result.ok) {
        if (this.subs.get(roomName) === sub) this.subs.delete(roomName);
        return { success: false, present: [], states: {}, error: this.failed(Command.subscribePresence, roomName, result.error) };
      }
      const snapshot = normalizeSnapshot(result.value);
      this.prime(snapshot);
      sub.init(snapshot);
      return { success: true, present: snapshot.present, states: snapshot.states };
    })();
    sub.ready = ready;
    return ready;
  }

  /** Removes every callback of a room and ends the server subscription. */
  async unsubscribePresence(roomName: string): Promise<boolean> {
    this.assertUsable();
    assertRoom(roomName);
    const sub = this.subs.get(roomName);
    this.subs.delete(roomName);
    // a subscription still waiting for its snapshot must not call them either
    sub?.callbacks.clear();
    this.rooms.get(roomName)?.joinCallbacks.clear();
    const outcome = await this.call(Command.unsubscribePresence, { roomName });
    const result = successOf(outcome, 'the server did not unsubscribe (not subscribed?)');
    if (!result.ok) {
      this.failed(Command.unsubscribePresence, roomName, result.error);
      return false;
    }
    return true;
  }

  /**
   * Removes one callback; when it was the room's last, ends the server subscription.
   * Resolves `false` when the callback was not subscribed (nothing is sent).
   */
  async removePresenceListener(roomName: string, callback: PresenceCallback): Promise<boolean> {
    this.assertUsable();
    this.rooms.get(roomName)?.joinCallbacks.delete(callback);
    const sub = this.subs.get(roomName);
    if (!sub || !sub.callbacks.delete(callback)) return false;
    if (sub.callbacks.size > 0) return true;
    return this.unsubscribePresence(roomName);
  }

  /**
   * Publishes this connection's state in a joined room (replacing the previous one).
   * The client remembers it and publishes it again after a reconnect.
   *
   * Resolves `true`, or `false` on refusal, with an `error` event carrying the code.
   * The server answers a refused publish with a plain `false` and no reason (as Mesh
   * does), so the client names the likely cause itself: `ENOTJOINED` when this client
   * has not joined the room, else `EREFUSED` (e.g. a presence guard said no, or the
   * server lost the membership). A failure with a reason keeps the server's code
   * (`ETOOLARGE`, `EINVALID`, `ERATELIMIT`, …), as do `ETIMEOUT` and `ECLOSED`.
   * `clearPresenceState` maps refusals the same way. Rejects only for invalid
   * arguments and use after `close()`.
   */
  async publishPresenceState(roomName: string, options: PublishOptions): Promise<boolean> {
    this.assertUsable();
    assertRoom(roomName);
    if (!isPlainObject(options)) throw new MeshError(ErrorCode.invalid, 'options must be an object {state, expireAfter?, silent?}');
    const { state, expireAfter, silent } = options;
    if (!isPlainObject(state)) throw new MeshError(ErrorCode.invalid, 'state must be a plain object');
    const problem = expireAfterProblem(expireAfter);
    if (problem) throw new MeshError(ErrorCode.invalid, problem);
    if (silent !== undefined && typeof silent !== 'boolean') throw new MeshError(ErrorCode.invalid, 'silent must be a boolean');
    const payload: Record<string, unknown> = { roomName, state };
    if (expireAfter !== undefined) payload.expireAfter = expireAfter;
    if (silent !== undefined) payload.silent = silent;
    const outcome = await this.call(Command.publishPresenceState, payload);
    const result = successOf(outcome, this.refusal(roomName, 'publish'), this.refusalCode(roomName));
    if (!result.ok) {
      this.failed(Command.publishPresenceState, roomName, result.error);
      return false;
    }
    const room = this.rooms.get(roomName);
    if (room) {
      room.published = { state };
      if (silent) room.published.silent = true;
      if (expireAfter !== undefined) room.published.expiresAt = Date.now() + expireAfter;
    }
    return true;
  }

  /** Clears this connection's state in a room (subscribers get `state: null`). */
  async clearPresenceState(roomName: string): Promise<boolean> {
    this.assertUsable();
    assertRoom(roomName);
    const outcome = await this.call(Command.clearPresenceState, { roomName });
    const result = successOf(outcome, this.refusal(roomName, 'clear the state'), this.refusalCode(roomName));
    if (!result.ok) {
      this.failed(Command.clearPresenceState, roomName, result.error);
      return false;
    }
    const room = this.rooms.get(roomName);
    if (room) delete room.published;
    return true;
  }

  /** Who is in a room and their states, without subscribing. */
  async getPresenceState(roomName: string): Promise<PresenceResult> {
    this.assertUsable();
    assertRoom(roomName);
    const outcome = await this.call(Command.getPresenceState, { roomName });
    const result = successOf(outcome, 'the server refused to tell the presence of the room');
    if (!result.ok) {
      return { success: false, present: [], states: {}, error: this.failed(Command.getPresenceState, roomName, result.error) };
    }
    const snapshot = normalizeSnapshot(result.value);
    this.prime(snapshot);
    return { success: true, present: snapshot.present, states: snapshot.states };
  }

  private refusal(roomName: string, what: string): string {
    return this.rooms.has(roomName)
      ? `the server refused to ${what} in room "${roomName}"`
      : `cannot ${what} in room "${roomName}": join it first`;
  }

  private refusalCode(roomName: string): string {
    return this.rooms.has(roomName) ? ClientErrorCode.refused : ErrorCode.notJoined;
  }

  // ---- metadata ---------------------------------------------------------------------

  /**
   * Metadata of a connection (without `connectionId`: of this one). Cached: primed from
   * what the server sends with `present` lists and `join` pushes, dropped when the member
   * leaves; concurrent calls for one id share one request. `null` when unknown or on
   * failure (which is also emitted as `error`).
   *
   * Our server pushes `mesh/metadata-update` when a member's metadata changes, which
   * updates the cache (and fires `metadata`). A plain Mesh server has no such push: there
   * a cached entry stays as it was until the member leaves every room this client
   * watches (or the client reconnects and is primed again); ask the server with
   * `request('mesh/get-connection-metadata', {connectionId})` when freshness matters.
   */
  async getConnectionMetadata(connectionId?: string): Promise<Metadata | null> {
    this.assertUsable();
    if (connectionId !== undefined && (typeof connectionId !== 'string' || connectionId === '')) {
      throw new MeshError(ErrorCode.invalid, 'connectionId must be a non-empty string');
    }
    const own = connectionId === undefined;
    const key = own ? this._connectionId : connectionId;
    const load = async (): Promise<Metadata | null> => {
      const outcome = own
        ? await this.call(Command.getMyConnectionMetadata, {})
        : await this.call(Command.getConnectionMetadata, { connectionId });
      const command = own ? Command.getMyConnectionMetadata : Command.getConnectionMetadata;
      if (!outcome.ok) {
        this.failed(command, undefined, outcome.error);
        throw new MeshError(outcome.error.code, outcome.error.message, command);
      }
      return isPlainObject(outcome.value) ? toMetadata(outcome.value.metadata) : null;
    };
    try {
      if (key === undefined) return await load();
      return await this.metadata.get(key, load, () => key === this._connectionId || this.isKnownMember(key));
    } catch (error) {
      if (error instanceof MeshError) return null;
      throw error;
    }
  }

  /**
   * Sets this connection's metadata (`strategy`: `replace` (default), `merge`,
   * `deepMerge`). The client remembers successful calls and sends them again, in order,
   * on every new connection before it rejoins its rooms, so the others see the same
   * metadata after a reconnect. A `replace` supersedes everything before it.
   */
  async setConnectionMetadata(metadata: Metadata, options: { strategy?: MetadataStrategy } = {}): Promise<boolean> {
    this.assertUsable();
    if (!isPlainObject(metadata)) throw new MeshError(ErrorCode.invalid, 'metadata must be a plain object');
    const strategy = options?.strategy;
    if (strategy !== undefined && !METADATA_STRATEGIES.has(strategy)) {
      throw new MeshError(ErrorCode.invalid, 'strategy must be "replace", "merge" or "deepMerge"');
    }
    const payload: Record<string, unknown> = { metadata };
    if (strategy !== undefined) payload.options = { strategy };
    const outcome = await this.call(Command.setMyConnectionMetadata, payload);
    if (this._connectionId !== undefined) this.metadata.delete(this._connectionId);
    const result = successOf(outcome, 'the server refused the metadata');
    if (!result.ok) {
      this.failed(Command.setMyConnectionMetadata, undefined, result.error);
      return false;
    }
    if (!this.closed) this.metadataLog = rememberMetadata(this.metadataLog, payloadJson(metadata), strategy ?? 'replace');
    return true;
  }

  /** Metadata of a room, or `null`. */
  async getRoomMetadata(roomName: string): Promise<Metadata | null> {
    this.assertUsable();
    assertRoom(roomName);
    const outcome = await this.call(Command.getRoomMetadata, { roomName });
    if (!outcome.ok) {
      this.failed(Command.getRoomMetadata, roomName, outcome.error);
      return null;
    }
    return isPlainObject(outcome.value) ? toMetadata(outcome.value.metadata) : null;
  }

  private prime(snapshot: NormalizedSnapshot): void {
    for (const [id, metadata] of snapshot.metadata) this.metadata.set(id, metadata);
  }

  private isKnownMember(id: string): boolean {
    for (const sub of this.subs.values()) if (sub.members.has(id)) return true;
    return false;
  }

  private forgetMember(id: string): void {
    // the leaving member may still be known through another room
    queueMicrotask(() => {
      if (id !== this._connectionId && !this.isKnownMember(id)) this.metadata.delete(id);
    });
  }

  // ---- refresh, restore -------------------------------------------------------------

  private startRefresh(gen: number): void {
    clearInterval(this.refreshTimer);
    if (this.opts.refreshInterval <= 0) return;
    this.refreshTimer = setInterval(() => this.refresh(gen), this.opts.refreshInterval);
  }

  private refresh(gen: number): void {
    if (gen !== this.gen || this._status !== 'online' || !this.refreshSupported) return;
    for (const roomName of this.rooms.keys()) {
      // a refresh held back by the rate limit is not queued again: ticks do not pile up
      if (this.refreshing.has(roomName)) continue;
      this.refreshing.add(roomName);
      const op = this.holdRoom(roomName).op;
      void this.background(gen, Command.refreshPresence, { roomName }).then((outcome) => {
        this.refreshing.delete(roomName);
        const current = this.roomOps.get(roomName)?.op === op;
        this.endRoomOp(roomName);
        if (outcome === null || gen !== this.gen) return;
        if (!outcome.ok) {
          if (outcome.error.code === ErrorCode.notFound) {
            // a plain Mesh server lacks the command: its pongs keep presence alive
            this.refreshSupported = false;
          } else {
            this.failed(Command.refreshPresence, roomName, outcome.error);
          }
          return;
        }
        if (outcome.value === false && this.rooms.has(roomName) && current) {
          // the server lost our membership (e.g. the TTL ran out while the tab slept)
          void this.rejoin(gen, roomName);
        }
      });
    }
  }

  private async rejoin(gen: number, roomName: string): Promise<void> {
    const op = this.holdRoom(roomName).op;
    let outcome: Outcome | null;
    let current: boolean;
    try {
      outcome = await this.background(gen, Command.joinRoom, { roomName });
    } finally {
      current = this.roomOps.get(roomName)?.op === op;
      this.endRoomOp(roomName);
    }
    if (outcome === null || gen !== this.gen) return;
    const result = successOf(outcome, 'the server refused to rejoin the room');
    if (!result.ok) {
      // a real refusal (a guard, a limit); a join or leave called meanwhile decides instead
      if (current) this.rooms.delete(roomName);
      this.failed(Command.joinRoom, roomName, result.error);
      return;
    }
    this.prime(normalizeSnapshot(result.value));
    await this.republish(gen, roomName);
  }

  private async republish(gen: number, roomName: string): Promise<void> {
    const published = this.rooms.get(roomName)?.published;
    if (!published) return;
    const payload: Record<string, unknown> = { roomName, state: published.state };
    if (published.expiresAt !== undefined) {
      const left = published.expiresAt - Date.now();
      if (left <= 0) {
        delete this.rooms.get(roomName)!.published;
        return;
      }
      payload.expireAfter = left;
    }
    // not silent: the others saw us leave, they must see the state come back
    const outcome = await this.background(gen, Command.publishPresenceState, payload);
    if (outcome === null || gen !== this.gen) return;
    const result = successOf(outcome, 'the server refused to restore the state');
    if (!result.ok) this.failed(Command.publishPresenceState, roomName, result.error);
  }

  /**
   * A request of the client's own upkeep (restore, refresh) on connection `gen`: paced
   * (a bounded number in flight, a shared pause after `ERATELIMIT`) and retried while
   * the failure is transient, so that a busy server never costs the user a room.
   * `ERATELIMIT` is retried after the pause; `ETIMEOUT` at once, and after
   * `BACKGROUND_TIMEOUTS` of them the connection is replaced. `null` when the connection
   * is gone (`ECLOSED`): the next one restores everything again.
   */
  private async background(gen: number, command: string, payload: unknown): Promise<Outcome | null> {
    const pacer = this.pacer;
    let timeouts = 0;
    for (;;) {
      await pacer.acquire();
      if (gen !== this.gen || this.closed) return null;
      const outcome = await this.call(command, payload, gen);
      const limited = !outcome.ok && outcome.error.code === ErrorCode.rateLimited;
      pacer.release(!limited);
      if (gen !== this.gen || this.closed) return null;
      if (outcome.ok) return outcome;
      switch (outcome.error.code) {
        case ErrorCode.rateLimited:
          pacer.pause();
          continue;
        case ErrorCode.timeout:
          if (++timeouts >= BACKGROUND_TIMEOUTS) {
            this.drop(gen, 4003, `${command} timed out ${timeouts} times in a row`);
            return null;
          }
          continue;
        case ErrorCode.closed:
          return null;
        default:
          return outcome;
      }
    }
  }

  /**
   * Runs on every new connection before it counts as online: sends the remembered
   * metadata, rejoins rooms, republishes states, then resubscribes and reconciles each
   * subscription. Transient failures are retried (see `background`); only a real refusal
   * (a guard, a limit) drops a room or subscription, with an `error` event.
   */
  private async restore(gen: number): Promise<void> {
    // metadata first: the joins below announce this connection with it
    for (const call of [...this.metadataLog]) {
      const payload: Record<string, unknown> = { metadata: call.metadata };
      if (call.strategy !== 'replace') payload.options = { strategy: call.strategy };
      const outcome = await this.background(gen, Command.setMyConnectionMetadata, payload);
      if (outcome === null) return;
      const result = successOf(outcome, 'the server refused to restore the metadata');
      if (!result.ok) this.failed(Command.setMyConnectionMetadata, undefined, result.error);
    }
    if (this._connectionId !== undefined) this.metadata.delete(this._connectionId);
    await Promise.all(
      [...this.rooms.keys()].map(async (roomName) => {
        const outcome = await this.background(gen, Command.joinRoom, { roomName });
        if (outcome === null) return;
        const result = successOf(outcome, 'the server refused to rejoin the room');
        if (!result.ok) {
          this.rooms.delete(roomName);
          this.failed(Command.joinRoom, roomName, result.error);
          return;
        }
        this.prime(normalizeSnapshot(result.value));
      }),
    );
    if (gen !== this.gen) return;
    await Promise.all([...this.rooms.keys()].map((roomName) => this.republish(gen, roomName)));
    if (gen !== this.gen) return;
    // subscriptions whose first request is still queued are not live: that request goes
    // out after; their buffers were emptied when the old connection was lost
    const live = [...this.subs.entries()].filter(([, sub]) => sub.live);
    await Promise.all(
      live.map(async ([roomName, sub]) => {
        const outcome = await this.background(gen, Command.subscribePresence, { roomName });
        if (outcome === null || this.subs.get(roomName) !== sub) return;
        const result = successOf(outcome, 'the server refused to restore the subscription');
        if (!result.ok) {
          this.subs.delete(roomName);
          sub.buffer = null;
          sub.dropAll();
          this.failed(Command.subscribePresence, roomName, result.error);
          return;
        }
        const snapshot = normalizeSnapshot(result.value);
        this.prime(snapshot);
        sub.reconcile(snapshot);
      }),
    );
  }

  // ---- page lifecycle (browsers) ----------------------------------------------------

  private attachPage(): void {
    if (this.detachPage || !this.opts.pageLifecycle) return;
    if (typeof window === 'undefined' || typeof window.addEventListener !== 'function') return;
    // kept: the globals may be gone by the time we detach (tests, teardown)
    const win = window;
    const doc = typeof document === 'undefined' ? undefined : document;
    const onPageHide = (): void => {
      if (this.closed) return;
      // leave at once so the others see it; the page may come back from the bfcache
      this.suspended = true;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      const socket = this.socket;
      if (socket) {
        detach(socket);
        try {
          socket.close(1000, 'pagehide');
        } catch {
          // already closing
        }
        this.lost(this.gen, 1000, 'pagehide', true);
      } else {
        this.setStatus('offline');
      }
    };
    const onPageShow = (event: PageTransitionEvent): void => {
      if (this.closed || !this.suspended || !event.persisted) return;
      this.suspended = false;
      this.ensureConnecting();
    };
    const onVisibility = (): void => {
      if (this.closed || doc?.visibilityState !== 'visible') return;
      if (this._status === 'online') {
        const gen = this.gen;
        // timers of a hidden tab were throttled: check the link is still alive
        void this.call(Command.noop, {}, gen, Math.min(this.opts.requestTimeout, 5000)).then((outcome) => {
          if (!outcome.ok && outcome.error.code === ErrorCode.timeout) this.drop(gen, 4002, 'liveness probe timed out');
        });
      } else if (this._status === 'offline' && !this.suspended && this.everOnline) {
        this.ensureConnecting();
      } else if (this.reconnectTimer !== undefined) {
        // the user is back: do not make them wait for the backoff
        clearTimeout(this.reconnectTimer);
        this.reconnectTimer = undefined;
        void this.open();
      }
    };
    const onOnline = (): void => {
      if (this.closed || this.reconnectTimer === undefined) return;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      void this.open();
    };
    win.addEventListener('pagehide', onPageHide);
    win.addEventListener('pageshow', onPageShow);
    win.addEventListener('online', onOnline);
    doc?.addEventListener('visibilitychange', onVisibility);
    this.detachPage = () => {
      win.removeEventListener('pagehide', onPageHide);
      win.removeEventListener('pageshow', onPageShow);
      win.removeEventListener('online', onOnline);
      doc?.removeEventListener('visibilitychange', onVisibility);
    };
  }

  private assertUsable(): void {
    if (this.closed) throw closedError();
  }
}

// ---- helpers ------------------------------------------------------------------------

/** An invalid argument found only while encoding the request. */
class ArgumentError extends MeshError {}

function closedError(command?: string, why = 'the client is closed'): MeshError {
  return new MeshError(ErrorCode.closed, why, command);
}

function assertRoom(roomName: unknown): asserts roomName is string {
  const problem = roomNameProblem(roomName);
  if (problem) throw new MeshError(ErrorCode.invalid, problem);
}

/**
 * Reads an outcome as success or failure: an error payload or a transport failure, a
 * `false`, or `{success: false, error?}` are failures (with a code and a message).
 */
function successOf(
  outcome: Outcome,
  refusal: string,
  refusalCode: string = ClientErrorCode.refused,
): { ok: true; value: unknown } | { ok: false; error: ResultError } {
  if (!outcome.ok) return outcome;
  const value = outcome.value;
  if (value === true) return outcome;
  if (isPlainObject(value) && value.success === true) return outcome;
  if (isPlainObject(value) && isPlainObject(value.error)) {
    const error = value.error;
    return {
      ok: false,
      error: {
        code: typeof error.code === 'string' ? error.code : refusalCode,
        message: typeof error.error === 'string' ? error.error : typeof error.message === 'string' ? error.message : refusal,
      },
    };
  }
  if (isPlainObject(value) && typeof value.code === 'string') {
    return { ok: false, error: { code: value.code, message: typeof value.error === 'string' ? value.error : refusal } };
  }
  return { ok: false, error: { code: refusalCode, message: refusal } };
}

function detach(socket: WebSocketLike): void {
  // no-ops rather than null: `ws` throws on an 'error' event without a listener
  socket.onopen = NOOP;
  socket.onmessage = NOOP;
  socket.onclose = NOOP;
  socket.onerror = NOOP;
}

function closeSocket(socket: WebSocketLike): Promise<void> {
  return new Promise((resolve) => {
    detach(socket);
    if (socket.readyState === 3) return resolve();
    const timer = setTimeout(() => {
      const terminate = (socket as { terminate?: () => void }).terminate;
      if (typeof terminate === 'function') terminate.call(socket);
      resolve();
    }, 1000);
    socket.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      socket.close(1000, 'client closed');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

function newPacer(): Pacer {
  return new Pacer(BACKGROUND_IN_FLIGHT, FIRST_RATE_PAUSE, MAX_RATE_PAUSE);
}

/** A private copy of JSON metadata (the caller may mutate its object later). */
function payloadJson(metadata: Metadata): Metadata {
  return JSON.parse(JSON.stringify(metadata)) as Metadata;
}

/**
 * `log` plus a successful call, folded where the result is provably the same as
 * replaying both calls (the server's strategies: `replace` copies, `merge` is a shallow
 * spread, `deepMerge` merges plain objects and replaces anything else):
 * - `replace` supersedes everything before it;
 * - after a `replace`, a `merge` or `deepMerge` folds into it;
 * - two `merge`s fold; two `deepMerge`s fold unless the first puts a non-object where the
 *   second merges an object (replaying them merges into what the server had before).
 * Past `MAX_METADATA_LOG` entries the two oldest are folded as `deepMerge` (close, not
 * exact), so that the log stays bounded however the application calls it.
 */
function rememberMetadata(log: MetadataCall[], metadata: Metadata, strategy: MetadataStrategy): MetadataCall[] {
  if (strategy === 'replace') return [{ metadata, strategy }];
  const last = log[log.length - 1];
  if (last && (last.strategy === 'replace' || (last.strategy === 'merge' && strategy === 'merge'))) {
    last.metadata = strategy === 'merge' ? { ...last.metadata, ...metadata } : deepMergeJson(last.metadata, metadata);
    return log;
  }
  if (last && last.strategy === 'deepMerge' && strategy === 'deepMerge' && deepFoldable(last.metadata, metadata)) {
    last.metadata = deepMergeJson(last.metadata, metadata);
    return log;
  }
  const next = [...log, { metadata, strategy }];
  while (next.length > MAX_METADATA_LOG) {
    const [first, second] = next.splice(0, 2) as [MetadataCall, MetadataCall];
    next.unshift({ metadata: deepMergeJson(first.metadata, second.metadata), strategy: 'deepMerge' });
  }
  return next;
}

/** The server's `deepMerge` on JSON objects: plain objects merge, anything else replaces. */
function deepMergeJson(base: Metadata, patch: Metadata): Metadata {
  const out: Metadata = { ...base };
  for (const [key, next] of Object.entries(patch)) {
    // the server refuses these; skipped so that this alone can never touch a prototype
    if (FORBIDDEN_KEYS.has(key)) continue;
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(next) ? deepMergeJson(prev, next) : next;
  }
  return out;
}

/** True when `deepMerge(deepMerge(x, a), b)` equals `deepMerge(x, deepMerge(a, b))` for every `x`. */
function deepFoldable(a: Metadata, b: Metadata): boolean {
  for (const [key, next] of Object.entries(b)) {
    if (!isPlainObject(next) || !Object.prototype.hasOwnProperty.call(a, key)) continue;
    const prev = a[key];
    if (!isPlainObject(prev) || !deepFoldable(prev, next)) return false;
  }
  return true;
}

function positive(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && value > 0 ? value : fallback;
}

function nonNegative(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && value >= 0 && Number.isFinite(value) ? value : fallback;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
