/**
 * The storage behind a presence server.
 *
 * The store owns every piece of shared presence data — room members, their states, the
 * metadata of connections and rooms — and the event bus that carries presence events.
 * The server owns sockets only: it keeps, per instance, which of its own connections
 * subscribe to which room, and turns each store event into one serialised frame that it
 * writes to those sockets.
 *
 * The interface is asynchronous throughout so that a Redis implementation (issue 4) fits
 * it unchanged:
 * - every mutation emits its events through the bus itself (Redis: one PUBLISH per
 *   event, received by every instance, including the one that made the change);
 * - every event carries a per-room sequence number, and `snapshot()` returns the
 *   sequence number it reflects, so a server merges a snapshot with the live events that
 *   raced with it without duplicates or gaps (drop events with `seq <= snapshot.seq`);
 * - deadlines (`expireAfter` of states, the presence `ttl` of members) live in the store,
 *   so that whichever instance survives enforces them;
 * - `instanceId` tags connections, so a store can remove every connection of a crashed
 *   instance (Redis: instance heartbeat keys). The memory store has one instance only.
 *
 * Contract for implementations:
 * - events of one room reach every handler in the order of their `seq`;
 * - for one member, `join` precedes any `state`, which precedes `leave`;
 * - a removed member's state is removed with it (no `state: null` is emitted for it:
 *   the `leave` says it all);
 * - methods never throw for "not a member" cases; they answer `false` instead.
 */
import type { Metadata, PresenceState } from '../protocol.js';

/** A presence event as the store emits it. The server adds nothing but the frame around it. */
export type StoreEvent =
  | {
      type: 'join';
      roomName: string;
      connectionId: string;
      /** The joiner's connection metadata at join time (extension on the wire). */
      metadata: Metadata | null;
      timestamp: number;
      seq: number;
    }
  | {
      type: 'leave';
      roomName: string;
      connectionId: string;
      timestamp: number;
      seq: number;
      /**
       * Why, when the store knows: `left` (asked for, or the connection went), `expired`
       * (its presence ttl ran out), `swept` (its server instance was judged dead). Only an
       * `expired` leave tells a server something about its own connection it did not do.
       */
      reason?: 'left' | 'expired' | 'swept';
    }
  | {
      type: 'state';
      roomName: string;
      connectionId: string;
      /** `null` when cleared or expired. */
      state: PresenceState | null;
      timestamp: number;
      seq: number;
    };

/** A room's presence at one moment. */
export interface RoomSnapshot {
  /** Member connection ids, in join order. */
  present: string[];
  /** States of the members that have one. */
  states: Record<string, PresenceState>;
  /** Connection metadata of each member (`null` when it has none). */
  metadata: Record<string, Metadata | null>;
  /** Sequence number of the last event of this room that the snapshot includes (0: none yet). */
  seq: number;
}

export interface JoinOptions {
  /**
   * Presence time-to-live in ms: without a `refresh()` within it, the member is removed
   * (with a `leave`). 0 or absent: the membership lasts until `leave`/`removeConnection`.
   */
  ttl?: number;
}

export interface SetStateOptions {
  /** Milliseconds after which the store drops the state and emits `state: null`. */
  expireAfter?: number;
  /** Store the state without emitting an event. */
  silent?: boolean;
  /**
   * The state as JSON, when the caller has it already (the server serialises it to check its
   * size): a store that keeps JSON (Redis) uses it instead of serialising again.
   */
  json?: string;
}

export type StoreEventHandler = (event: StoreEvent) => void;

export interface PresenceStore {
  /**
   * Registers the handler that receives every event of every room (from every instance
   * sharing the store). Returns a function that removes it. Handlers must not throw.
   */
  subscribe(handler: StoreEventHandler): () => void;

  /** Registers a live connection with its initial metadata (from authentication, or null). */
  addConnection(connectionId: string, metadata: Metadata | null, instanceId: string): Promise<void>;
  /**
   * Forgets a connection: leaves every room it is in (emitting `leave` for each, states
   * removed) and drops its metadata. Resolves with the rooms it left.
   */
  removeConnection(connectionId: string): Promise<string[]>;
  /** The connection's metadata; `null` when it has none or is unknown. */
  getConnectionMetadata(connectionId: string): Promise<Metadata | null>;
  /** Replaces the connection's metadata whole (the server computes merges). False if unknown. */
  setConnectionMetadata(connectionId: string, metadata: Metadata | null): Promise<boolean>;

  /**
   * Adds the connection to the room's presence and emits `join` (with its metadata).
   * Resolves `false` when it was already a member (no event; its ttl is refreshed).
   */
  join(roomName: string, connectionId: string, options?: JoinOptions): Promise<boolean>;
  /** Removes a member (and its state), emitting `leave`. False when it was not a member. */
  leave(roomName: string, connectionId: string): Promise<boolean>;
  /** Renews a member's ttl. False when it is not a member. */
  refresh(roomName: string, connectionId: string): Promise<boolean>;
  /** Rooms whose presence the connection is in. */
  roomsOf(connectionId: string): Promise<string[]>;
  /** The room's presence now. An unknown room is an empty snapshot. */
  snapshot(roomName: string): Promise<RoomSnapshot>;

  /**
   * Replaces a member's state whole and emits `state` (unless `silent`). A previous
   * `expireAfter` deadline is cancelled; a new one is set when given. False when the
   * connection is not a member.
   */
  setState(roomName: string, connectionId: string, state: PresenceState, options?: SetStateOptions): Promise<boolean>;
  /**
   * Removes a member's state and emits `state: null` (even when it had none, so that a
   * client's explicit clear is always confirmed). False when not a member.
   */
  clearState(roomName: string, connectionId: string): Promise<boolean>;

  getRoomMetadata(roomName: string): Promise<Metadata | null>;
  /** Replaces a room's metadata (`null` removes it). */
  setRoomMetadata(roomName: string, metadata: Metadata | null): Promise<void>;

  /** Number of rooms that have at least one member. */
  roomCount(): Promise<number>;

  /** Clears every timer and handler. Data of a shared store (Redis) is left to its owners. */
  close(): Promise<void>;

  /**
   * Optional: resolves once the store can serve (Redis: first connection made). `listen()`
   * waits for it, so a server announces its URL only when it works.
   */
  ready?(): Promise<void>;
  /**
   * Optional, for stores whose event delivery can miss events (Redis pub/sub across a
   * reconnect): registers a handler called when events may have been lost. The server
   * then compares what its subscribers were told with fresh snapshots and sends the
   * differences. Returns a function that removes it.
   */
  onResync?(handler: () => void): () => void;
  /**
   * Optional, for stores shared by several instances: registers a handler called on every
   * instance (the changing one included) when a connection's metadata changed, with the
   * rooms it is in, so that each instance pushes `mesh/metadata-update` to its own
   * connections that may read it. Without it the server pushes from the changing instance.
   */
  onMetadataUpdate?(handler: (connectionId: string, metadata: Metadata | null, rooms: string[]) => void): () => void;
}
