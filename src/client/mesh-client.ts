import {
  Command,
  ErrorCode,
  METADATA_STRATEGIES,
  applyMetadata,
  deepMerge,
  expireAfterProblem,
  isErrorPayload,
  isPlainObject,
  type Metadata,
  type MetadataStrategy,
  type PresenceState,
  type PresenceUpdate,
} from '../protocol.js';
import { Emitter } from './emitter.js';
import { ClientErrorCode, MeshError, assertRoom, type MeshErrorEvent, type ResultError } from './errors.js';
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
  timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Restore traffic bound to one connection (its generation); `null` for user requests,
   * which are sent again on the next connection if this one drops before the reply.
   */
  gen: number | null;
  /** Generation of the socket it was sent on; `null` while queued. */
  sentOn: number | null;
  /** A publish or clear: the room whose remembered state it replaced. */
  room?: string;
  /**
   * Made (or cut off) while the connection was down, for a joined room: not sent, no
   * timeout; the restore publishes the remembered state (the latest) and settles it.
   */
  parked?: boolean;
  /** Reply timeout, ms (armed when queued, paused while parked). */
  timeout: number;
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
  /** The state a reconnect restores: the latest published (set when called, put back to `accepted` on refusal). */
  published?: Published;
  /** The last state the server accepted (none: cleared or never set): what a refusal falls back to. */
  accepted?: Published;
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

const NOOP = (): void => {};
/** Value a parked publish is settled with when the restore sent a later state for it. */
const RESTORED = { success: true };
/** Value a parked publish is settled with when its room was left before it could go out. */
const LEFT = { success: false };

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
  private readonly __opts: {
    requestTimeout: number;
    connectTimeout: number;
    refreshInterval: number;
    pingTimeout: number;
    reconnect: Required<ReconnectOptions> | null;
    pageLifecycle: boolean;
  };
  private readonly __token?: string;
  private readonly __getToken?: () => string | Promise<string>;
  private readonly __WebSocketImpl?: WebSocketCtor;

  private __socket: WebSocketLike | null = null;
  /** Bumped for every socket; late events of an older one are ignored. */
  private __gen = 0;
  /** True once `mesh/assign-id` arrived on the current socket. */
  private __assigned = false;
  private __status: ClientStatus = 'offline';
  private __connectionId: string | undefined;
  private __closed = false;
  /** Page in the back/forward cache or unloading: stay away until `pageshow`. */
  private __suspended = false;
  private __everOnline = false;
  private __attempt = 0;
  private __nextId = 1;
  private __lastFrameAt = 0;
  private __refreshSupported = true;

  private readonly __pending = new Map<number, Pending>();
  private __connectWaiters: Array<{ resolve: () => void; reject: (e: MeshError) => void }> = [];
  private readonly __rooms = new Map<string, JoinedRoom>();
  /**
   * Per room with a join/leave call or refresh in flight: the number of the last call, so
   * that a late reply of a stale call is not recorded. Idle rooms are pruned.
   */
  private readonly __roomOps = new Map<string, RoomOp>();
  private __opSeq = 0;
  /** Rooms whose refresh is still on its way (paced or retried): the next tick skips them. */
  private readonly __refreshing = new Set<string>();
  private readonly __subs = new Map<string, PresenceSubscription>();
  private readonly __metadata = new MetadataCache();
  /** `setConnectionMetadata` calls that succeeded, folded where exact; replayed on restore. */
  private __metadataLog: MetadataCall[] = [];
  /** Paces restore and refresh traffic of the current connection. */
  private __pacer = newPacer();

  private __reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private __connectTimer: ReturnType<typeof setTimeout> | undefined;
  private __watchdogTimer: ReturnType<typeof setTimeout> | undefined;
  private __refreshTimer: ReturnType<typeof setInterval> | undefined;
  private __detachPage: (() => void) | undefined;

  /**
   * @param url `ws://` or `wss://` URL of the server.
   * @param options see `MeshClientOptions` for every default.
   */
  constructor(url: string, options: MeshClientOptions = {}) {
    super();
    this.url = url;
    this.__token = options.token;
    this.__getToken = options.getToken;
    this.__WebSocketImpl = options.WebSocket;
    const requestTimeout = positive(options.requestTimeout, 10_000);
    const reconnect = options.reconnect ?? true;
    this.__opts = {
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
    return this.__status;
  }

  /** The id the server assigned to the current connection. */
  get connectionId(): string | undefined {
    return this.__connectionId;
  }

  /** True after `close()`. */
  get isClosed(): boolean {
    return this.__closed;
  }

  /** Rooms this client has joined (and rejoins after a reconnect). */
  get joinedRooms(): string[] {
    return [...this.__rooms.keys()];
  }

  /** Rooms whose presence this client is subscribed to. */
  get subscribedRooms(): string[] {
    return [...this.__subs.keys()];
  }

  /**
   * The presence of a subscribed room as the callbacks know it, kept up to date by the
   * subscription; `null` when not subscribed (or before the first snapshot).
   */
  presenceSnapshot(roomName: string): { present: string[]; states: Record<string, PresenceState> } | null {
    const sub = this.__subs.get(roomName);
    return sub?.live ? sub.snapshot() : null;
  }

  /** Cached metadata of a connection without a request: `undefined` when not cached. */
  peekConnectionMetadata(connectionId: string): Metadata | null | undefined {
    return this.__metadata.peek(connectionId);
  }

  // ---- connection -------------------------------------------------------------------

  /** Connects (if not yet) and resolves once the server assigned an id and the client is online. */
  connect(): Promise<void> {
    if (this.__closed) return Promise.reject(closedError());
    if (this.__status === 'online') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.__connectWaiters.push({ resolve, reject });
      this.__ensureConnecting();
    });
  }

  /**
   * Closes the connection for good: clears every timer and listener, settles pending
   * requests (`ECLOSED`), and resolves once the socket closed (at most ~1 s). Later
   * calls reject with `ECLOSED`.
   */
  async close(): Promise<void> {
    if (this.__closed) return;
    this.__closed = true;
    this.__clearTimers();
    this.__pacer.dispose();
    this.__detachPage?.();
    this.__detachPage = undefined;
    const socket = this.__socket;
    const hadConnection = this.__assigned;
    this.__socket = null;
    this.__assigned = false;
    this.__gen++;
    for (const entry of [...this.__pending.values()]) this.__settle(entry, closedError(entry.command));
    this.__rejectConnectWaiters(closedError());
    this.__setStatus('offline');
    if (hadConnection) this._emit('disconnect', { code: 1000, reason: 'client closed' });
    this._removeAllListeners();
    this.__rooms.clear();
    this.__roomOps.clear();
    this.__subs.clear();
    this.__metadata.clear();
    this.__metadataLog = [];
    if (socket) await closeSocket(socket);
  }

  private __ensureConnecting(): void {
    // any other status means an attempt is running or scheduled
    if (this.__closed || this.__suspended || this.__status !== 'offline') return;
    this.__attempt = 0;
    this.__setStatus(this.__everOnline ? 'reconnecting' : 'connecting');
    void this.__open();
  }

  private async __open(): Promise<void> {
    const gen = ++this.__gen;
    this.__attachPage();
    let token = this.__token;
    if (this.__getToken) {
      try {
        token = await this.__getToken();
      } catch (error) {
        if (gen !== this.__gen || this.__closed) return;
        this.__emitError({ code: ClientErrorCode.token, message: `getToken() failed: ${describe(error)}` });
        this.__lost(gen, 0, 'getToken() failed', false);
        return;
      }
      if (gen !== this.__gen || this.__closed) return;
    }
    const Ctor = resolveWebSocket(this.__WebSocketImpl);
    if (!Ctor) {
      this.__emitError({
        code: ClientErrorCode.connect,
        message: 'no WebSocket implementation: pass options.WebSocket, or import mesh-presence/client in Node',
      });
      this.__giveUp();
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = new Ctor(withToken(this.url, token));
    } catch (error) {
      this.__emitError({ code: ClientErrorCode.connect, message: `cannot open ${this.url}: ${describe(error)}` });
      this.__lost(gen, 0, 'cannot open socket', false);
      return;
    }
    this.__socket = socket;
    this.__assigned = false;
    this.__lastFrameAt = Date.now();
    socket.onopen = NOOP;
    socket.onerror = NOOP; // a close event follows every error
    socket.onmessage = (event) => this.__onMessage(gen, event.data);
    socket.onclose = (event) => {
      if (gen === this.__gen) this.__lost(gen, event.code, event.reason, true);
    };
    this.__connectTimer = setTimeout(() => {
      if (gen === this.__gen && !this.__assigned) this.__drop(gen, 4000, `no mesh/assign-id within ${this.__opts.connectTimeout} ms`);
    }, this.__opts.connectTimeout);
    this.__armWatchdog(gen);
  }

  /** Abandons the current socket at once (dead or unwanted) and handles it as a close. */
  private __drop(gen: number, code: number, reason: string): void {
    if (gen !== this.__gen || !this.__socket) return;
    const socket = this.__socket;
    detach(socket);
    const terminate = (socket as { terminate?: () => void }).terminate;
    try {
      // `ws` can cut a dead TCP connection at once; a browser socket can only close
      if (typeof terminate === 'function') terminate.call(socket);
      else socket.close(code >= 3000 ? code : 1000, reason);
    } catch {
      // already closing
    }
    this.__lost(gen, code, reason, true);
  }

  /**
   * The socket of generation `gen` is gone (or never came up): settles or re-queues
   * pending requests, then reconnects, stays away (suspended), or gives up.
   */
  private __lost(gen: number, code: number, reason: string, hadSocket: boolean): void {
    if (gen !== this.__gen || this.__closed) return;
    const wasAssigned = this.__assigned;
    this.__socket = null;
    this.__assigned = false;
    this.__gen++;
    this.__clearTimers();
    // restore traffic of the old connection stops waiting; the next one gets a fresh pacer
    this.__pacer.dispose();
    this.__pacer = newPacer();
    // pushes held for a snapshot came on the old connection: none may be replayed after
    // the snapshot of a new one, including for a subscription whose first reply was lost
    for (const sub of this.__subs.values()) sub.buffer = [];
    const willRetry = this.__opts.reconnect !== null || this.__suspended;
    for (const entry of [...this.__pending.values()]) {
      if (entry.gen !== null) this.__settle(entry, closedError(entry.command, 'the connection closed during restore'));
      else if (willRetry) {
        // sent again on the next connection; a publish's state goes with the restore
        entry.sentOn = null;
        this.__park(entry);
      } else this.__settle(entry, closedError(entry.command, 'the connection closed'));
    }
    if (wasAssigned) {
      this._emit('disconnect', { code, reason });
    } else if (hadSocket && !this.__suspended) {
      this.__emitError({ code: ClientErrorCode.connect, message: `could not connect to ${this.url} (close code ${code})` });
    }
    if (this.__suspended) {
      this.__setStatus('offline');
      return;
    }
    const policy = this.__opts.reconnect;
    if (!policy) {
      this.__setStatus('offline');
      this.__rejectConnectWaiters(new MeshError(ClientErrorCode.connect, `connection to ${this.url} closed (${code})`));
      return;
    }
    if (this.__attempt >= policy.maxAttempts) {
      this.__giveUp();
      this._emit('reconnectfailed', undefined);
      return;
    }
    // a server restarting (1012) asks for an immediate first attempt, spread a little so
    // that all of its clients do not land on the next instance in the same instant
    const delay =
      code === 1012 && this.__attempt === 0
        ? Math.floor(Math.random() * RESTART_JITTER)
        : backoffDelay(this.__attempt, policy.minDelay, policy.maxDelay);
    this.__attempt++;
    this.__setStatus(this.__everOnline ? 'reconnecting' : 'connecting');
    this.__reconnectTimer = setTimeout(() => {
      this.__reconnectTimer = undefined;
      void this.__open();
    }, delay);
  }

  private __giveUp(): void {
    this.__setStatus('offline');
    for (const entry of [...this.__pending.values()]) {
      this.__settle(entry, closedError(entry.command, 'gave up reconnecting'));
    }
    this.__rejectConnectWaiters(new MeshError(ClientErrorCode.connect, `could not connect to ${this.url}`));
  }

  private __onAssigned(gen: number, payload: unknown): void {
    if (this.__assigned) return;
    if (typeof payload !== 'string' || payload === '') {
      this.__emitError({ code: ErrorCode.badFrame, message: 'mesh/assign-id without a connection id' });
      return;
    }
    clearTimeout(this.__connectTimer);
    this.__connectTimer = undefined;
    this.__assigned = true;
    const previous = this.__connectionId;
    if (previous !== undefined && previous !== payload && !this.__isKnownMember(previous)) this.__metadata.delete(previous);
    this.__connectionId = payload;
    this.__refreshSupported = true;
    this.__restore(gen).then(
      () => this.__online(gen),
      () => this.__online(gen),
    );
  }

  private __online(gen: number): void {
    if (gen !== this.__gen || this.__closed) return;
    this.__attempt = 0;
    const first = !this.__everOnline;
    this.__everOnline = true;
    this.__setStatus('online');
    this.__startRefresh(gen);
    // user requests queued while offline go out after the restore, in call order; a
    // parked publish the restore did not settle (its room was left or refused) too
    for (const entry of this.__pending.values()) {
      if (entry.sentOn !== null || entry.gen !== null) continue;
      if (entry.parked) {
        entry.parked = false;
        this.__arm(entry);
      }
      this.__transmit(entry);
    }
    const waiters = this.__connectWaiters;
    this.__connectWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    this._emit(first ? 'connect' : 'reconnect', undefined);
  }

  private __setStatus(status: ClientStatus): void {
    if (this.__status === status) return;
    this.__status = status;
    this._emit('status', status);
  }

  private __rejectConnectWaiters(error: MeshError): void {
    const waiters = this.__connectWaiters;
    this.__connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  private __clearTimers(): void {
    clearTimeout(this.__reconnectTimer);
    clearTimeout(this.__connectTimer);
    clearTimeout(this.__watchdogTimer);
    clearInterval(this.__refreshTimer);
    this.__reconnectTimer = this.__connectTimer = this.__watchdogTimer = this.__refreshTimer = undefined;
  }

  /** Closes a socket that stayed silent for `pingTimeout` (a dead link the OS has not noticed). */
  private __armWatchdog(gen: number): void {
    const limit = this.__opts.pingTimeout;
    if (limit <= 0) return;
    const check = (): void => {
      if (gen !== this.__gen) return;
      const idle = Date.now() - this.__lastFrameAt;
      if (idle >= limit) this.__drop(gen, 4001, `nothing received for ${idle} ms`);
      else this.__watchdogTimer = setTimeout(check, limit - idle);
    };
    this.__watchdogTimer = setTimeout(check, limit);
  }

  // ---- frames -----------------------------------------------------------------------

  private __onMessage(gen: number, data: unknown): void {
    if (gen !== this.__gen) return;
    this.__lastFrameAt = Date.now();
    const text = messageText(data);
    let frame: unknown;
    try {
      frame = text === null ? undefined : JSON.parse(text);
    } catch {
      frame = undefined;
    }
    if (!isPlainObject(frame) || typeof frame.command !== 'string') {
      this.__emitError({ code: ErrorCode.badFrame, message: 'the server sent a frame that is not a {command, payload} object' });
      return;
    }
    const { command, payload } = frame;
    if (typeof frame.id === 'number') {
      const entry = this.__pending.get(frame.id);
      if (entry && entry.sentOn === gen) {
        if (isErrorPayload(payload)) {
          this.__settle(entry, new MeshError(payload.code, payload.error, entry.command));
        } else {
          this.__settle(entry, undefined, payload);
        }
      }
      return;
    }
    switch (command) {
      case Command.assignId:
        this.__onAssigned(gen, payload);
        return;
      case Command.ping:
        // answered on arrival, not on a timer: a throttled background tab stays alive
        this.__sendFrame(`{"command":"${Command.pong}","payload":{}}`);
        return;
      case Command.latencyRequest:
        this.__sendFrame(`{"command":"${Command.latencyResponse}","payload":{}}`);
        return;
      case Command.latency:
        if (typeof payload === 'number') this._emit('latency', payload);
        return;
      case Command.presenceUpdate:
        this.__onPresenceUpdate(payload);
        return;
      case Command.metadataUpdate:
        this.__onMetadataUpdate(payload);
        return;
      case Command.error:
        if (isPlainObject(payload)) {
          this.__emitError({
            code: typeof payload.code === 'string' ? payload.code : ErrorCode.server,
            message: typeof payload.error === 'string' ? payload.error : 'error from the server',
          });
        }
        return;
      default:
        return;
    }
  }

  private __onPresenceUpdate(payload: unknown): void {
    if (
      !isPlainObject(payload) ||
      (payload.type !== 'join' && payload.type !== 'leave' && payload.type !== 'state') ||
      typeof payload.connectionId !== 'string' ||
      typeof payload.roomName !== 'string'
    ) {
      this.__emitError({ code: ErrorCode.badFrame, message: 'malformed mesh/presence-update push' });
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
      this.__metadata.set(update.connectionId, update.metadata);
    }
    this.__subs.get(update.roomName)?.push(update);
  }

  /** Extension push: a connection's metadata changed; the cache follows, listeners are told. */
  private __onMetadataUpdate(payload: unknown): void {
    if (
      !isPlainObject(payload) ||
      typeof payload.connectionId !== 'string' ||
      payload.connectionId === '' ||
      !('metadata' in payload)
    ) {
      this.__emitError({ code: ErrorCode.badFrame, message: 'malformed mesh/metadata-update push' });
      return;
    }
    const connectionId = payload.connectionId;
    const metadata = toMetadata(payload.metadata);
    // only ids the client cares about: an entry for anyone else would never be dropped
    if (this.__metadata.isTracked(connectionId) || connectionId === this.__connectionId || this.__isKnownMember(connectionId)) {
      this.__metadata.set(connectionId, metadata);
    }
    this._emit('metadata', { connectionId, metadata });
  }

  private __sendFrame(text: string): boolean {
    const socket = this.__socket;
    if (!socket || socket.readyState !== OPEN) return false;
    try {
      socket.send(text);
      return true;
    } catch {
      return false;
    }
  }

  private __transmit(entry: Pending): void {
    entry.sentOn = this.__gen;
    this.__sendFrame(entry.frame);
  }

  /** Starts the reply timeout of `entry`. */
  private __arm(entry: Pending): void {
    entry.timer = setTimeout(() => {
      this.__settle(entry, new MeshError(ErrorCode.timeout, `no reply to ${entry.command} within ${entry.timeout} ms`, entry.command));
    }, entry.timeout);
  }

  /**
   * Parks a publish or clear of a joined room while the client is not online, restoring
   * included (see `Pending.parked`); one the restore does not settle goes out in `online`.
   */
  private __park(entry: Pending): void {
    if (entry.room === undefined || !this.__rooms.has(entry.room)) return;
    clearTimeout(entry.timer);
    entry.parked = true;
  }

  private __settle(entry: Pending, error: MeshError | undefined, value?: unknown): void {
    if (this.__pending.get(entry.id) !== entry) return;
    this.__pending.delete(entry.id);
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
    return this.__enqueue(command, payload, { timeout: options.timeout, gen: null });
  }

  private __enqueue(
    command: string,
    payload: unknown,
    options: { timeout?: number; gen: number | null; room?: string },
  ): Promise<unknown> {
    if (this.__closed) return Promise.reject(closedError(command));
    const id = this.__nextId++;
    let payloadJson: string;
    try {
      payloadJson = JSON.stringify(payload ?? {});
    } catch (error) {
      return Promise.reject(new ArgumentError(ErrorCode.invalid, `payload is not JSON: ${describe(error)}`, command));
    }
    const frame = `{"id":${id},"command":${JSON.stringify(command)},"payload":${payloadJson}}`;
    return new Promise((resolve, reject) => {
      const entry: Pending = {
        id,
        command,
        frame,
        resolve,
        reject,
        gen: options.gen,
        sentOn: null,
        timeout: options.timeout ?? this.__opts.requestTimeout,
        timer: undefined,
      };
      if (options.room !== undefined) entry.room = options.room;
      this.__pending.set(id, entry);
      this.__arm(entry);
      if (options.gen !== null) {
        if (options.gen === this.__gen && this.__assigned) this.__transmit(entry);
        else this.__settle(entry, closedError(command, 'the connection closed during restore'));
      } else if (this.__status === 'online') {
        this.__transmit(entry);
      } else {
        this.__park(entry);
        this.__ensureConnecting();
      }
    });
  }

  /** A request as an outcome, never rejecting (except for use after close). */
  private async __call(command: string, payload: unknown, gen: number | null = null, timeout?: number, room?: string): Promise<Outcome> {
    try {
      return { ok: true, value: await this.__enqueue(command, payload, { gen, timeout, room }) };
    } catch (error) {
      // a payload that cannot be sent is the caller's mistake: it rejects
      if (error instanceof MeshError && !(error instanceof ArgumentError)) {
        return { ok: false, error: { code: error.code, message: error.message } };
      }
      throw error;
    }
  }

  private __emitError(event: MeshErrorEvent): void {
    this._emit('error', event);
  }

  /** Emits the failure of a request and returns it as a result error. */
  private __failed(command: string, roomName: string | undefined, error: ResultError): ResultError {
    const event: MeshErrorEvent = { code: error.code, message: error.message, command };
    if (roomName !== undefined) event.roomName = roomName;
    this.__emitError(event);
    return error;
  }

  // ---- rooms ------------------------------------------------------------------------

  /**
   * Joins a room; with `callback` also subscribes to its presence (the callback gets
   * `join`/`leave`/`state` updates, and `leaveRoom` removes it). `present` holds
   * connection ids.
   */
  async joinRoom(roomName: string, callback?: PresenceCallback): Promise<JoinRoomResult> {
    this.__assertUsable();
    assertRoom(roomName);
    if (callback !== undefined && typeof callback !== 'function') {
      throw new MeshError(ErrorCode.invalid, 'callback must be a function');
    }
    const op = this.__beginRoomOp(roomName);
    let outcome: Outcome;
    let current = false;
    try {
      outcome = await this.__call(Command.joinRoom, { roomName });
      // no later join/leave of this room was called meanwhile
      current = this.__roomOps.get(roomName)?.op === op;
    } finally {
      this.__endRoomOp(roomName);
    }
    const result = successOf(outcome, 'the server refused to join the room');
    if (!result.ok) {
      return { success: false, present: [], error: this.__failed(Command.joinRoom, roomName, result.error) };
    }
    const snapshot = normalizeSnapshot(result.value);
    this.__prime(snapshot);
    if (current && !this.__closed) {
      let room = this.__rooms.get(roomName);
      if (!room) {
        room = { joinCallbacks: new Set() };
        this.__rooms.set(roomName, room);
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
    this.__assertUsable();
    assertRoom(roomName);
    this.__beginRoomOp(roomName);
    const room = this.__rooms.get(roomName);
    this.__rooms.delete(roomName);
    // its parked publishes are moot: not sent, no error
    for (const entry of [...this.__pending.values()]) {
      if (entry.parked && entry.room === roomName) this.__settle(entry, undefined, LEFT);
    }
    let outcome: Outcome;
    try {
      outcome = await this.__call(Command.leaveRoom, { roomName });
    } finally {
      this.__endRoomOp(roomName);
    }
    if (room && !this.__closed) {
      for (const callback of [...room.joinCallbacks]) await this.removePresenceListener(roomName, callback);
    }
    const result = successOf(outcome, 'the server did not leave the room (not joined?)', ErrorCode.notJoined);
    if (!result.ok) return { success: false, error: this.__failed(Command.leaveRoom, roomName, result.error) };
    return { success: true };
  }

  /** Starts a join/leave call of a room: a new op number, held until `endRoomOp`. */
  private __beginRoomOp(roomName: string): number {
    const entry = this.__holdRoom(roomName);
    entry.op = ++this.__opSeq;
    return entry.op;
  }

  /** Holds the room's op entry (without a new op) so that a later comparison is sound. */
  private __holdRoom(roomName: string): RoomOp {
    let entry = this.__roomOps.get(roomName);
    if (!entry) this.__roomOps.set(roomName, (entry = { op: 0, holds: 0 }));
    entry.holds++;
    return entry;
  }

  /** Ends a hold; an idle room's entry is dropped, so the map does not grow with every room ever used. */
  private __endRoomOp(roomName: string): void {
    const entry = this.__roomOps.get(roomName);
    if (!entry) return;
    entry.holds--;
    if (entry.holds <= 0) this.__roomOps.delete(roomName);
  }

  // ---- presence ---------------------------------------------------------------------

  /**
   * Subscribes `callback` to a room's presence. Several callbacks per room share one
   * server subscription; a later one gets the snapshot the client holds, no request.
   */
  async subscribePresence(roomName: string, callback: PresenceCallback): Promise<PresenceResult> {
    this.__assertUsable();
    assertRoom(roomName);
    if (typeof callback !== 'function') throw new MeshError(ErrorCode.invalid, 'callback must be a function');
    const existing = this.__subs.get(roomName);
    if (existing) {
      if (!existing.live) {
        const first = (await existing.ready) as PresenceResult;
        if (!first.success || this.__subs.get(roomName) !== existing) return { ...first };
      }
      existing.callbacks.add(callback);
      return { success: true, ...existing.snapshot() };
    }
    const sub = new PresenceSubscription(
      roomName,
      (id) => this.__metadata.peek(id),
      (id) => this.__forgetMember(id),
    );
    sub.callbacks.add(callback);
    this.__subs.set(roomName, sub);
    const ready = (async (): Promise<PresenceResult> => {
      const outcome = await this.__call(Command.subscribePresence, { roomName });
      const result = successOf(outcome, 'the server refused the presence subscription');
      if (!result.ok) {
        if (this.__subs.get(roomName) === sub) this.__subs.delete(roomName);
        return { success: false, present: [], states: {}, error: this.__failed(Command.subscribePresence, roomName, result.error) };
      }
      const snapshot = normalizeSnapshot(result.value);
      this.__prime(snapshot);
      sub.init(snapshot);
      return { success: true, present: snapshot.present, states: snapshot.states };
    })();
    sub.ready = ready;
    return ready;
  }

  /** Removes every callback of a room and ends the server subscription. */
  async unsubscribePresence(roomName: string): Promise<boolean> {
    this.__assertUsable();
    assertRoom(roomName);
    const sub = this.__subs.get(roomName);
    this.__subs.delete(roomName);
    // a subscription still waiting for its snapshot must not call them either
    sub?.callbacks.clear();
    this.__rooms.get(roomName)?.joinCallbacks.clear();
    const outcome = await this.__call(Command.unsubscribePresence, { roomName });
    const result = successOf(outcome, 'the server did not unsubscribe (not subscribed?)');
    if (!result.ok) {
      this.__failed(Command.unsubscribePresence, roomName, result.error);
      return false;
    }
    return true;
  }

  /**
   * Removes one callback; when it was the room's last, ends the server subscription.
   * Resolves `false` when the callback was not subscribed (nothing is sent).
   */
  async removePresenceListener(roomName: string, callback: PresenceCallback): Promise<boolean> {
    this.__assertUsable();
    this.__rooms.get(roomName)?.joinCallbacks.delete(callback);
    const sub = this.__subs.get(roomName);
    if (!sub || !sub.callbacks.delete(callback)) return false;
    if (sub.callbacks.size > 0) return true;
    return this.unsubscribePresence(roomName);
  }

  /**
   * Publishes this connection's state in a joined room (replacing the previous one).
   * The client remembers it and publishes it again after a reconnect. Made while the
   * connection is down, it replaces the remembered state without being queued: the
   * reconnect publishes only the latest state, and the call resolves with that outcome
   * (it does not time out while it waits; `ECLOSED` if the client gives up or closes;
   * `false` without an `error` event if the room is left first). The same holds while a
   * reconnect restores the rooms. A refused state is never remembered: the client falls
   * back to the last state the server accepted (and republishes it after a reconnect).
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
    this.__assertUsable();
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
    const published: Published = { state };
    if (silent) published.silent = true;
    if (expireAfter !== undefined) published.expiresAt = Date.now() + expireAfter;
    return this.__setRemembered(roomName, published, Command.publishPresenceState, payload, 'publish');
  }

  /**
   * Publishes or clears (`published` undefined) the state of a room: the remembered state
   * is replaced at once, so that a reconnect meanwhile restores the latest, and put back
   * when the server refuses.
   */
  private async __setRemembered(
    roomName: string,
    published: Published | undefined,
    command: string,
    payload: Record<string, unknown>,
    what: string,
  ): Promise<boolean> {
    const room = this.__rooms.get(roomName);
    if (room) room.published = published;
    const outcome = await this.__call(command, payload, null, undefined, roomName);
    if (outcome.ok && outcome.value === LEFT) return false;
    const result = successOf(outcome, this.__refusal(roomName, what), this.__refusalCode(roomName));
    if (result.ok) {
      // settled by a restore that sent a later state: that one is the accepted
      if (room && result.value !== RESTORED) room.accepted = published;
      return true;
    }
    // never a state the server refused, even one published before this
    if (room && room.published === published) room.published = room.accepted;
    this.__failed(command, roomName, result.error);
    return false;
  }

  /** Clears this connection's state in a room (subscribers get `state: null`); while the connection is down, like a publish. */
  async clearPresenceState(roomName: string): Promise<boolean> {
    this.__assertUsable();
    assertRoom(roomName);
    return this.__setRemembered(roomName, undefined, Command.clearPresenceState, { roomName }, 'clear the state');
  }

  /** Who is in a room and their states, without subscribing. */
  async getPresenceState(roomName: string): Promise<PresenceResult> {
    this.__assertUsable();
    assertRoom(roomName);
    const outcome = await this.__call(Command.getPresenceState, { roomName });
    const result = successOf(outcome, 'the server refused to tell the presence of the room');
    if (!result.ok) {
      return { success: false, present: [], states: {}, error: this.__failed(Command.getPresenceState, roomName, result.error) };
    }
    const snapshot = normalizeSnapshot(result.value);
    this.__prime(snapshot);
    return { success: true, present: snapshot.present, states: snapshot.states };
  }

  private __refusal(roomName: string, what: string): string {
    return this.__rooms.has(roomName)
      ? `the server refused to ${what} in room "${roomName}"`
      : `cannot ${what} in room "${roomName}": join it first`;
  }

  private __refusalCode(roomName: string): string {
    return this.__rooms.has(roomName) ? ClientErrorCode.refused : ErrorCode.notJoined;
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
    this.__assertUsable();
    if (connectionId !== undefined && (typeof connectionId !== 'string' || connectionId === '')) {
      throw new MeshError(ErrorCode.invalid, 'connectionId must be a non-empty string');
    }
    const own = connectionId === undefined;
    const key = own ? this.__connectionId : connectionId;
    const load = async (): Promise<Metadata | null> => {
      const outcome = own
        ? await this.__call(Command.getMyConnectionMetadata, {})
        : await this.__call(Command.getConnectionMetadata, { connectionId });
      const command = own ? Command.getMyConnectionMetadata : Command.getConnectionMetadata;
      if (!outcome.ok) {
        this.__failed(command, undefined, outcome.error);
        throw new MeshError(outcome.error.code, outcome.error.message, command);
      }
      return isPlainObject(outcome.value) ? toMetadata(outcome.value.metadata) : null;
    };
    try {
      if (key === undefined) return await load();
      return await this.__metadata.get(key, load, () => key === this.__connectionId || this.__isKnownMember(key));
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
    this.__assertUsable();
    if (!isPlainObject(metadata)) throw new MeshError(ErrorCode.invalid, 'metadata must be a plain object');
    const strategy = options?.strategy;
    if (strategy !== undefined && !METADATA_STRATEGIES.has(strategy)) {
      throw new MeshError(ErrorCode.invalid, 'strategy must be "replace", "merge" or "deepMerge"');
    }
    // what is sent is what is remembered, even if the caller changes its object meanwhile
    let sent: Metadata;
    try {
      sent = jsonCopy(metadata);
    } catch (error) {
      throw new ArgumentError(ErrorCode.invalid, `payload is not JSON: ${describe(error)}`, Command.setMyConnectionMetadata);
    }
    const payload: Record<string, unknown> = { metadata: sent };
    if (strategy !== undefined) payload.options = { strategy };
    const outcome = await this.__call(Command.setMyConnectionMetadata, payload);
    if (this.__connectionId !== undefined) this.__metadata.delete(this.__connectionId);
    const result = successOf(outcome, 'the server refused the metadata');
    if (!result.ok) {
      this.__failed(Command.setMyConnectionMetadata, undefined, result.error);
      return false;
    }
    if (!this.__closed) this.__metadataLog = rememberMetadata(this.__metadataLog, sent, strategy ?? 'replace');
    return true;
  }

  /** Metadata of a room, or `null`. */
  async getRoomMetadata(roomName: string): Promise<Metadata | null> {
    this.__assertUsable();
    assertRoom(roomName);
    const outcome = await this.__call(Command.getRoomMetadata, { roomName });
    if (!outcome.ok) {
      this.__failed(Command.getRoomMetadata, roomName, outcome.error);
      return null;
    }
    return isPlainObject(outcome.value) ? toMetadata(outcome.value.metadata) : null;
  }

  private __prime(snapshot: NormalizedSnapshot): void {
    for (const [id, metadata] of snapshot.metadata) this.__metadata.set(id, metadata);
  }

  private __isKnownMember(id: string): boolean {
    for (const sub of this.__subs.values()) if (sub.members.has(id)) return true;
    return false;
  }

  private __forgetMember(id: string): void {
    // the leaving member may still be known through another room
    queueMicrotask(() => {
      if (id !== this.__connectionId && !this.__isKnownMember(id)) this.__metadata.delete(id);
    });
  }

  // ---- refresh, restore -------------------------------------------------------------

  private __startRefresh(gen: number): void {
    clearInterval(this.__refreshTimer);
    if (this.__opts.refreshInterval <= 0) return;
    this.__refreshTimer = setInterval(() => this.__refresh(gen), this.__opts.refreshInterval);
  }

  private __refresh(gen: number): void {
    if (gen !== this.__gen || this.__status !== 'online' || !this.__refreshSupported) return;
    for (const roomName of this.__rooms.keys()) {
      // a refresh held back by the rate limit is not queued again: ticks do not pile up
      if (this.__refreshing.has(roomName)) continue;
      this.__refreshing.add(roomName);
      const op = this.__holdRoom(roomName).op;
      void this.__background(gen, Command.refreshPresence, { roomName }).then((outcome) => {
        this.__refreshing.delete(roomName);
        const current = this.__roomOps.get(roomName)?.op === op;
        this.__endRoomOp(roomName);
        if (outcome === null || gen !== this.__gen) return;
        if (!outcome.ok) {
          if (outcome.error.code === ErrorCode.notFound) {
            // a plain Mesh server lacks the command: its pongs keep presence alive
            this.__refreshSupported = false;
          } else {
            this.__failed(Command.refreshPresence, roomName, outcome.error);
          }
          return;
        }
        if (outcome.value === false && this.__rooms.has(roomName) && current) {
          // the server lost our membership (e.g. the TTL ran out while the tab slept)
          void this.__rejoin(gen, roomName);
        }
      });
    }
  }

  private async __rejoin(gen: number, roomName: string): Promise<void> {
    const op = this.__holdRoom(roomName).op;
    let outcome: Outcome | null;
    let current: boolean;
    try {
      outcome = await this.__background(gen, Command.joinRoom, { roomName });
    } finally {
      current = this.__roomOps.get(roomName)?.op === op;
      this.__endRoomOp(roomName);
    }
    if (outcome === null || gen !== this.__gen) return;
    const result = successOf(outcome, 'the server refused to rejoin the room');
    if (!result.ok) {
      // a real refusal (a guard, a limit); a join or leave called meanwhile decides instead
      if (current) this.__rooms.delete(roomName);
      this.__failed(Command.joinRoom, roomName, result.error);
      return;
    }
    this.__prime(normalizeSnapshot(result.value));
    await this.__republish(gen, roomName);
  }

  /**
   * Publishes the remembered state of a rejoined room, and settles the publishes parked
   * for it before. Refused, it falls back to the last state the server accepted.
   */
  private async __republish(gen: number, roomName: string): Promise<void> {
    const room = this.__rooms.get(roomName);
    if (!room) return;
    // calls made from here on are not covered by this restore: they go out after it, in order
    const upTo = this.__nextId;
    const published = room.published;
    const outcome = await this.__sendState(gen, roomName, room, published);
    if (outcome === null) return;
    const result = successOf(outcome, 'the server refused to restore the state');
    if (result.ok) room.accepted = published;
    else {
      // the new connection holds nothing: put back the good state before the calls learn of the refusal
      const fallback = room.accepted;
      if (room.published === published) room.published = fallback;
      if (fallback && fallback !== published) {
        const back = await this.__sendState(gen, roomName, room, fallback);
        const backResult = back && successOf(back, 'the server refused to restore the previous state');
        if (backResult && !backResult.ok) {
          if (room.published === fallback) delete room.published;
          delete room.accepted;
          this.__failed(Command.publishPresenceState, roomName, backResult.error);
        }
      }
    }
    let parked = false;
    for (const entry of [...this.__pending.values()]) {
      if (!entry.parked || entry.room !== roomName || entry.id >= upTo) continue;
      parked = true;
      // a parked call gets the restore's outcome, and reports a failure itself
      if (result.ok) this.__settle(entry, undefined, RESTORED);
      else this.__settle(entry, new MeshError(result.error.code, result.error.message, entry.command));
    }
    if (!result.ok && !parked) this.__failed(Command.publishPresenceState, roomName, result.error);
  }

  /**
   * Restore traffic: publishes `published` on connection `gen` (not silent: the others saw
   * us leave, they must see the state come back). Nothing to send for no state or one
   * whose expiry passed (forgotten). `null` when the connection is gone.
   */
  private async __sendState(gen: number, roomName: string, room: JoinedRoom, published: Published | undefined): Promise<Outcome | null> {
    if (!published) return { ok: true, value: true };
    let expired = false;
    const outcome = await this.__background(gen, Command.publishPresenceState, () => {
      const payload: Record<string, unknown> = { roomName, state: published.state };
      if (published.expiresAt === undefined) return payload;
      // what is left once the pacer let it through, read once
      const left = published.expiresAt - Date.now();
      if (left > 0) payload.expireAfter = left;
      else expired = true;
      return expired ? undefined : payload;
    });
    if (expired && room.published === published) delete room.published;
    return outcome;
  }

  /**
   * A request of the client's own upkeep (restore, refresh) on connection `gen`: paced
   * (a bounded number in flight, a shared pause after `ERATELIMIT`) and retried while
   * the failure is transient, so that a busy server never costs the user a room.
   * `ERATELIMIT` is retried after the pause; `ETIMEOUT` at once, and after
   * `BACKGROUND_TIMEOUTS` of them the connection is replaced. `null` when the connection
   * is gone (`ECLOSED`): the next one restores everything again.
   */
  private async __background(gen: number, command: string, payload: unknown): Promise<Outcome | null> {
    const pacer = this.__pacer;
    let timeouts = 0;
    for (;;) {
      await pacer.acquire();
      if (gen !== this.__gen || this.__closed) return null;
      // a function builds the payload now, after the wait; `undefined`: nothing to send
      const body = typeof payload === 'function' ? (payload as () => unknown)() : payload;
      if (body === undefined) {
        pacer.release(true);
        return { ok: true, value: true };
      }
      const outcome = await this.__call(command, body, gen);
      const limited = !outcome.ok && outcome.error.code === ErrorCode.rateLimited;
      pacer.release(!limited);
      if (gen !== this.__gen || this.__closed) return null;
      if (outcome.ok) return outcome;
      switch (outcome.error.code) {
        case ErrorCode.rateLimited:
          pacer.pause();
          continue;
        case ErrorCode.timeout:
          if (++timeouts >= BACKGROUND_TIMEOUTS) {
            this.__drop(gen, 4003, `${command} timed out ${timeouts} times in a row`);
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
  private async __restore(gen: number): Promise<void> {
    // metadata first: the joins below announce this connection with it
    for (const call of [...this.__metadataLog]) {
      const payload: Record<string, unknown> = { metadata: call.metadata };
      if (call.strategy !== 'replace') payload.options = { strategy: call.strategy };
      const outcome = await this.__background(gen, Command.setMyConnectionMetadata, payload);
      if (outcome === null) return;
      const result = successOf(outcome, 'the server refused to restore the metadata');
      if (!result.ok) this.__failed(Command.setMyConnectionMetadata, undefined, result.error);
    }
    if (this.__connectionId !== undefined) this.__metadata.delete(this.__connectionId);
    await Promise.all(
      [...this.__rooms.keys()].map(async (roomName) => {
        const outcome = await this.__background(gen, Command.joinRoom, { roomName });
        if (outcome === null) return;
        const result = successOf(outcome, 'the server refused to rejoin the room');
        if (!result.ok) {
          this.__rooms.delete(roomName);
          this.__failed(Command.joinRoom, roomName, result.error);
          return;
        }
        this.__prime(normalizeSnapshot(result.value));
      }),
    );
    if (gen !== this.__gen) return;
    await Promise.all([...this.__rooms.keys()].map((roomName) => this.__republish(gen, roomName)));
    if (gen !== this.__gen) return;
    // subscriptions whose first request is still queued are not live: that request goes
    // out after; their buffers were emptied when the old connection was lost
    const live = [...this.__subs.entries()].filter(([, sub]) => sub.live);
    await Promise.all(
      live.map(async ([roomName, sub]) => {
        const outcome = await this.__background(gen, Command.subscribePresence, { roomName });
        if (outcome === null || this.__subs.get(roomName) !== sub) return;
        const result = successOf(outcome, 'the server refused to restore the subscription');
        if (!result.ok) {
          this.__subs.delete(roomName);
          sub.buffer = null;
          sub.dropAll();
          this.__failed(Command.subscribePresence, roomName, result.error);
          return;
        }
        const snapshot = normalizeSnapshot(result.value);
        this.__prime(snapshot);
        sub.reconcile(snapshot);
      }),
    );
  }

  // ---- page lifecycle (browsers) ----------------------------------------------------

  private __attachPage(): void {
    if (this.__detachPage || !this.__opts.pageLifecycle) return;
    if (typeof window === 'undefined' || typeof window.addEventListener !== 'function') return;
    // kept: the globals may be gone by the time we detach (tests, teardown)
    const win = window;
    const doc = typeof document === 'undefined' ? undefined : document;
    const onPageHide = (): void => {
      if (this.__closed) return;
      // leave at once so the others see it; the page may come back from the bfcache
      this.__suspended = true;
      clearTimeout(this.__reconnectTimer);
      this.__reconnectTimer = undefined;
      const socket = this.__socket;
      if (socket) {
        detach(socket);
        try {
          socket.close(1000, 'pagehide');
        } catch {
          // already closing
        }
        this.__lost(this.__gen, 1000, 'pagehide', true);
      } else {
        this.__setStatus('offline');
      }
    };
    const onPageShow = (event: PageTransitionEvent): void => {
      if (this.__closed || !this.__suspended || !event.persisted) return;
      this.__suspended = false;
      this.__ensureConnecting();
    };
    const onVisibility = (): void => {
      if (this.__closed || doc?.visibilityState !== 'visible') return;
      if (this.__status === 'online') {
        const gen = this.__gen;
        // timers of a hidden tab were throttled: check the link is still alive
        void this.__call(Command.noop, {}, gen, Math.min(this.__opts.requestTimeout, 5000)).then((outcome) => {
          if (!outcome.ok && outcome.error.code === ErrorCode.timeout) this.__drop(gen, 4002, 'liveness probe timed out');
        });
      } else if (this.__status === 'offline' && !this.__suspended && this.__everOnline) {
        this.__ensureConnecting();
      } else {
        // the user is back: do not make them wait for the backoff
        reconnectNow();
      }
    };
    // the network is back, or the user: skip the rest of the backoff
    const reconnectNow = (): void => {
      if (this.__closed || this.__reconnectTimer === undefined) return;
      clearTimeout(this.__reconnectTimer);
      this.__reconnectTimer = undefined;
      void this.__open();
    };
    const onOnline = reconnectNow;
    win.addEventListener('pagehide', onPageHide);
    win.addEventListener('pageshow', onPageShow);
    win.addEventListener('online', onOnline);
    doc?.addEventListener('visibilitychange', onVisibility);
    this.__detachPage = () => {
      win.removeEventListener('pagehide', onPageHide);
      win.removeEventListener('pageshow', onPageShow);
      win.removeEventListener('online', onOnline);
      doc?.removeEventListener('visibilitychange', onVisibility);
    };
  }

  private __assertUsable(): void {
    if (this.__closed) throw closedError();
  }
}

// ---- helpers ------------------------------------------------------------------------

/** An invalid argument found only while encoding the request. */
class ArgumentError extends MeshError {}

function closedError(command?: string, why = 'the client is closed'): MeshError {
  return new MeshError(ErrorCode.closed, why, command);
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
function jsonCopy(metadata: Metadata): Metadata {
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
    last.metadata = applyMetadata(last.metadata, metadata, strategy);
    return log;
  }
  if (last && last.strategy === 'deepMerge' && strategy === 'deepMerge' && deepFoldable(last.metadata, metadata)) {
    last.metadata = deepMerge(last.metadata, metadata);
    return log;
  }
  const next = [...log, { metadata, strategy }];
  while (next.length > MAX_METADATA_LOG) {
    const [first, second] = next.splice(0, 2) as [MetadataCall, MetadataCall];
    next.unshift({ metadata: deepMerge(first.metadata, second.metadata), strategy: 'deepMerge' });
  }
  return next;
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
