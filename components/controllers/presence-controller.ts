/**
 * The one place where the elements talk to the client: `<mesh-presence-room>` holds a
 * `PresenceController`, which joins the room on the page-wide shared client, groups its
 * connections per user (`createPresence`), merges each user's tabs into one entry,
 * publishes the local user's composed state, and follows the connection status.
 *
 * Lifecycle: `hostDisconnected` ends the session (releases the join, the watch and the
 * client reference) a microtask later, so that an element moved in the DOM (disconnected
 * and connected again in one go) keeps its session: nobody sees it leave and join. The
 * host calls `configure()` from `updated()` whenever url / room / watch-only change,
 * which ends the old session before starting the new one.
 *
 * While the connection is down nothing is published (a request would only wait for its
 * timeout and fail); once it is back, the latest composed state goes out once, replacing
 * the one the client restores on its own.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import {
  createPresence,
  getClient,
  type ClientStatus,
  type MeshClientOptions,
  type PresenceHandle,
  type PresenceState,
  type PresenceUpdate,
  type PresenceUser as GroupedUser,
  type PresenceWatch,
  type RoomLease,
  type SharedClient,
} from '../../src/client/index.js';
import type { PresenceUser, RoomConnectionStatus } from '../context.js';
import {
  hiddenUntil,
  nextTypingExpiry,
  toPresenceUser,
  type ComposedState,
  type ConnectionInfo,
} from '../mesh-presence-room/merge-users.js';
import { WatchOnlyGrouping } from '../mesh-presence-room/watch-only-grouping.js';

/** What a session needs; a change of `url`, `room` or `watchOnly` starts a new session. */
export interface PresenceConfig {
  url: string;
  room: string;
  watchOnly: boolean;
  /** ms a user whose last tab left stays listed. */
  leaveGrace: number;
  /** ms after which a typing flag that was not refreshed counts as stale. */
  typingTimeout: number;
  /** Read on every (re)connection of a client created for this room. */
  token: () => string | Promise<string> | undefined;
  /** True when a token or `getToken` is set (otherwise no `token` parameter is sent). */
  hasToken: boolean;
}

export interface PresenceControllerCallbacks {
  /** Users, status, stale or joined changed: update the context. */
  onChange(): void;
  /** The user list changed (already applied to `users`). */
  onUsers(previous: readonly PresenceUser[], next: readonly PresenceUser[], room: string): void;
  onStatus(status: RoomConnectionStatus, stale: boolean, room: string): void;
  onError(code: string, message: string, room: string): void;
  /** The composed local state to publish (asked at every publish). */
  localState(): ComposedState;
  /** The local user id (to mark `self`). */
  selfId(): string;
}

/** Codes after which joining again later may work (the connection was the problem). */
const TRANSIENT = new Set(['ETIMEOUT', 'ECLOSED', 'ECONNECT']);

export class PresenceController implements ReactiveController {
  /** The users of the current room, merged per user. */
  users: readonly PresenceUser[] = [];
  status: RoomConnectionStatus = 'connecting';
  /** True while the connection is down after having been up: `users` is the last known list. */
  stale = false;
  /** True while the local user is joined to the room. */
  joined = false;

  private __config: PresenceConfig | null = null;
  private __session: Session | null = null;
  private __hostConnected = false;

  constructor(
    private readonly __host: ReactiveControllerHost,
    private readonly __callbacks: PresenceControllerCallbacks,
  ) {
    __host.addController(this);
  }

  hostConnected(): void {
    this.__hostConnected = true;
    // connected again before the deferred stop ran (a move): the session goes on
    if (!this.__session) this.__restart();
  }

  hostDisconnected(): void {
    this.__hostConnected = false;
    // a move in the DOM connects the host again before this microtask runs
    queueMicrotask(() => {
      if (!this.__hostConnected) this.__stop();
    });
  }

  /** Applies a new configuration; a different url / room / watch-only restarts the session. */
  configure(config: PresenceConfig | null): void {
    const old = this.__config;
    this.__config = config;
    const same =
      old !== null &&
      config !== null &&
      old.url === config.url &&
      old.room === config.room &&
      old.watchOnly === config.watchOnly;
    if (same && this.__session) {
      this.__session.config = config;
      this.__session.recompute();
      return;
    }
    if (same && !this.__session && !this.__hostConnected) return;
    this.__restart();
  }

  /** Publishes the composed local state (coalesced: one publish per microtask). */
  publish(): void {
    this.__session?.schedulePublish();
  }

  /** The session's room name, '' without one. */
  get room(): string {
    return this.__session?.config.room ?? '';
  }

  private __restart(): void {
    this.__stop();
    const config = this.__config;
    if (!this.__hostConnected || !config || !config.url || !config.room) return;
    const session = new Session(config, this, this.__callbacks);
    this.__session = session;
    session.start();
  }

  private __stop(): void {
    const session = this.__session;
    this.__session = null;
    if (session) {
      const room = session.config.room;
      session.stop();
      const previous = this.users;
      this.users = [];
      this.joined = false;
      this.stale = false;
      this.status = 'connecting';
      if (previous.length) this.__callbacks.onUsers(previous, [], room);
      this.__callbacks.onChange();
    }
  }

  /** @internal Sessions report here; a session that was stopped is ignored. */
  _report(session: Session, patch: Partial<Pick<PresenceController, 'users' | 'status' | 'stale' | 'joined'>>): void {
    if (session !== this.__session) return;
    const previousUsers = this.users;
    const previousStatus = this.status;
    const previousStale = this.stale;
    Object.assign(this, patch);
    this.__callbacks.onChange();
    if (patch.users) this.__callbacks.onUsers(previousUsers, this.users, session.config.room);
    if (this.status !== previousStatus || this.stale !== previousStale) {
      this.__callbacks.onStatus(this.status, this.stale, session.config.room);
    }
  }
}

/** One room on one client, from start to stop. */
class Session {
  private __client: SharedClient | null = null;
  private __lease: RoomLease | null = null;
  private __watch: PresenceWatch | null = null;
  private __handle: PresenceHandle | null = null;
  private __grouping: WatchOnlyGrouping | null = null;
  private __offs: Array<() => void> = [];
  private __stopped = false;
  private __everOnline = false;
  private __joined = false;
  private __groups: GroupedUser[] = [];
  private readonly __connections = new Map<string, ConnectionInfo>();
  private __users: PresenceUser[] = [];
  /** Wakes the merge when a typing flag goes stale or a hidden connection is due. */
  private __timer: ReturnType<typeof setTimeout> | undefined;
  private __recomputeQueued = false;
  /** True once our own watch has its snapshot: merging needs its per-connection view. */
  private __live = false;
  private __publishQueued = false;
  /** The client's status as last seen, to tell a return to `online`. */
  private __status: ClientStatus | undefined;
  /** The `typingAt` stamp last seen per user: a restored old state is no typing refresh. */
  private readonly __typingStamps = new Map<string, unknown>();

  constructor(
    public config: PresenceConfig,
    private readonly __owner: PresenceController,
    private readonly __callbacks: PresenceControllerCallbacks,
  ) {}

  start(): void {
    const { url, hasToken, token } = this.config;
    const options: MeshClientOptions = {};
    // read afresh on every reconnect, so a rotated token or a changed attribute is used
    if (hasToken) options.getToken = async () => (await token()) ?? '';
    let client: SharedClient;
    try {
      client = getClient(url, options);
    } catch (error) {
      this.__error(error);
      return;
    }
    this.__client = client;
    this.__offs.push(
      client.on('status', (status) => this.__onStatus(status)),
      client.on('error', (event) => {
        if (event.roomName === undefined || event.roomName === this.config.room) {
          this.__callbacks.onError(event.code, event.message, this.config.room);
        }
      }),
    );
    this.__onStatus(client.status);
    void this.__enter();
  }

  stop(): void {
    if (this.__stopped) return;
    this.__stopped = true;
    clearTimeout(this.__timer);
    for (const off of this.__offs) off();
    this.__offs = [];
    this.__grouping?.dispose();
    const { __handle: handle, __watch: watch, __lease: lease, __client: client } = this;
    // release in order; the shared client closes when its last reference is gone
    void (async () => {
      await handle?.dispose().catch(() => undefined);
      await watch?.release().catch(() => undefined);
      await lease?.release().catch(() => undefined);
      await client?.release().catch(() => undefined);
    })();
  }

  schedulePublish(): void {
    if (this.__publishQueued || this.__stopped) return;
    this.__publishQueued = true;
    queueMicrotask(() => {
      this.__publishQueued = false;
      void this.__publish();
    });
  }

  recompute(): void {
    if (this.__recomputeQueued || this.__stopped || !this.__live) return;
    this.__recomputeQueued = true;
    queueMicrotask(() => {
      this.__recomputeQueued = false;
      this.__merge();
    });
  }

  /** Joins (unless watch-only), publishes, groups and watches; retries after a connection failure. */
  private async __enter(): Promise<void> {
    const client = this.__client!;
    const { room, watchOnly, leaveGrace } = this.config;
    try {
      if (!watchOnly) {
        if (!this.__lease) {
          const lease = await client.retainRoom(room);
          if (this.__stopped) return void lease.release();
          if (!lease.success) return this.__failed(lease.error, 'EJOIN', `could not join room "${room}"`);
          this.__lease = lease;
          this.__joined = true;
          this.__owner._report(this, { joined: true });
        }
        // our state goes out before we watch, so that we are listed from the first snapshot
        await this.__publish();
        if (this.__stopped) return;
        if (!this.__handle) {
          const handle = createPresence({
            client,
            room,
            leaveGrace,
            onUpdate: (users) => {
              this.__groups = users;
              this.recompute();
            },
          });
          this.__handle = handle;
          const ready = await handle.ready;
          if (this.__stopped) return;
          if (!ready.success) {
            this.__handle = null;
            void handle.dispose();
            return this.__failed(ready.error, 'ESUBSCRIBE', `could not follow the presence of room "${room}"`);
          }
        }
      }
      // registered after createPresence's listener, so its batch is flushed before ours
      const watch = await client.watchPresence(room, (update) => this.__onPresence(update));
      if (this.__stopped) return void watch.release();
      if (!watch.success) return this.__failed(watch.error, 'ESUBSCRIBE', `could not follow the presence of room "${room}"`);
      this.__watch = watch;
      const now = Date.now();
      for (const id of watch.snapshot.present) {
        const state = watch.snapshot.states[id] ?? null;
        this.__connections.set(id, { state, typingAt: this.__typingRefresh(state) ? now : 0, seenAt: now });
      }
      if (watchOnly) {
        this.__grouping = new WatchOnlyGrouping(
          leaveGrace,
          (id) => client.peekConnectionMetadata(id),
          (users) => {
            this.__groups = users;
            this.recompute();
          },
        );
        this.__grouping.init(watch.snapshot);
      } else if (this.__handle) {
        this.__groups = this.__handle.users();
      }
      this.__live = true;
      this.recompute();
    } catch (error) {
      this.__error(error);
    }
  }

  /** A failed step: report it; if the connection was the cause, try again once it is back. */
  private __failed(error: { code: string; message: string } | undefined, code: string, message: string): void {
    this.__callbacks.onError(error?.code ?? code, error?.message ?? message, this.config.room);
    if (error && TRANSIENT.has(error.code) && !this.__stopped) {
      const client = this.__client!;
      const off = client.on('status', (status) => {
        if (status !== 'online') return;
        off();
        if (!this.__stopped) void this.__enter();
      });
      this.__offs.push(off);
    }
  }

  private __error(error: unknown): void {
    const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'EROOM';
    const message = error instanceof Error ? error.message : String(error);
    this.__callbacks.onError(code, message, this.config.room);
  }

  private async __publish(): Promise<void> {
    // offline, a publish would wait for its timeout and fail; the return to online publishes
    if (this.__stopped || !this.__joined || !this.__client || this.__client.status !== 'online') return;
    const state = this.__callbacks.localState() as unknown as PresenceState;
    try {
      // a refusal resolves false and is reported through the client's `error` event
      await this.__client.publishPresenceState(this.config.room, { state });
    } catch (error) {
      this.__error(error);
    }
  }

  private __onPresence(update: PresenceUpdate): void {
    const id = update.connectionId;
    if (update.type === 'leave') this.__connections.delete(id);
    else if (update.type === 'join') {
      if (!this.__connections.has(id)) this.__connections.set(id, { state: null, typingAt: 0, seenAt: Date.now() });
    } else {
      const state = update.state ?? null;
      const info = this.__connections.get(id) ?? { state: null, typingAt: 0, seenAt: Date.now() };
      info.state = state;
      // every new typing:true publish (the typist's throttled refresh) restarts the timeout
      if (this.__typingRefresh(state)) info.typingAt = Date.now();
      this.__connections.set(id, info);
    }
    this.__grouping?.apply(update);
    this.recompute();
  }

  /**
   * True when `state` is a fresh `typing: true`: one whose `typingAt` stamp this room has
   * not seen from that user yet. The client republishes a connection's last state after
   * a reconnect; a typing flag in it is old news and must not show the user typing again.
   */
  private __typingRefresh(state: PresenceState | null): boolean {
    if (state?.typing !== true) return false;
    const stamp = state.typingAt;
    if (stamp === undefined) return true; // a client that does not stamp: every publish counts
    const user = String(state.userId);
    if (this.__typingStamps.get(user) === stamp) return false;
    this.__typingStamps.set(user, stamp);
    return true;
  }

  private __onStatus(status: ClientStatus): void {
    if (this.__stopped) return;
    const back = status === 'online' && this.__everOnline && this.__status !== 'online';
    this.__status = status;
    // publish the latest composed state once: changes made offline, typing cleared
    if (back) this.schedulePublish();
    if (status === 'online') this.__everOnline = true;
    const stale = this.__everOnline && status !== 'online';
    const shown: ClientStatus = status === 'offline' && !this.__everOnline ? 'connecting' : status;
    this.__owner._report(this, { status: shown, stale });
  }

  /** Builds the merged user list and reports it if it changed. */
  private __merge(): void {
    if (this.__stopped) return;
    const now = Date.now();
    const { typingTimeout } = this.config;
    const selfId = this.__callbacks.selfId();
    let wake = nextTypingExpiry(this.__connections, now, typingTimeout);
    const users: PresenceUser[] = [];
    for (const group of this.__groups) {
      const until = hiddenUntil(group, this.__connections);
      if (until > now) wake = Math.min(wake, until);
      else users.push(toPresenceUser(group, this.__connections, selfId, now, typingTimeout));
    }
    clearTimeout(this.__timer);
    if (wake !== Infinity) this.__timer = setTimeout(() => this.recompute(), wake - now + 1);
    if (JSON.stringify(users) === JSON.stringify(this.__users)) return;
    this.__users = users;
    this.__owner._report(this, { users: Object.freeze(users) as readonly PresenceUser[] });
  }
}
