/**
 * The Redis `PresenceStore`: several server instances, one presence.
 *
 * Presence lives in Redis (see redis-scripts.ts for the keys); every operation is one Lua
 * script, so one round trip, and publishes its events on one channel from inside the
 * script: each event is one PUBLISH whatever the number of subscribers, every instance
 * receives it once and fans it out to its own sockets.
 *
 * Each instance also keeps, for its own live connections only, what it has told Redis
 * (metadata, rooms, states and their deadlines). That local record is what makes it
 * robust:
 * - Redis restarts (maybe empty) or is unreachable: operations fail fast with
 *   `StoreUnavailableError` (clients get an error, sockets stay open); when Redis is back
 *   the instance writes its live connections again (`meshSyncConnection`: only the
 *   differences cause events) and removes those that closed meanwhile.
 * - Crash safety: every instance writes a heartbeat every `instanceTimeout / 5`; one whose
 *   heartbeat is older than 70 % of `instanceTimeout` is swept by any other instance (its
 *   connections removed, a `leave` for each membership). An instance sweeps only after it
 *   has itself been connected for that long, so that after an outage the live instances
 *   have had time to beat again before anyone judges them; and after Redis lost its data
 *   there are no heartbeats to judge at all, so nobody is declared dead.
 * - Deadlines (`expireAfter`, presence ttl) are in Redis, enforced by whichever instance
 *   runs `meshExpireDue` first: the one that set a deadline at its time, every instance
 *   every second as a fallback.
 * - Events missed while the pub/sub connection was down: `onResync` handlers are told,
 *   after a settling delay, to compare their subscribers' view with fresh snapshots.
 * - Replies and events travel on two connections, so an event can arrive after the reply
 *   to a later command. The local record therefore changes on replies; from events it
 *   takes only what Redis decided alone (an expired ttl or state), and only when the event
 *   is newer (by seq) than the record's last change. Commands and resyncs of one
 *   connection run one after another.
 * - A stalled Redis (or a restart from a snapshot) shows as a gap in everyone's
 *   heartbeats: nobody is swept until live instances had the time to beat again.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { roomNameProblem, type Metadata, type PresenceState } from '../protocol.js';
import type { Logger } from './options.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import type {
  JoinOptions,
  PresenceStore,
  RoomSnapshot,
  SetStateOptions,
  StoreEvent,
  StoreEventHandler,
} from './store.js';

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /** Prefix of every key and of the channel, so that several apps can share one Redis. Default `'mesh-presence:'`. */
  prefix?: string;
  /**
   * Longest time in ms before the connections of an instance that died without cleanup
   * (crash, `kill -9`, lost network) are removed by another instance, with a `leave` each.
   * Heartbeats are written every fifth of it. Default 10 000.
   */
  instanceTimeout?: number;
  /** Where the store logs (one line per Redis outage and recovery). Default `console`. */
  logger?: Logger;
  /** More ioredis options (TLS, timeouts...). `lazyConnect`, the offline queue and retries are set by the store. */
  redisOptions?: RedisOptions;
}

/** A store operation could not reach Redis. The server answers the client with `ESERVER`. */
export class StoreUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('mesh-presence: the Redis presence store is unreachable', { cause });
    this.name = 'StoreUnavailableError';
  }
}

/** What this instance told Redis about one of its live connections. */
interface LocalConnection {
  instanceId: string;
  metadata: Metadata | null;
  rooms: Map<string, LocalMembership>;
}

interface LocalMembership {
  ttl: number;
  /** State JSON, or null. */
  state: string | null;
  /** `performance.now()` at which the state expires (0: never). */
  expiresAt: number;
  /** Seq of the last change this instance made to the membership (join, state, sync). */
  seq: number;
}

type ScriptRunner = (...args: Array<string | number>) => Promise<unknown>;

/** The shape of a message on the events channel (written by the scripts). */
interface WireEvent {
  t: 'join' | 'leave' | 'state' | 'meta';
  r: string;
  c: string;
  s: number;
  ts: number;
  x?: unknown;
  /** Why a leave (or a `state: null`) happened: `left`, `expired`, `swept`. */
  w?: 'left' | 'expired' | 'swept';
  rooms?: string[];
}

const EXPIRE_BATCH = 200;
const SWEEP_BATCH = 200;
const SYNC_CHUNK = 100;
const METADATA_CACHE_LIMIT = 100_000;

export class RedisStore implements PresenceStore {
  readonly instanceId: string;
  readonly prefix: string;
  readonly instanceTimeout: number;
  readonly #beat: number;
  readonly #stale: number;
  readonly #logger: Logger;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #handlers = new Set<StoreEventHandler>();
  readonly #resyncHandlers = new Set<() => void>();
  readonly #metadataHandlers = new Set<(connectionId: string, metadata: Metadata | null, rooms: string[]) => void>();
  readonly #local = new Map<string, LocalConnection>();
  /** Per connection, the tail of its operations: they run one after another. */
  readonly #chains = new Map<string, Promise<unknown>>();
  /** Instance ids whose connections this store registered (usually only its own). */
  readonly #instances = new Set<string>();
  /**
   * Parsed metadata by connection, kept while its JSON is unchanged: snapshots then hand
   * out the same object each time, which the server's snapshot encoder relies on.
   */
  readonly #metadataCache = new Map<string, { json: string; value: Metadata }>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #busy = new Set<string>();
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = Infinity;
  #readySince = 0;
  #down = false;
  #everReady = false;
  #closed = false;
  /** A command timed out: Redis may have applied it, so the record must be written again. */
  #dirty = false;
  #resyncing: Promise<void> | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #ready: Promise<void>;
  #rejectReady: ((err: Error) => void) | undefined;

  constructor(options: RedisStoreOptions) {
    if (typeof options?.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw new TypeError(`mesh-presence: redis url must start with redis:// or rediss://, got ${String(options?.url)}`);
    }
    this.prefix = options.prefix ?? 'mesh-presence:';
    this.instanceTimeout = options.instanceTimeout ?? 10_000;
    if (!Number.isFinite(this.instanceTimeout) || this.instanceTimeout < 100) {
      throw new TypeError(`mesh-presence: instanceTimeout must be a number >= 100 (ms), got ${String(options.instanceTimeout)}`);
    }
    this.#beat = Math.max(20, Math.round(this.instanceTimeout / 5));
    this.#stale = Math.round(this.instanceTimeout * 0.7);
    this.#logger = options.logger ?? console;
    this.instanceId = randomBytes(9).toString('base64url');
    const base: RedisOptions = {
      ...options.redisOptions,
      lazyConnect: true,
      // Fail fast while Redis is away: a client's command gets an error at once instead
      // of hanging, and the local record makes up for it when Redis is back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Capped well below the sweep's grace (70 % of instanceTimeout), so that after an
      // outage every live instance is back and beating before anyone judges it.
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000, Math.max(50, this.instanceTimeout / 10)),
    };
    this.#redis = new Redis(options.url, {
      // a stalled Redis answers nothing: fail the command rather than hang the client
      commandTimeout: Math.max(1_000, this.#beat * 2),
      ...base,
      connectionName: `mesh-presence:${this.instanceId}`,
    });
    this.#subscriber = new Redis(options.url, { ...base, connectionName: `mesh-presence-events:${this.instanceId}` });
    for (const [name, source] of Object.entries(SCRIPTS)) this.#redis.defineCommand(name, source);

    this.#redis.on('error', (err: Error) => this.#onError(err));
    this.#subscriber.on('error', () => {
      // the command connection reports the outage; this one reconnects on its own
    });
    this.#redis.on('ready', () => this.#onReady());
    this.#subscriber.on('ready', () => {
      // Resubscribed after a reconnect: events published meanwhile are lost to us.
      if (this.#everReady) this.#scheduleResync();
    });
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onMessage(message));

    // Resolves at the first moment both connections work and the channel is subscribed;
    // while Redis is unreachable ioredis keeps retrying (and #onError said so once).
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#rejectReady = reject;
      let pending = 2;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      this.#redis.once('ready', done);
      this.#subscriber.once('ready', () => {
        this.#subscriber.subscribe(`${this.prefix}events`).then(done, (err: Error) => this.#onError(err));
      });
    });
    this.#ready.catch(() => {});
    this.#redis.connect().catch(() => {});
    this.#subscriber.connect().catch(() => {});
    this.#timers.push(setInterval(() => this.#exclusive('heartbeat', () => this.#heartbeat()), this.#beat));
    this.#timers.push(setInterval(() => this.#exclusive('sweep', () => this.#sweep()), this.#beat));
    this.#timers.push(setInterval(() => this.#exclusive('expire', () => this.#expireDue()), Math.min(1_000, this.#beat)));
    for (const timer of this.#timers) timer.unref();
  }

  /** Resolves once Redis answered for the first time (the server's `listen()` waits for it). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Registers a handler called when events may have been missed (the event channel
   * reconnected, or Redis came back): the server then compares what its subscribers were
   * told with fresh snapshots. Returns a function that removes it.
   */
  onResync(handler: () => void): () => void {
    this.#resyncHandlers.add(handler);
    return () => this.#resyncHandlers.delete(handler);
  }

  onMetadataUpdate(handler: (connectionId: string, metadata: Metadata | null, rooms: string[]) => void): () => void {
    this.#metadataHandlers.add(handler);
    return () => this.#metadataHandlers.delete(handler);
  }

  subscribe(handler: StoreEventHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async addConnection(connectionId: string, metadata: Metadata | null, instanceId: string): Promise<void> {
    if (!this.#instances.has(instanceId)) {
      await this.#run('meshHeartbeat', instanceId, this.#beat, this.#stale);
      this.#instances.add(instanceId);
    }
    this.#local.set(connectionId, { instanceId, metadata, rooms: new Map() });
    try {
      await this.#serial(connectionId, () =>
        this.#run('meshAddConnection', connectionId, instanceId, metadataJson(metadata)),
      );
    } catch (err) {
      this.#local.delete(connectionId);
      throw err;
    }
  }

  async removeConnection(connectionId: string): Promise<string[]> {
    // Forgotten locally first: if Redis is away, the resync after it removes the rest.
    const local = this.#local.get(connectionId);
    this.#local.delete(connectionId);
    this.#metadataCache.delete(connectionId);
    try {
      return (await this.#serial(connectionId, () => this.#run('meshRemoveConnection', connectionId))) as string[];
    } catch (err) {
      if (err instanceof StoreUnavailableError) return local ? [...local.rooms.keys()] : [];
      throw err;
    }
  }

  async getConnectionMetadata(connectionId: string): Promise<Metadata | null> {
    const local = this.#local.get(connectionId);
    if (local) return local.metadata;
    const json = (await this.#call(() => this.#redis.hget(this.#key(`c:${connectionId}`), 'm'))) as string | null;
    return this.#parseMetadata(connectionId, json);
  }

  setConnectionMetadata(connectionId: string, metadata: Metadata | null): Promise<boolean> {
    return this.#serial(connectionId, async () => {
      const local = this.#local.get(connectionId);
      const ok = (await this.#run('meshSetConnectionMetadata', connectionId, metadataJson(metadata))) === 1;
      if (local) {
        local.metadata = metadata;
        // Redis lost the connection (data lost, or this instance swept): write it again.
        if (!ok) await this.#syncConnection(connectionId);
        return true;
      }
      return ok;
    });
  }

  join(roomName: string, connectionId: string, options: JoinOptions = {}): Promise<boolean> {
    // The server refuses these already; a direct caller must not get two names on one key.
    const problem = roomNameProblem(roomName, Number.MAX_SAFE_INTEGER);
    if (problem) return Promise.reject(new TypeError(`mesh-presence: ${problem}`));
    const ttl = options.ttl && options.ttl > 0 ? Math.round(options.ttl) : 0;
    return this.#serial(connectionId, async () => {
      const result = (await this.#run('meshJoin', roomName, connectionId, ttl)) as number;
      const local = this.#local.get(connectionId);
      if (!local) return result > 0;
      const membership = local.rooms.get(roomName);
      if (membership) {
        if (result > 0) membership.seq = result;
      } else {
        local.rooms.set(roomName, { ttl, state: null, expiresAt: 0, seq: Math.max(result, 0) });
      }
      if (result === -1) {
        // Redis does not know the connection (lost data, or swept): register it with its rooms.
        await this.#syncConnection(connectionId);
        return true;
      }
      return result > 0;
    });
  }

  leave(roomName: string, connectionId: string): Promise<boolean> {
    return this.#serial(connectionId, async () => {
      // The client wants out whatever happens: if Redis is away, the resync removes it.
      this.#local.get(connectionId)?.rooms.delete(roomName);
      return (await this.#run('meshLeave', roomName, connectionId)) === 1;
    });
  }

  async refresh(roomName: string, connectionId: string): Promise<boolean> {
    const ttl = this.#local.get(connectionId)?.rooms.get(roomName)?.ttl ?? 0;
    return (await this.#run('meshRefresh', roomName, connectionId, ttl)) === 1;
  }

  /** Whether the connection is a member of the room in Redis (for tests and tools; the server does not need it). */
  async isMember(roomName: string, connectionId: string): Promise<boolean> {
    const score = await this.#call(() => this.#redis.zscore(this.#key(`r:${roomName}:m`), connectionId));
    return score !== null;
  }

  async roomsOf(connectionId: string): Promise<string[]> {
    const local = this.#local.get(connectionId);
    if (local) return [...local.rooms.keys()];
    return (await this.#call(() => this.#redis.smembers(this.#key(`c:${connectionId}:r`)))) as string[];
  }

  async snapshot(roomName: string): Promise<RoomSnapshot> {
    const [seq, ids, metas, flatStates] = (await this.#run('meshSnapshot', roomName)) as [
      string,
      string[],
      string[],
      string[],
    ];
    const metadata: Record<string, Metadata | null> = {};
    for (let i = 0; i < ids.length; i++) metadata[ids[i]!] = this.#parseMetadata(ids[i]!, metas[i] || null);
    const states: Record<string, PresenceState> = {};
    for (let i = 0; i < flatStates.length; i += 2) states[flatStates[i]!] = JSON.parse(flatStates[i + 1]!) as PresenceState;
    return { present: ids, states, metadata, seq: Number(seq) };
  }

  setState(roomName: string, connectionId: string, state: PresenceState, options: SetStateOptions = {}): Promise<boolean> {
    const json = options.json ?? JSON.stringify(state);
    const expireAfter = options.expireAfter && options.expireAfter > 0 ? Math.round(options.expireAfter) : 0;
    return this.#serial(connectionId, async () => {
      const membership = this.#local.get(connectionId)?.rooms.get(roomName);
      const run = (): Promise<number> =>
        this.#run('meshSetState', roomName, connectionId, json, expireAfter, options.silent ? '1' : '0') as Promise<number>;
      let seq = await run();
      if (seq === 0 && membership) {
        // We know it joined; Redis does not (lost data, or swept): write it again, then retry.
        await this.#syncConnection(connectionId);
        seq = await run();
      }
      if (seq > 0 && membership) {
        membership.state = json;
        membership.expiresAt = expireAfter ? performance.now() + expireAfter : 0;
        membership.seq = seq;
      }
      if (seq > 0 && expireAfter) this.#scheduleExpiry(expireAfter);
      return seq > 0;
    });
  }

  clearState(roomName: string, connectionId: string): Promise<boolean> {
    return this.#serial(connectionId, async () => {
      const seq = (await this.#run('meshClearState', roomName, connectionId)) as number;
      const membership = this.#local.get(connectionId)?.rooms.get(roomName);
      if (membership) {
        // cleared in any case: if Redis lost the member, the resync writes it without state
        membership.state = null;
        membership.expiresAt = 0;
        if (seq > 0) membership.seq = seq;
        if (seq === 0) {
          await this.#syncConnection(connectionId);
          return true;
        }
      }
      return seq > 0;
    });
  }

  async getRoomMetadata(roomName: string): Promise<Metadata | null> {
    const json = (await this.#call(() => this.#redis.get(this.#key(`rm:${roomName}`)))) as string | null;
    return json ? (JSON.parse(json) as Metadata) : null;
  }

  async setRoomMetadata(roomName: string, metadata: Metadata | null): Promise<void> {
    const key = this.#key(`rm:${roomName}`);
    await this.#call<unknown>(() =>
      metadata === null ? this.#redis.del(key) : this.#redis.set(key, JSON.stringify(metadata)),
    );
  }

  async roomCount(): Promise<number> {
    return (await this.#call(() => this.#redis.scard(this.#key('rooms')))) as number;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#resyncTimer);
    clearTimeout(this.#retryTimer);
    this.#handlers.clear();
    this.#resyncHandlers.clear();
    this.#metadataHandlers.clear();
    this.#rejectReady?.(new Error('the store was closed before Redis answered'));
    // A clean shutdown: what is left of this instance's connections leaves now, and its
    // heartbeat goes, so nobody has to wait for the sweep.
    if (this.#redis.status === 'ready') {
      try {
        for (const id of [...this.#local.keys()]) await this.#run('meshRemoveConnection', id);
        for (const instanceId of this.#instances) {
          await this.#redis.zrem(this.#key('instances'), instanceId);
        }
      } catch (err) {
        this.#logger.warn('mesh-presence: could not clean up in Redis on close:', (err as Error).message);
      }
    }
    this.#closed = true;
    this.#local.clear();
    this.#metadataCache.clear();
    this.#redis.disconnect();
    this.#subscriber.disconnect();
  }

  // ---- internals -------------------------------------------------------------------

  #key(suffix: string): string {
    return this.prefix + suffix;
  }

  /** Runs `fn` after the connection's previous operations (and resync) have finished. */
  #serial<T>(connectionId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(connectionId);
    const result = previous ? previous.then(fn, fn) : fn();
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#chains.set(connectionId, tail);
    void tail.then(() => {
      if (this.#chains.get(connectionId) === tail) this.#chains.delete(connectionId);
    });
    return result;
  }

  /** Runs a periodic task unless its previous run is still going (a slow Redis would pile them up). */
  #exclusive(name: string, task: () => Promise<void>): void {
    if (this.#busy.has(name) || this.#closed) return;
    this.#busy.add(name);
    void task().finally(() => this.#busy.delete(name));
  }

  /** Runs a script with the prefix as its first argument. */
  #run(name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    const runner = (this.#redis as unknown as Record<ScriptName, ScriptRunner>)[name];
    return this.#call(() => runner.call(this.#redis, this.prefix, ...args));
  }

  /** Runs a Redis call, turning "Redis is away" into `StoreUnavailableError`. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError(new Error('store closed'));
    if (this.#redis.status !== 'ready') throw new StoreUnavailableError(new Error(`Redis is ${this.#redis.status}`));
    try {
      return await fn();
    } catch (err) {
      if (isConnectionError(err)) {
        if (/timed out/i.test((err as Error).message)) this.#dirty = true;
        throw new StoreUnavailableError(err);
      }
      throw err;
    }
  }

  #parseMetadata(connectionId: string, json: string | null): Metadata | null {
    if (!json || json === 'null') return null;
    const cached = this.#metadataCache.get(connectionId);
    if (cached?.json === json) return cached.value;
    const value = JSON.parse(json) as Metadata;
    if (this.#metadataCache.size >= METADATA_CACHE_LIMIT) this.#metadataCache.clear();
    this.#metadataCache.set(connectionId, { json, value });
    return value;
  }

  #onMessage(message: string): void {
    let wire: WireEvent;
    try {
      wire = JSON.parse(message) as WireEvent;
    } catch {
      return;
    }
    let event: StoreEvent;
    const local = this.#local.get(wire.c);
    if (wire.t === 'join') {
      const metadata = wire.x === null || wire.x === undefined ? null : this.#parseMetadata(wire.c, JSON.stringify(wire.x));
      event = { type: 'join', roomName: wire.r, connectionId: wire.c, metadata, timestamp: wire.ts, seq: wire.s };
    } else if (wire.t === 'leave') {
      event = { type: 'leave', roomName: wire.r, connectionId: wire.c, timestamp: wire.ts, seq: wire.s };
      if (wire.w) event.reason = wire.w;
      if (!local) {
        this.#metadataCache.delete(wire.c);
      } else if (wire.w === 'expired') {
        // Redis decided alone (ttl): keep the record true, unless we changed it since.
        const membership = local.rooms.get(wire.r);
        if (membership && wire.s > membership.seq) local.rooms.delete(wire.r);
      } else if (wire.w === 'swept') {
        // Judged dead while alive (paused, cut off): our record still holds the truth.
        this.#resyncSoon();
      }
    } else if (wire.t === 'state') {
      const state = (wire.x ?? null) as PresenceState | null;
      event = { type: 'state', roomName: wire.r, connectionId: wire.c, state, timestamp: wire.ts, seq: wire.s };
      if (wire.w === 'expired') {
        const membership = local?.rooms.get(wire.r);
        if (membership && wire.s > membership.seq) {
          membership.state = null;
          membership.expiresAt = 0;
        }
      }
    } else if (wire.t === 'meta') {
      const metadata = (wire.x ?? null) as Metadata | null;
      for (const handler of this.#metadataHandlers) handler(wire.c, metadata, wire.rooms ?? []);
      return;
    } else {
      return;
    }
    for (const handler of this.#handlers) handler(event);
  }

  #onError(err: Error): void {
    if (this.#closed || this.#down) return;
    this.#down = true;
    this.#logger.error(
      `mesh-presence: Redis is unreachable (${err.message}); keeping connections open and retrying — presence changes fail until it is back`,
    );
  }

  #onReady(): void {
    this.#readySince = performance.now();
    const wasDown = this.#down;
    this.#down = false;
    if (!this.#everReady) {
      this.#everReady = true;
      if (wasDown) this.#logger.info('mesh-presence: connected to Redis');
      return;
    }
    if (wasDown) this.#logger.info("mesh-presence: Redis is back; registering this instance's live connections again");
    void this.#resync();
  }

  async #heartbeat(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    try {
      let lost = false;
      for (const instanceId of this.#instances) {
        if ((await this.#run('meshHeartbeat', instanceId, this.#beat, this.#stale)) === 0) lost = true;
      }
      if (lost) {
        this.#logger.warn(
          "mesh-presence: this instance's record was missing in Redis (data lost, or swept as dead); registering its connections again",
        );
      }
      if (lost || this.#dirty) await this.#resync();
    } catch {
      // Redis went away meanwhile: the ready handler resyncs
    }
  }

  /** Removes the connections of instances that stopped beating. */
  async #sweep(): Promise<void> {
    if (this.#redis.status !== 'ready' || this.#resyncing) return;
    // After an outage, give live instances the time to beat again before judging them.
    if (performance.now() - this.#readySince < this.#stale) return;
    try {
      for (let round = 0; round < 1_000; round++) {
        const removed = (await this.#run('meshSweepInstances', this.#stale, SWEEP_BATCH, this.#beat, ...this.#instances)) as number;
        if (removed === 0) break;
      }
    } catch {
      // retried at the next interval
    }
  }

  /** Enforces due deadlines (anyone's); re-arms the local timer for the next one. */
  async #expireDue(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    try {
      for (let round = 0; round < 100; round++) {
        const [count, wait] = (await this.#run('meshExpireDue', EXPIRE_BATCH)) as [number, number];
        if (count < EXPIRE_BATCH) {
          if (wait >= 0) this.#scheduleExpiry(wait);
          break;
        }
      }
    } catch {
      // retried by the fallback interval
    }
  }

  /** A precise timer for a deadline this instance knows of (the interval is the fallback). */
  #scheduleExpiry(inMs: number): void {
    const at = performance.now() + inMs;
    if (at >= this.#expiryAt - 5 && this.#expiryTimer) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryAt = at;
    // a few ms late rather than early: the script judges by Redis' clock
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#expiryAt = Infinity;
      this.#exclusive('expire', () => this.#expireDue());
    }, inMs + 5);
    this.#expiryTimer.unref();
  }

  /** One resync for a burst of reasons (a sweep sends one leave per membership). */
  #resyncSoon(): void {
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#resync();
    }, 50);
    this.#retryTimer.unref();
  }

  /** Writes every live connection of this instance again and drops those Redis has too many of. */
  #resync(): Promise<void> {
    this.#resyncing ??= this.#doResync().finally(() => {
      this.#resyncing = undefined;
    });
    return this.#resyncing;
  }

  async #doResync(): Promise<void> {
    this.#dirty = false;
    let failed = 0;
    try {
      for (const instanceId of this.#instances) {
        await this.#run('meshHeartbeat', instanceId, this.#beat, this.#stale);
        const known = (await this.#call(() => this.#redis.smembers(this.#key(`i:${instanceId}:c`)))) as string[];
        const gone = known.filter((id) => this.#local.get(id)?.instanceId !== instanceId);
        for (const id of gone) await this.#serial(id, () => this.#run('meshRemoveConnection', id));
      }
      const ids = [...this.#local.keys()];
      for (let i = 0; i < ids.length; i += SYNC_CHUNK) {
        const results = await Promise.allSettled(
          ids.slice(i, i + SYNC_CHUNK).map((id) => this.#serial(id, () => this.#syncConnection(id))),
        );
        failed += results.filter((r) => r.status === 'rejected').length;
      }
      this.#exclusive('expire', () => this.#expireDue());
      this.#scheduleResync();
    } catch {
      failed++;
    }
    if (failed > 0) {
      this.#logger.warn(`mesh-presence: resynchronising with Redis left ${failed} connection(s) out; retrying`);
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        void this.#resync();
      }, this.#beat);
      this.#retryTimer.unref();
    }
  }

  /**
   * Makes Redis hold what the record says of one live connection (call it inside the
   * connection's `#serial` chain, so that no command of it is in flight).
   */
  async #syncConnection(connectionId: string): Promise<void> {
    const local = this.#local.get(connectionId);
    if (!local) return;
    const now = performance.now();
    const rooms = [...local.rooms].map(([roomName, m]) => {
      const expired = m.expiresAt !== 0 && m.expiresAt <= now;
      return [roomName, expired || m.state === null ? '' : m.state, m.expiresAt ? Math.max(1, Math.round(m.expiresAt - now)) : 0, m.ttl];
    });
    const seq = (await this.#run(
      'meshSyncConnection',
      connectionId,
      local.instanceId,
      metadataJson(local.metadata),
      JSON.stringify(rooms),
    )) as number;
    for (const membership of local.rooms.values()) membership.seq = Math.max(membership.seq, seq);
  }

  /**
   * Tells the server to compare its subscribers' view with Redis, after a delay that lets
   * the other instances register their connections again (so that it does not announce
   * `leave`s for members that are only not back yet).
   */
  #scheduleResync(): void {
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = setTimeout(() => {
      for (const handler of this.#resyncHandlers) handler();
    }, Math.round(this.instanceTimeout / 2));
    this.#resyncTimer.unref();
  }
}

function metadataJson(metadata: Metadata | null): string {
  return metadata === null ? '' : JSON.stringify(metadata);
}

function isConnectionError(err: unknown): boolean {
  const message = (err as Error)?.message ?? '';
  return (
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|LOADING|READONLY|MaxRetriesPerRequest|Command timed out/.test(
      message,
    ) || (err as { name?: string })?.name === 'MaxRetriesPerRequestError'
  );
}
