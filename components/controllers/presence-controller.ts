/**
 * The one place where the elements talk to the client: `<mesh-presence-room>` holds a
 * `PresenceController`, which joins (or, watch-only, only watches) the room on the
 * page-wide shared client, groups its connections per user (`createPresence`), merges
 * each user's tabs into one entry, publishes the local user's composed state, and
 * follows the connection status.
 *
 * Lifecycle: `hostDisconnected` ends the session (releases the join, the watch and the
 * client reference) a microtask later, so that an element moved in the DOM (disconnected
 * and connected again in one go) keeps its session: nobody sees it leave and join. The
 * host calls `configure()` from `updated()` whenever url / room / watch-only change,
 * which ends the old session before starting the new one.
 *
 * While the connection is down a publish replaces the state the client remembers for the
 * room (it neither times out nor is queued): the reconnect restores the latest state.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import {
  createPresence,
  getClient,
  type ClientStatus,
  type MeshClientOptions,
  type PresenceHandle,
  type PresenceState,
  type PresenceUser as GroupedUser,
  type SharedClient,
} from '../../src/client/index.js';
import type { PresenceUser, RoomConnectionStatus } from '../context.js';
import { toPresenceUser, type ComposedState } from '../mesh-presence-room/merge-users.js';

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
  private __handle: PresenceHandle | null = null;
  private __offs: Array<() => void> = [];
  private __stopped = false;
  private __everOnline = false;
  private __groups: GroupedUser[] = [];
  /**
   * Per connection of the room: its state as last seen, and the local time at which a
   * state with `typing: true` arrived (0: none). Every new such state (the typist's
   * throttled refresh) restarts the receiver-side typing timeout.
   */
  private readonly __typing = new Map<string, { state: PresenceState | null; at: number }>();
  /**
   * Per user: the `typingAt` stamp last seen. A state republished by a rejoin or a
   * reconnect carries its old stamp: no refresh, so a stale typing flag stays gone.
   */
  private readonly __stamps = new Map<string, unknown>();
  /** The last reported user list, serialised: a merge that changes nothing reports nothing. */
  private __usersKey = '[]';
  /** Wakes the merge when a typing flag goes stale. */
  private __timer: ReturnType<typeof setTimeout> | undefined;
  private __recomputeQueued = false;
  private __publishQueued = false;

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
    const { __handle: handle, __client: client } = this;
    // release in order; the shared client closes when its last reference is gone
    void (async () => {
      await handle?.dispose().catch(() => undefined);
      await client?.release().catch(() => undefined);
    })();
  }

  schedulePublish(): void {
    if (this.__publishQueued || this.__stopped) return;
    this.__publishQueued = true;
    queueMicrotask(() => {
      this.__publishQueued = false;
      this.__publish();
    });
  }

  recompute(): void {
    if (this.__recomputeQueued || this.__stopped) return;
    this.__recomputeQueued = true;
    queueMicrotask(() => {
      this.__recomputeQueued = false;
      this.__merge();
    });
  }

  /** Joins (or watches) and groups with `createPresence`; retries after a connection failure. */
  private async __enter(): Promise<void> {
    const client = this.__client!;
    const { room, watchOnly, leaveGrace } = this.config;
    try {
      const handle = createPresence({
        client,
        room,
        leaveGrace,
        join: !watchOnly,
        onUpdate: (users) => {
          this.__groups = users;
          this.recompute();
        },
      });
      this.__handle = handle;
      // before the start: our state goes out before the subscription, so that we are in its first snapshot
      this.__publish();
      const ready = await handle.ready;
      if (this.__stopped) return;
      if (!ready.success) {
        this.__handle = null;
        void handle.dispose();
        return this.__failed(ready.error, 'EJOIN', `could not ${watchOnly ? 'follow' : 'join'} room "${room}"`);
      }
      if (!watchOnly) this.__owner._report(this, { joined: true });
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

  /**
   * Publishes the composed local state (watch-only: nothing is sent). A refusal resolves
   * `false` and is reported through the client's `error` event.
   */
  private __publish(): void {
    if (this.__stopped || !this.__handle) return;
    this.__handle.publish(this.__callbacks.localState() as unknown as PresenceState).catch((error: unknown) => this.__error(error));
  }

  private __onStatus(status: ClientStatus): void {
    if (this.__stopped) return;
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
    const seen = new Set<string>();
    let wake = Infinity;
    const users = this.__groups.map((group) => {
      let typing = false;
      for (const [id, state] of Object.entries(group.states)) {
        seen.add(id);
        let info = this.__typing.get(id);
        if (info?.state !== state) {
          let at = 0;
          if (state?.typing === true) {
            // a client that does not stamp: every new state counts
            const stamp = state.typingAt;
            at = stamp === undefined || this.__stamps.get(group.id) !== stamp ? now : (info?.at ?? 0);
            if (stamp !== undefined) this.__stamps.set(group.id, stamp);
          }
          this.__typing.set(id, (info = { state, at }));
        }
        if (info!.at && now - info!.at < typingTimeout) {
          typing = true;
          wake = Math.min(wake, info!.at + typingTimeout);
        }
      }
      return toPresenceUser(group, selfId, typing);
    });
    for (const id of this.__typing.keys()) if (!seen.has(id)) this.__typing.delete(id);
    const groupIds = new Set(this.__groups.map((g) => g.id));
    for (const user of this.__stamps.keys()) if (!groupIds.has(user)) this.__stamps.delete(user);
    clearTimeout(this.__timer);
    if (wake !== Infinity) this.__timer = setTimeout(() => this.recompute(), wake - now + 1);
    const key = JSON.stringify(users);
    if (key === this.__usersKey) return;
    this.__usersKey = key;
    this.__owner._report(this, { users: Object.freeze(users) as readonly PresenceUser[] });
  }
}
