import { jsonEqual, type Metadata, type PresenceState, type PresenceUpdate } from '../protocol.js';
import { reportListenerError } from './emitter.js';
import type { NormalizedSnapshot } from './snapshot.js';

/** A presence callback; may be async, a rejection is reported, not swallowed. */
export type PresenceCallback = (update: PresenceUpdate) => void | Promise<void>;

/**
 * One room's presence subscription on the client: the callbacks and the members (with
 * their states) that those callbacks were last told about. Every update goes through
 * `apply`, which drops what the callbacks already know, so that a snapshot racing with
 * pushes, or a reconnect, never yields ghost or duplicate members.
 */
export class PresenceSubscription {
  readonly callbacks = new Set<PresenceCallback>();
  /** Members the callbacks know, with their last state (`null`: none). */
  members = new Map<string, PresenceState | null>();
  /** True once the first snapshot arrived. */
  live = false;
  /** Pushes that arrived while a snapshot was in flight; replayed after it. */
  buffer: PresenceUpdate[] | null = [];
  /** The first subscribe; later subscribers wait for it. */
  ready!: Promise<unknown>;

  constructor(
    readonly roomName: string,
    private readonly __metadataOf: (id: string) => Metadata | null | undefined,
    private readonly __onLeave: (id: string) => void,
  ) {}

  /** `{present, states}` as the callbacks know it. */
  snapshot(): { present: string[]; states: Record<string, PresenceState> } {
    const states: Record<string, PresenceState> = {};
    for (const [id, state] of this.members) if (state) states[id] = state;
    return { present: [...this.members.keys()], states };
  }

  /** Takes the first snapshot as the known members, then replays buffered pushes. */
  init(snapshot: NormalizedSnapshot): void {
    this.members = new Map(snapshot.present.map((id) => [id, snapshot.states[id] ?? null]));
    this.live = true;
    this.__drain();
  }

  /**
   * Brings the callbacks from what they know to `snapshot` (after a reconnect): `leave`
   * for members gone, `join` (with metadata) and `state` for new ones, `state` for
   * changed states. Then replays buffered pushes.
   */
  reconcile(snapshot: NormalizedSnapshot): void {
    const now = Date.now();
    const next = new Map(snapshot.present.map((id) => [id, snapshot.states[id] ?? null]));
    for (const id of [...this.members.keys()]) {
      if (!next.has(id)) this.apply({ type: 'leave', connectionId: id, roomName: this.roomName, timestamp: now });
    }
    for (const [id, state] of next) {
      if (!this.members.has(id)) {
        this.apply({ type: 'join', connectionId: id, roomName: this.roomName, timestamp: now });
        if (state) this.apply({ type: 'state', connectionId: id, roomName: this.roomName, state, timestamp: now });
      } else if (!jsonEqual(this.members.get(id), state)) {
        this.apply({ type: 'state', connectionId: id, roomName: this.roomName, state, timestamp: now });
      }
    }
    this.__drain();
  }

  /** Tells the callbacks that every known member is gone (the subscription ended). */
  dropAll(): void {
    const now = Date.now();
    for (const id of [...this.members.keys()]) {
      this.apply({ type: 'leave', connectionId: id, roomName: this.roomName, timestamp: now });
    }
  }

  /** Handles a push: buffered while a snapshot is in flight, else applied. */
  push(update: PresenceUpdate): void {
    if (this.buffer) this.buffer.push(update);
    else this.apply(update);
  }

  private __drain(): void {
    const buffered = this.buffer ?? [];
    this.buffer = null;
    for (const update of buffered) this.apply(update);
  }

  /** Applies one update to `members` and tells the callbacks, unless it is known. */
  apply(update: PresenceUpdate): void {
    const id = update.connectionId;
    switch (update.type) {
      case 'join': {
        if (this.members.has(id)) return;
        this.members.set(id, null);
        this.__dispatch(withMetadata(update, this.__metadataOf(id)));
        return;
      }
      case 'leave': {
        if (!this.members.has(id)) return;
        this.members.delete(id);
        this.__onLeave(id);
        this.__dispatch(update);
        return;
      }
      case 'state': {
        const state = update.state ?? null;
        if (!this.members.has(id)) {
          // a state of someone we never saw join (a snapshot race): announce them first
          if (state === null) return;
          this.members.set(id, null);
          this.__dispatch(
            withMetadata({ type: 'join', connectionId: id, roomName: update.roomName, timestamp: update.timestamp }, this.__metadataOf(id)),
          );
        }
        if (jsonEqual(this.members.get(id), state)) return;
        this.members.set(id, state);
        this.__dispatch({ ...update, state });
        return;
      }
    }
  }

  private __dispatch(update: PresenceUpdate): void {
    for (const callback of [...this.callbacks]) {
      try {
        const result = callback(update);
        if (result && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).then(undefined, reportListenerError);
        }
      } catch (error) {
        reportListenerError(error);
      }
    }
  }
}

function withMetadata(update: PresenceUpdate, metadata: Metadata | null | undefined): PresenceUpdate {
  if (update.metadata !== undefined || metadata === undefined) return update;
  return { ...update, metadata };
}
