/**
 * Serialises snapshot replies (`join-room`, `subscribe-presence`, `get-presence-state`)
 * without re-serialising the whole member list each time.
 *
 * When many clients join one room, each join reply lists every member: serialised from
 * scratch, a storm of N joins costs O(N²) in JSON work. Rooms mostly grow at the end
 * (members are listed in join order), so the encoder keeps, per room, the JSON of the
 * member list and of the metadata map it wrote last, and when the next snapshot starts
 * with the same members carrying the same metadata objects it only appends the newcomers.
 * Anything else (a member left, a metadata object was replaced) rebuilds the room's
 * encoding. Checking the prefix costs one comparison per member, much less than
 * serialising it; and the check is made against the snapshot itself, so whatever the store
 * did (expiries, another instance's changes) the bytes always match the snapshot.
 *
 * Metadata objects are compared by identity: the server never modifies one in place (a
 * change replaces it), and a store hands out the same object while it is unchanged or a
 * new one (which only costs a rebuild).
 *
 * States are serialised from the snapshot every time: they change far more often than
 * membership, and only rooms whose members publish have any.
 *
 * A kept encoding costs about 60 bytes per member. Encodings of rooms nobody asked about
 * for a whole `sweepInterval` are dropped, so that idle rooms hold no copy of their list.
 */
import type { Metadata } from '../protocol.js';
import type { RoomSnapshot } from './store.js';

interface RoomEncoding {
  /** Member ids encoded so far, in order (the snapshots' own strings: equal ones compare in one step). */
  ids: string[];
  /** Their metadata, as the snapshot gave it (compared by identity). */
  metadata: Array<Metadata | null>;
  /** `"id1","id2"` — the inside of the `present` array, in chunks (see `append`). */
  present: string[];
  /** `"id1":null,"id2":{…}` — the inside of the `metadata` object, in chunks. */
  metadataMap: string[];
  /** Asked for since the last sweep. */
  used: boolean;
}

/**
 * Appends `chunk` to `chunks`, merging the last chunks while the newest is at least as long
 * as the one before it (as a binary counter carries). A room's encoding thus stays a few
 * chunks (about log2 of its appends) and each member's JSON is copied O(log N) times in
 * all. Rewriting one string per append would copy O(N) per join: O(N²) garbage over a
 * storm, and since the kept strings outlive the young generation, garbage that lands in
 * the old one, where it costs RSS long after.
 */
function append(chunks: string[], chunk: string): void {
  chunks.push(chunk);
  while (chunks.length >= 2 && chunks[chunks.length - 1]!.length >= chunks[chunks.length - 2]!.length) {
    const last = chunks.pop()!;
    // join() makes a flat string; `+` would make a rope that every reply walks again
    chunks[chunks.length - 1] = [chunks[chunks.length - 1], last].join(',');
  }
}

export class SnapshotEncoder {
  readonly #rooms = new Map<string, RoomEncoding>();
  #sweeper: NodeJS.Timeout | undefined;
  /** Member entries serialised (for tests: appends serialise only the newcomers). */
  membersEncoded = 0;

  /** `sweepInterval`: ms after which an unused room encoding is dropped (at most twice that). */
  constructor(readonly sweepInterval = 10_000) {}

  /**
   * The reply payload as JSON: `{"success":true,"present":[…],"metadata":{…}}`, with
   * `"states":{…}` before `metadata` when `withStates`. The metadata map has one entry per
   * member of `present`, in that order (`null` when the snapshot has none), so these are
   * the bytes `JSON.stringify` gives for a snapshot as the stores build it.
   */
  encode(roomName: string, snapshot: RoomSnapshot, withStates: boolean): string {
    const room = this.#update(roomName, snapshot);
    const states = withStates ? `,"states":${JSON.stringify(snapshot.states)}` : '';
    return `{"success":true,"present":[${room.present.join(',')}]${states},"metadata":{${room.metadataMap.join(',')}}}`;
  }

  /** Drops every encoding and stops the sweep timer. */
  clear(): void {
    this.#rooms.clear();
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #update(roomName: string, snapshot: RoomSnapshot): RoomEncoding {
    const { present, metadata } = snapshot;
    let room = this.#rooms.get(roomName);
    if (room && !this.#extends(room, present, metadata)) room = undefined;
    if (!room) {
      room = { ids: [], metadata: [], present: [], metadataMap: [], used: true };
      this.#rooms.set(roomName, room);
      this.#startSweeper();
    }
    room.used = true;
    const from = room.ids.length;
    if (present.length > from) {
      const keys: string[] = [];
      const entries: string[] = [];
      for (let i = from; i < present.length; i++) {
        const id = present[i]!;
        // own entries only: an id such as "constructor" must not find Object.prototype's
        const md = Object.hasOwn(metadata, id) ? (metadata[id] ?? null) : null;
        const key = JSON.stringify(id);
        keys.push(key);
        entries.push(`${key}:${md === null ? 'null' : JSON.stringify(md)}`);
        room.ids.push(id);
        room.metadata.push(md);
      }
      this.membersEncoded += present.length - from;
      append(room.present, keys.join(','));
      append(room.metadataMap, entries.join(','));
    }
    return room;
  }

  /** Whether `present` starts with exactly the members encoded in `room`, with the same metadata. */
  #extends(room: RoomEncoding, present: string[], metadata: Record<string, Metadata | null>): boolean {
    const { ids } = room;
    if (present.length < ids.length) return false;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (present[i] !== id || (metadata[id] ?? null) !== room.metadata[i]) return false;
    }
    return true;
  }

  #startSweeper(): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      for (const [roomName, room] of this.#rooms) {
        if (room.used) room.used = false;
        else this.#rooms.delete(roomName);
      }
      if (this.#rooms.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, this.sweepInterval);
    this.#sweeper.unref();
  }
}
