import { ErrorCode, isPlainObject, type Metadata, type PresenceState, type PresenceUpdate } from '../protocol.js';
import { reportListenerError } from './emitter.js';
import { MeshError, assertRoom, type ResultError } from './errors.js';
import type { MeshClient } from './mesh-client.js';
import { roomRefsFor, type PresenceWatch, type RoomLease } from './shared-client.js';

/** One user as `createPresence` reports it: the connections (tabs) of one key merged. */
export interface PresenceUser<S extends PresenceState = PresenceState> {
  /** The grouping key: metadata `userId`, else the state's key, else a connection id. */
  id: string;
  /** State of the user's connection that changed last (`null`: none). */
  state: S | null;
  /** Number of connections, counting those still within the leave grace. */
  tabCount: number;
  /** Their connection ids (same count as `tabCount`). */
  connections: string[];
  /**
   * State of each of the user's connections still in the room (not those within the
   * leave grace), by connection id; `null`: none yet. E.g. to tell whether any tab types.
   */
  states: Record<string, S | null>;
  /** True when one of the connections is this client's. */
  self: boolean;
  /** Metadata of the user's most recent connection that has some. */
  metadata: Metadata | null;
}

export interface CreatePresenceOptions<S extends PresenceState = PresenceState> {
  /** A `MeshClient`, typically `getClient(url)`; joins and subscriptions are shared with other consumers. */
  client: MeshClient;
  room: string;
  /** Keeps the local state in `localStorage` under this key, and names the cross-tab channel. */
  storageKey?: string;
  /**
   * `false`: watch the room without joining it (nobody sees this client). `publish` and
   * `clear` then keep the local state (storage, other tabs) but send nothing and resolve
   * `false`. Default `true`.
   */
  join?: boolean;
  /**
   * Key of a state's user when the server-trusted metadata has no `userId`. Default:
   * `state.userId`. May return a promise.
   */
  stateIdentifier?: (state: S | null, connectionId: string) => string | null | undefined | Promise<string | null | undefined>;
  /** Called with the whole list once per batch of changes. */
  onUpdate: (users: PresenceUser<S>[]) => void;
  /** How long a connection that left is still counted (so a reload does not flicker), ms. Default 3000. */
  leaveGrace?: number;
  /**
   * How long a connection without a key (no metadata `userId`, no state yet) stays
   * unlisted, waiting for its state to say whose it is, ms. Default 1000.
   */
  anonymousDelay?: number;
}

/** What `createPresence` returns (synchronously, as Mesh's helper does). */
export interface PresenceHandle<S extends PresenceState = PresenceState> {
  /** Resolves once the room is joined (unless `join: false`), subscribed and the stored state republished. */
  readonly ready: Promise<{ success: boolean; error?: ResultError }>;
  /**
   * Sets and broadcasts the local state (stored, and followed by the user's other tabs).
   * Made before `ready`, the state goes out with the start, before the subscription, so
   * that it is in the first snapshot. A state superseded before it could be sent (by a
   * later `publish` or another tab's) is not sent at all: the call resolves `true`.
   */
  publish(state: S): Promise<boolean>;
  /** The local state last published here or in another tab, or `null`. */
  read(): S | null;
  /**
   * Clears the local state here, in storage, on the server and in the other tabs. Like a
   * `publish`, a clear superseded before it could be sent is not sent: it resolves `true`.
   */
  clear(): Promise<boolean>;
  /** The list as last reported to `onUpdate`. */
  users(): PresenceUser<S>[];
  /** Releases the room, the subscription, the channel and every timer. */
  dispose(): Promise<void>;
}

interface Conn<S> {
  id: string;
  state: S | null;
  /** Sequence number of the last state change; 0 = never had one. */
  changedAt: number;
  metadata: Metadata | null | undefined;
  /** A `metadata` push arrived: a lookup started earlier must not overwrite it. */
  metadataPushed?: boolean;
  /** Listed even without a key from this time on. */
  revealAt: number;
  /** It has taken over a held connection of its key (once). */
  claimed: boolean;
  identOf?: S | null;
  ident?: string | null;
}

interface Held<S> {
  id: string;
  key: string;
  state: S | null;
  changedAt: number;
  metadata: Metadata | null | undefined;
  until: number;
}

interface ChannelMessage {
  source: string;
  room: string;
  connectionId: string | undefined;
  state: PresenceState | null;
}

/**
 * User-level presence on top of per-connection presence: joins `room` (or only watches
 * it, with `join: false`), groups its connections per user and reports
 * `onUpdate(users)`. See `CreatePresenceOptions`.
 */
export function createPresence<S extends PresenceState = PresenceState>(options: CreatePresenceOptions<S>): PresenceHandle<S> {
  const { client, room, storageKey, stateIdentifier, onUpdate } = options;
  const join = options.join ?? true;
  if (!client || typeof client.joinRoom !== 'function') throw new MeshError(ErrorCode.invalid, 'client must be a MeshClient');
  assertRoom(room);
  if (typeof onUpdate !== 'function') throw new MeshError(ErrorCode.invalid, 'onUpdate must be a function');
  if (storageKey !== undefined && (typeof storageKey !== 'string' || storageKey === '')) {
    throw new MeshError(ErrorCode.invalid, 'storageKey must be a non-empty string');
  }
  const leaveGrace = Math.max(0, options.leaveGrace ?? 3000);
  const anonymousDelay = Math.max(0, options.anonymousDelay ?? 1000);
  const refs = roomRefsFor(client);
  const source = Math.random().toString(36).slice(2);

  const conns = new Map<string, Conn<S>>();
  const held = new Map<string, Held<S>>();
  /** Every id this client had: its old ids are "self" too while held. */
  const selfIds = new Set<string>();
  /** The last state chosen per user: kept while a new tab has none yet. */
  const sticky = new Map<string, { state: S | null; changedAt: number }>();
  const order = new Map<string, number>();
  let orderSeq = 0;
  let changeSeq = 0;
  let reported: PresenceUser<S>[] = [];
  let reportedKey = '';
  let initialised = false;
  let disposed = false;
  let flushQueued = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lease: RoomLease | undefined;
  let watch: PresenceWatch | undefined;
  let localState: S | null = null;
  /** The state the start published, and that publish: a `publish` of it waiting for `ready` is not repeated. */
  let started: { state: S; result: Promise<boolean> } | undefined;

  // ---- storage and other tabs ---------------------------------------------------------

  const storage = storageKey ? openStorage() : null;
  if (storage && storageKey) localState = parseState<S>(safeGet(storage, storageKey));

  const setLocal = (state: S | null): void => {
    localState = state;
    // a state that was not the start's: a later publish of the start's one must be sent
    if (started && state !== started.state) started = undefined;
  };

  const write = (state: S | null): void => {
    setLocal(state);
    if (!storage || !storageKey) return;
    try {
      if (state === null) storage.removeItem(storageKey);
      else storage.setItem(storageKey, JSON.stringify(state));
    } catch {
      // full or forbidden storage: the state still lives in memory
    }
  };

  /** Another tab of this user changed the state: follow it on our own connection, once. */
  const adopt = (state: S | null, connectionId: string | undefined, fromRoom: string): void => {
    if (disposed) return;
    setLocal(state);
    // the same connection already published it (two handles on one shared client)
    if (connectionId !== undefined && connectionId === client.connectionId && fromRoom === room) return;
    void ready.then((r) => {
      if (!r.success || !join || disposed || client.isClosed) return;
      // superseded (by this tab or a later message), or already sent by the start
      if (state !== localState || (state !== null && state === started?.state)) return;
      // a later publish of the start's state must go out again
      started = undefined;
      if (state === null) void client.clearPresenceState(room);
      else void client.publishPresenceState(room, { state });
    });
  };

  let channel: BroadcastChannel | null = null;
  let detachStorage: (() => void) | undefined;
  if (storageKey) {
    if (typeof BroadcastChannel === 'function') {
      channel = new BroadcastChannel(`mesh-presence:${storageKey}`);
      // Node: do not keep the process alive for this channel
      (channel as unknown as { unref?: () => void }).unref?.();
      channel.onmessage = (event: MessageEvent) => {
        const message = event.data as Partial<ChannelMessage> | null;
        if (!message || message.source === source || typeof message.room !== 'string') return;
        const state = message.state === null ? null : isPlainObject(message.state) ? (message.state as S) : undefined;
        if (state === undefined) return;
        adopt(state, typeof message.connectionId === 'string' ? message.connectionId : undefined, message.room);
      };
    } else if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
      const onStorage = (event: StorageEvent): void => {
        if (event.key !== storageKey) return;
        adopt(parseState<S>(event.newValue), undefined, '');
      };
      const win = window; // kept: the global may be gone when we detach
      win.addEventListener('storage', onStorage);
      detachStorage = () => win.removeEventListener('storage', onStorage);
    }
  }

  const broadcast = (state: S | null): void => {
    if (!channel) return;
    const message: ChannelMessage = { source, room, connectionId: client.connectionId, state };
    try {
      channel.postMessage(message);
    } catch {
      // closed channel
    }
  };

  // ---- grouping -----------------------------------------------------------------------

  const keyOf = (conn: Conn<S>): string | undefined => {
    const userId = conn.metadata?.userId;
    if (typeof userId === 'string' || typeof userId === 'number') return String(userId);
    if (!stateIdentifier) {
      const fromState = conn.state?.userId;
      return typeof fromState === 'string' || typeof fromState === 'number' ? String(fromState) : undefined;
    }
    if (conn.identOf !== conn.state) {
      const state = conn.state;
      conn.identOf = state;
      conn.ident = null;
      let result: ReturnType<NonNullable<typeof stateIdentifier>>;
      try {
        result = stateIdentifier(state, conn.id);
      } catch (error) {
        reportListenerError(error);
        result = null;
      }
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<string | null | undefined>).then(
          (key) => {
            if (conn.identOf !== state) return;
            conn.ident = key ?? null;
            schedule();
          },
          reportListenerError,
        );
      } else {
        conn.ident = (result as string | null | undefined) ?? null;
      }
    }
    return conn.ident === null || conn.ident === undefined || conn.ident === '' ? undefined : String(conn.ident);
  };

  const schedule = (): void => {
    if (flushQueued || disposed) return;
    flushQueued = true;
    // one onUpdate per batch of changes
    queueMicrotask(flush);
  };

  const flush = (): void => {
    flushQueued = false;
    if (disposed || !initialised) return;
    const now = Date.now();
    if (client.connectionId) selfIds.add(client.connectionId);
    for (const [id, h] of held) if (h.until <= now) held.delete(id);

    const groups = new Map<string, { live: Conn<S>[]; held: Held<S>[] }>();
    const group = (key: string): { live: Conn<S>[]; held: Held<S>[] } => {
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { live: [], held: [] }));
      return g;
    };
    let nextWake = Infinity;
    for (const conn of conns.values()) {
      const key = keyOf(conn);
      if (key !== undefined && !conn.claimed) {
        conn.claimed = true;
        // a new connection of a user takes the place of one in its leave grace: no flicker
        let oldest: Held<S> | undefined;
        for (const h of held.values()) if (h.key === key && (!oldest || h.until < oldest.until)) oldest = h;
        if (oldest) held.delete(oldest.id);
      }
      if (key !== undefined) group(key).live.push(conn);
      else if (conn.revealAt <= now) group(conn.id).live.push(conn);
      else nextWake = Math.min(nextWake, conn.revealAt);
    }
    for (const h of held.values()) {
      group(h.key).held.push(h);
      nextWake = Math.min(nextWake, h.until);
    }

    const users: PresenceUser<S>[] = [];
    for (const [key, g] of groups) {
      let latest: { state: S | null; changedAt: number } | undefined;
      for (const e of [...g.live, ...g.held]) {
        if (e.changedAt > 0 && (!latest || e.changedAt > latest.changedAt)) latest = { state: e.state, changedAt: e.changedAt };
      }
      // a new tab without a state yet keeps the user's last one instead of blanking it
      if (latest) sticky.set(key, latest);
      const chosen = latest ?? sticky.get(key);
      let metadata: Metadata | null = null;
      for (const e of [...g.held, ...g.live]) if (e.metadata) metadata = e.metadata;
      const connections = [...g.live.map((c) => c.id), ...g.held.map((h) => h.id)];
      const states: Record<string, S | null> = {};
      for (const c of g.live) states[c.id] = c.state;
      if (!order.has(key)) order.set(key, ++orderSeq);
      users.push({
        id: key,
        state: chosen?.state ?? null,
        tabCount: connections.length,
        connections,
        states,
        self: connections.some((id) => selfIds.has(id)),
        metadata,
      });
    }
    for (const key of [...sticky.keys()]) if (!groups.has(key)) sticky.delete(key);
    for (const key of [...order.keys()]) if (!groups.has(key)) order.delete(key);
    users.sort((a, b) => order.get(a.id)! - order.get(b.id)!);

    clearTimeout(timer);
    timer = undefined;
    if (nextWake !== Infinity) timer = setTimeout(schedule, Math.max(0, nextWake - now) + 1);

    const key = JSON.stringify(users);
    if (key === reportedKey) return;
    reportedKey = key;
    reported = users;
    try {
      onUpdate(users);
    } catch (error) {
      reportListenerError(error);
    }
  };

  const addConn = (id: string, state: S | null, metadata: Metadata | null | undefined, revealAt: number): Conn<S> => {
    const conn: Conn<S> = { id, state, changedAt: state ? ++changeSeq : 0, metadata, revealAt, claimed: false };
    conns.set(id, conn);
    if (metadata === undefined) {
      // not primed (e.g. a plain Mesh join push): look it up, the key may be in it
      void client.getConnectionMetadata(id).then((md) => {
        if (conns.get(id) !== conn || conn.metadataPushed) return;
        conn.metadata = md;
        schedule();
      });
    }
    return conn;
  };

  const onPresence = (update: PresenceUpdate): void => {
    if (disposed) return;
    const id = update.connectionId;
    switch (update.type) {
      case 'join': {
        if (conns.has(id)) return;
        const metadata = update.metadata !== undefined ? update.metadata : client.peekConnectionMetadata(id);
        addConn(id, null, metadata, Date.now() + anonymousDelay);
        break;
      }
      case 'leave': {
        const conn = conns.get(id);
        if (!conn) return;
        conns.delete(id);
        const key = keyOf(conn);
        if (key !== undefined && leaveGrace > 0) {
          held.set(id, { id, key, state: conn.state, changedAt: conn.changedAt, metadata: conn.metadata, until: Date.now() + leaveGrace });
        }
        break;
      }
      case 'state': {
        const conn = conns.get(id) ?? addConn(id, null, client.peekConnectionMetadata(id), Date.now() + anonymousDelay);
        conn.state = (update.state ?? null) as S | null;
        conn.changedAt = ++changeSeq;
        break;
      }
    }
    schedule();
  };

  /** A member's metadata changed (our server's push): its user key may change too, so regroup. */
  const offMetadata = client.on('metadata', ({ connectionId, metadata }) => {
    if (disposed) return;
    const conn = conns.get(connectionId);
    const h = held.get(connectionId);
    if (!conn && !h) return;
    if (conn) {
      conn.metadata = metadata;
      conn.metadataPushed = true;
    }
    // a held connection keeps its key (it left under it) but shows the fresh metadata
    if (h) h.metadata = metadata;
    schedule();
  });

  // ---- start ----------------------------------------------------------------------------

  const ready = (async (): Promise<{ success: boolean; error?: ResultError }> => {
    try {
      let published = Promise.resolve(true);
      if (join) {
        lease = await refs.retainRoom(room);
        if (disposed || !lease.success) return failure(lease.error);
        // publish before subscribing, so that our own state is in the snapshot
        const stored = localState;
        if (stored) {
          published = client.publishPresenceState(room, { state: stored });
          started = { state: stored, result: published };
        }
      }
      // handled now: if watchPresence throws (the client closed meanwhile) it is never awaited
      published.catch(() => undefined);
      watch = await refs.watchPresence(room, onPresence);
      await published;
      if (disposed || !watch.success) return failure(watch.error);
      for (const id of watch.snapshot.present) {
        if (!conns.has(id)) {
          // members with a state are listed at once; one without may be a tab whose first
          // state is on its way (listing it under its connection id would flash a stranger)
          const state = (watch.snapshot.states[id] as S | undefined) ?? null;
          addConn(id, state, client.peekConnectionMetadata(id), state ? 0 : Date.now() + anonymousDelay);
        }
      }
      initialised = true;
      flush();
      return { success: true };
    } catch (error) {
      if (error instanceof MeshError) return failure({ code: error.code, message: error.message });
      throw error;
    }
  })();

  return {
    ready,
    async publish(state: S): Promise<boolean> {
      if (!isPlainObject(state)) throw new MeshError(ErrorCode.invalid, 'state must be a plain object');
      if (disposed) throw new MeshError(ErrorCode.closed, 'this presence handle is disposed');
      write(state);
      broadcast(state);
      const r = await ready;
      if (!r.success || !join || disposed) return false;
      if (state !== localState) return true; // superseded: the later state is what counts
      if (state === started?.state) return started.result;
      return client.publishPresenceState(room, { state });
    },
    read(): S | null {
      if (storage && storageKey) {
        const stored = safeGet(storage, storageKey);
        return stored === null ? null : parseState<S>(stored);
      }
      return localState;
    },
    async clear(): Promise<boolean> {
      if (disposed) throw new MeshError(ErrorCode.closed, 'this presence handle is disposed');
      write(null);
      broadcast(null);
      const r = await ready;
      if (!r.success || !join || disposed) return false;
      if (localState !== null) return true; // superseded, as in publish
      // a later publish of the start's state must go out again
      started = undefined;
      return client.clearPresenceState(room);
    },
    users(): PresenceUser<S>[] {
      return reported;
    },
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      clearTimeout(timer);
      offMetadata();
      channel?.close();
      detachStorage?.();
      await ready.catch(() => undefined);
      await watch?.release();
      await lease?.release();
    },
  };
}

function failure(error: ResultError | undefined): { success: false; error?: ResultError } {
  return error ? { success: false, error } : { success: false };
}

function openStorage(): Storage | null {
  try {
    const storage = (globalThis as { localStorage?: Storage }).localStorage;
    if (!storage) return null;
    // access itself can throw (sandboxed iframes, disabled storage)
    storage.getItem('mesh-presence:probe');
    return storage;
  } catch {
    return null;
  }
}

function safeGet(storage: Storage, key: string): string | null {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function parseState<S>(text: string | null): S | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? (value as S) : null;
  } catch {
    return null;
  }
}
