/**
 * The in-memory `PresenceStore`: one process, events delivered to handlers synchronously
 * and in order. Deadlines use one `setTimeout` per state that has an `expireAfter` and per
 * member that has a ttl (Node keeps timers of one duration in a shared list, and
 * `refresh()` re-arms without allocating); members without either cost no timer.
 */
import type { Metadata, PresenceState } from '../protocol.js';
import type {
  JoinOptions,
  PresenceStore,
  RoomSnapshot,
  SetStateOptions,
  StoreEvent,
  StoreEventHandler,
} from './store.js';

interface Member {
  state: PresenceState | null;
  stateTimer: NodeJS.Timeout | undefined;
  ttlTimer: NodeJS.Timeout | undefined;
}

interface ConnectionRecord {
  metadata: Metadata | null;
  rooms: Set<string>;
}

export class MemoryStore implements PresenceStore {
  readonly #rooms = new Map<string, Map<string, Member>>();
  readonly #connections = new Map<string, ConnectionRecord>();
  readonly #roomMetadata = new Map<string, Metadata>();
  readonly #handlers = new Set<StoreEventHandler>();
  /**
   * One counter for all rooms: still monotonic per room, and unlike a per-room counter it
   * does not restart when an emptied room is deleted and later used again.
   */
  #seq = 0;

  subscribe(handler: StoreEventHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async addConnection(connectionId: string, metadata: Metadata | null): Promise<void> {
    this.#connections.set(connectionId, { metadata, rooms: new Set() });
  }

  async removeConnection(connectionId: string): Promise<string[]> {
    const record = this.#connections.get(connectionId);
    if (!record) return [];
    const rooms = [...record.rooms];
    for (const roomName of rooms) this.#removeMember(roomName, connectionId);
    this.#connections.delete(connectionId);
    return rooms;
  }

  async getConnectionMetadata(connectionId: string): Promise<Metadata | null> {
    return this.#connections.get(connectionId)?.metadata ?? null;
  }

  async setConnectionMetadata(connectionId: string, metadata: Metadata | null): Promise<boolean> {
    const record = this.#connections.get(connectionId);
    if (!record) return false;
    record.metadata = metadata;
    return true;
  }

  async join(roomName: string, connectionId: string, options: JoinOptions = {}): Promise<boolean> {
    const record = this.#connections.get(connectionId);
    if (!record) return false;
    let members = this.#rooms.get(roomName);
    const existing = members?.get(connectionId);
    if (existing) {
      existing.ttlTimer?.refresh();
      return false;
    }
    if (!members) {
      members = new Map();
      this.#rooms.set(roomName, members);
    }
    const member: Member = { state: null, stateTimer: undefined, ttlTimer: undefined };
    if (options.ttl && options.ttl > 0) {
      member.ttlTimer = setTimeout(() => this.#removeMember(roomName, connectionId, 'expired'), options.ttl);
      member.ttlTimer.unref();
    }
    members.set(connectionId, member);
    record.rooms.add(roomName);
    this.#emit({
      type: 'join',
      roomName,
      connectionId,
      metadata: record.metadata,
      timestamp: Date.now(),
      seq: ++this.#seq,
    });
    return true;
  }

  async leave(roomName: string, connectionId: string): Promise<boolean> {
    return this.#removeMember(roomName, connectionId);
  }

  async refresh(roomName: string, connectionId: string): Promise<boolean> {
    const member = this.#rooms.get(roomName)?.get(connectionId);
    if (!member) return false;
    member.ttlTimer?.refresh();
    return true;
  }

  async roomsOf(connectionId: string): Promise<string[]> {
    const record = this.#connections.get(connectionId);
    return record ? [...record.rooms] : [];
  }

  async snapshot(roomName: string): Promise<RoomSnapshot> {
    const present: string[] = [];
    const states: Record<string, PresenceState> = {};
    const metadata: Record<string, Metadata | null> = {};
    const members = this.#rooms.get(roomName);
    if (members) {
      for (const [id, member] of members) {
        present.push(id);
        if (member.state) states[id] = member.state;
        metadata[id] = this.#connections.get(id)?.metadata ?? null;
      }
    }
    return { present, states, metadata, seq: this.#seq };
  }

  async setState(
    roomName: string,
    connectionId: string,
    state: PresenceState,
    options: SetStateOptions = {},
  ): Promise<boolean> {
    const member = this.#rooms.get(roomName)?.get(connectionId);
    if (!member) return false;
    if (member.stateTimer) clearTimeout(member.stateTimer);
    member.stateTimer = undefined;
    member.state = state;
    if (options.expireAfter !== undefined) {
      member.stateTimer = setTimeout(() => {
        member.stateTimer = undefined;
        // The member may have left or published again since; only its own state expires.
        if (this.#rooms.get(roomName)?.get(connectionId) !== member || member.state !== state) return;
        member.state = null;
        this.#emitState(roomName, connectionId, null);
      }, options.expireAfter);
      member.stateTimer.unref();
    }
    if (!options.silent) this.#emitState(roomName, connectionId, state);
    return true;
  }

  async clearState(roomName: string, connectionId: string): Promise<boolean> {
    const member = this.#rooms.get(roomName)?.get(connectionId);
    if (!member) return false;
    if (member.stateTimer) clearTimeout(member.stateTimer);
    member.stateTimer = undefined;
    member.state = null;
    this.#emitState(roomName, connectionId, null);
    return true;
  }

  async getRoomMetadata(roomName: string): Promise<Metadata | null> {
    return this.#roomMetadata.get(roomName) ?? null;
  }

  async setRoomMetadata(roomName: string, metadata: Metadata | null): Promise<void> {
    if (metadata === null) this.#roomMetadata.delete(roomName);
    else this.#roomMetadata.set(roomName, metadata);
  }

  async roomCount(): Promise<number> {
    return this.#rooms.size;
  }

  async close(): Promise<void> {
    for (const members of this.#rooms.values()) {
      for (const member of members.values()) {
        if (member.stateTimer) clearTimeout(member.stateTimer);
        if (member.ttlTimer) clearTimeout(member.ttlTimer);
      }
    }
    this.#rooms.clear();
    this.#connections.clear();
    this.#handlers.clear();
  }

  #removeMember(roomName: string, connectionId: string, reason: 'left' | 'expired' = 'left'): boolean {
    const members = this.#rooms.get(roomName);
    const member = members?.get(connectionId);
    if (!members || !member) return false;
    if (member.stateTimer) clearTimeout(member.stateTimer);
    if (member.ttlTimer) clearTimeout(member.ttlTimer);
    members.delete(connectionId);
    if (members.size === 0) this.#rooms.delete(roomName);
    this.#connections.get(connectionId)?.rooms.delete(roomName);
    this.#emit({ type: 'leave', roomName, connectionId, timestamp: Date.now(), seq: ++this.#seq, reason });
    return true;
  }

  #emitState(roomName: string, connectionId: string, state: PresenceState | null): void {
    this.#emit({ type: 'state', roomName, connectionId, state, timestamp: Date.now(), seq: ++this.#seq });
  }

  #emit(event: StoreEvent): void {
    for (const handler of this.#handlers) handler(event);
  }
}
