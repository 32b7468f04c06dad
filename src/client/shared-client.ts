import { ErrorCode, type PresenceState, type PresenceUpdate } from '../protocol.js';
import { MeshError, assertRoom, type ResultError } from './errors.js';
import { MeshClient, type JoinRoomResult, type MeshClientOptions } from './mesh-client.js';
import type { PresenceCallback } from './presence-subscription.js';

/** A room join held by one consumer; the room is left when the last lease is released. */
export interface RoomLease {
  success: boolean;
  /** Connection ids present when the room was joined. */
  present: string[];
  error?: ResultError;
  /** Gives the join back (idempotent). Resolves once a resulting leave is done. */
  release(): Promise<void>;
}

/** A presence listener held by one consumer; the subscription ends with the last one. */
export interface PresenceWatch {
  success: boolean;
  /** The room's presence now, as the shared subscription knows it. */
  snapshot: { present: string[]; states: Record<string, PresenceState> };
  error?: ResultError;
  /** Removes the listener (idempotent). */
  release(): Promise<void>;
}

export type PresenceListener = (update: PresenceUpdate) => void;

interface RoomRef {
  joins: number;
  joined: Promise<JoinRoomResult> | null;
  /** Serialises join and leave of the room. */
  chain: Promise<unknown>;
}

/**
 * Reference counts for one client's rooms, so that several consumers of a room share
 * one join (the last release leaves) and one presence subscription (the last release
 * unsubscribes).
 */
export class RoomRefs {
  private readonly __rooms = new Map<string, RoomRef>();

  constructor(private readonly __client: MeshClient) {}

  /** Joins `roomName` unless this client holds it already; see `RoomLease`. */
  async retainRoom(roomName: string): Promise<RoomLease> {
    assertRoom(roomName);
    let ref = this.__rooms.get(roomName);
    if (!ref) {
      ref = { joins: 0, joined: null, chain: Promise.resolve() };
      this.__rooms.set(roomName, ref);
    }
    const entry = ref;
    entry.joins++;
    if (!entry.joined) {
      const joined = this.__serial(entry, () => this.__client.joinRoom(roomName));
      entry.joined = joined;
      // a failed join is not shared with later consumers: they try again
      void joined.then((result) => {
        if (!result.success && entry.joined === joined) entry.joined = null;
      });
    }
    const result = await entry.joined;
    if (!result.success) {
      entry.joins--;
      this.__cleanup(roomName, entry);
      const lease: RoomLease = { success: false, present: [], release: () => Promise.resolve() };
      if (result.error) lease.error = result.error;
      return lease;
    }
    let released: Promise<void> | null = null;
    return {
      success: true,
      present: result.present,
      release: () => (released ??= this.__release(roomName, entry)),
    };
  }

  private async __release(roomName: string, entry: RoomRef): Promise<void> {
    entry.joins--;
    // let a consumer that re-acquires in the same tick (an element moved in the DOM) keep the join
    await Promise.resolve();
    if (entry.joins > 0 || this.__client.isClosed) return;
    entry.joined = null;
    this.__cleanup(roomName, entry);
    await this.__serial(entry, () => this.__client.leaveRoom(roomName));
  }

  /**
   * Adds a presence listener to the room's shared subscription. A late watcher gets
   * the current snapshot from the client's cache, not from a new request.
   */
  async watchPresence(roomName: string, listener: PresenceListener): Promise<PresenceWatch> {
    assertRoom(roomName);
    if (typeof listener !== 'function') throw new MeshError(ErrorCode.invalid, 'listener must be a function');
    // a closure of its own: the same function watched twice is two watches
    const callback: PresenceCallback = (update) => listener(update);
    const result = await this.__client.subscribePresence(roomName, callback);
    if (!result.success) {
      const watch: PresenceWatch = { success: false, snapshot: { present: [], states: {} }, release: () => Promise.resolve() };
      if (result.error) watch.error = result.error;
      return watch;
    }
    let released: Promise<void> | null = null;
    return {
      success: true,
      snapshot: { present: result.present, states: result.states },
      release: () =>
        (released ??= this.__client.isClosed
          ? Promise.resolve()
          : this.__client.removePresenceListener(roomName, callback).then(() => undefined)),
    };
  }

  private __serial<T>(entry: RoomRef, op: () => Promise<T>): Promise<T> {
    const next = entry.chain.then(op, op);
    entry.chain = next.catch(() => undefined);
    return next;
  }

  private __cleanup(roomName: string, entry: RoomRef): void {
    if (entry.joins === 0 && !entry.joined && this.__rooms.get(roomName) === entry) this.__rooms.delete(roomName);
  }
}

const REFS_KEY = Symbol.for('mesh-presence/room-refs');
const CLIENTS_KEY = Symbol.for('mesh-presence/clients');

type GlobalSlots = {
  [REFS_KEY]?: WeakMap<MeshClient, RoomRefs>;
  [CLIENTS_KEY]?: Map<string, SharedClient>;
};

/**
 * The reference counts of `client`'s rooms. Kept on `globalThis`, so that two copies of
 * this bundle on one page, given the same client, count together.
 */
export function roomRefsFor(client: MeshClient): RoomRefs {
  const slots = globalThis as GlobalSlots;
  const map = (slots[REFS_KEY] ??= new WeakMap());
  let refs = map.get(client);
  if (!refs) {
    refs = new RoomRefs(client);
    map.set(client, refs);
  }
  return refs;
}

/** What `getClient` adds to a `MeshClient`. */
export interface SharedClientMethods {
  /** Joins the room for one consumer; see `RoomLease`. */
  retainRoom(roomName: string): Promise<RoomLease>;
  /** Watches the room's presence for one consumer; see `PresenceWatch`. */
  watchPresence(roomName: string, listener: PresenceListener): Promise<PresenceWatch>;
  /**
   * Gives back one `getClient` reference; the connection closes (and leaves the
   * registry) when none is left. Resolves once it closed, if it did.
   */
  release(): Promise<void>;
}

/** The page-wide client of one URL. */
export type SharedClient = MeshClient & SharedClientMethods;

class SharedMeshClient extends MeshClient implements SharedClientMethods {
  /** `getClient` calls not yet released. */
  refs = 0;
  /** Its key in the registry (the normalised URL). */
  registryKey = '';

  retainRoom(roomName: string): Promise<RoomLease> {
    return roomRefsFor(this).retainRoom(roomName);
  }

  watchPresence(roomName: string, listener: PresenceListener): Promise<PresenceWatch> {
    return roomRefsFor(this).watchPresence(roomName, listener);
  }

  async release(): Promise<void> {
    if (this.refs > 0) this.refs--;
    // a consumer re-acquiring in the same tick keeps the connection
    await Promise.resolve();
    if (this.refs > 0 || this.isClosed) return;
    const registry = clientRegistry();
    if (registry.get(this.registryKey) === this) registry.delete(this.registryKey);
    await this.close();
  }
}

/**
 * The registry key of a URL: its normalised form, so that `ws://h` and `ws://h/` (or a
 * different case of the host) share one connection. A string `URL` cannot parse is
 * used as it is (the client then reports the bad URL when it connects).
 */
export function clientKey(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

function clientRegistry(): Map<string, SharedClient> {
  const slots = globalThis as GlobalSlots;
  return (slots[CLIENTS_KEY] ??= new Map());
}

/**
 * The page-wide shared client for `url`: one connection per URL (compared in its
 * normalised form: `ws://h` and `ws://h/` are one), however many consumers (and copies
 * of this bundle) ask. `options` apply when the client is
 * created (the first call, or after it was closed); later calls get the same client.
 * Each call counts one reference; `client.release()` gives it back.
 */
export function getClient(url: string, options?: MeshClientOptions): SharedClient {
  if (typeof url !== 'string' || url === '') throw new MeshError(ErrorCode.invalid, 'url must be a non-empty string');
  const registry = clientRegistry();
  const key = clientKey(url);
  let client = registry.get(key) as (SharedClient & { refs?: number }) | undefined;
  if (!client || client.isClosed) {
    const created = new SharedMeshClient(url, options);
    created.registryKey = key;
    client = created;
    registry.set(key, client);
  }
  if (typeof client.refs === 'number') client.refs++;
  return client;
}

/** Closes and forgets every shared client (tests, or a full teardown of the page's presence). */
export async function resetClients(): Promise<void> {
  const registry = clientRegistry();
  const clients = [...registry.values()];
  registry.clear();
  await Promise.all(clients.map((client) => client.close()));
}
