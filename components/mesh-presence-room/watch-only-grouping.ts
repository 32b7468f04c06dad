/**
 * Per-user grouping for a `watch-only` room. `createPresence` always joins the room, and a
 * watch-only room must not; so this groups the connections of a presence watch itself,
 * with the same rules: key = metadata `userId`, else `state.userId`, else (after a short
 * wait for a state) the connection id; the state of the tab that changed last; a user
 * whose last connection left stays for `leaveGrace` ms and a new connection of theirs
 * takes that place without a leave.
 */
import type { Metadata, PresenceState, PresenceUpdate, PresenceUser as GroupedUser } from '../../src/client/index.js';

interface Conn {
  id: string;
  state: PresenceState | null;
  changedAt: number;
  metadata: Metadata | null;
  /** Listed without a key from this time on. */
  revealAt: number;
}

interface Held extends Conn {
  key: string;
  until: number;
}

const ANONYMOUS_DELAY = 1_000;

export class WatchOnlyGrouping {
  private readonly __conns = new Map<string, Conn>();
  private readonly __held = new Map<string, Held>();
  private readonly __order = new Map<string, number>();
  private __seq = 0;
  private __orderSeq = 0;
  private __timer: ReturnType<typeof setTimeout> | undefined;
  private __disposed = false;

  constructor(
    private readonly __leaveGrace: number,
    private readonly __metadataOf: (id: string) => Metadata | null | undefined,
    private readonly __onUpdate: (users: GroupedUser[]) => void,
  ) {}

  /** Starts from a watch snapshot (the members present now are listed at once). */
  init(snapshot: { present: string[]; states: Record<string, PresenceState> }): void {
    for (const id of snapshot.present) this.__add(id, snapshot.states[id] ?? null, 0);
    this.__flush();
  }

  apply(update: PresenceUpdate): void {
    if (this.__disposed) return;
    const id = update.connectionId;
    if (update.type === 'join') {
      if (!this.__conns.has(id)) this.__add(id, null, Date.now() + ANONYMOUS_DELAY, update.metadata);
    } else if (update.type === 'leave') {
      const conn = this.__conns.get(id);
      if (!conn) return;
      this.__conns.delete(id);
      const key = keyOf(conn);
      if (key !== undefined && this.__leaveGrace > 0) {
        this.__held.set(id, { ...conn, key, until: Date.now() + this.__leaveGrace });
      }
    } else {
      const conn = this.__conns.get(id) ?? this.__add(id, null, Date.now() + ANONYMOUS_DELAY);
      conn.state = update.state ?? null;
      conn.changedAt = ++this.__seq;
    }
    this.__flush();
  }

  dispose(): void {
    this.__disposed = true;
    clearTimeout(this.__timer);
  }

  private __add(id: string, state: PresenceState | null, revealAt: number, metadata?: unknown): Conn {
    const md = metadata !== undefined ? metadata : this.__metadataOf(id);
    const conn: Conn = {
      id,
      state,
      changedAt: state ? ++this.__seq : 0,
      metadata: md && typeof md === 'object' ? (md as Metadata) : null,
      revealAt,
    };
    this.__conns.set(id, conn);
    // a new connection of a held user takes its place: no leave, no join
    const key = keyOf(conn);
    if (key !== undefined) for (const [heldId, h] of this.__held) if (h.key === key) this.__held.delete(heldId);
    return conn;
  }

  private __flush(): void {
    if (this.__disposed) return;
    const now = Date.now();
    for (const [id, h] of this.__held) if (h.until <= now) this.__held.delete(id);
    const groups = new Map<string, Conn[]>();
    let wake = Infinity;
    const add = (key: string, conn: Conn): void => {
      const list = groups.get(key);
      if (list) list.push(conn);
      else groups.set(key, [conn]);
    };
    for (const conn of this.__conns.values()) {
      const key = keyOf(conn);
      if (key !== undefined) {
        // the state arrived: a held connection of the same user is replaced
        for (const [heldId, h] of this.__held) if (h.key === key) this.__held.delete(heldId);
        add(key, conn);
      } else if (conn.revealAt <= now) add(conn.id, conn);
      else wake = Math.min(wake, conn.revealAt);
    }
    for (const h of this.__held.values()) {
      add(h.key, h);
      wake = Math.min(wake, h.until);
    }
    const users: GroupedUser[] = [];
    for (const [key, conns] of groups) {
      let latest: Conn | undefined;
      let metadata: Metadata | null = null;
      for (const c of conns) {
        if (c.changedAt > 0 && (!latest || c.changedAt > latest.changedAt)) latest = c;
        if (c.metadata) metadata = c.metadata;
      }
      if (!this.__order.has(key)) this.__order.set(key, ++this.__orderSeq);
      users.push({
        id: key,
        state: latest?.state ?? null,
        tabCount: conns.length,
        connections: conns.map((c) => c.id),
        self: false,
        metadata,
      });
    }
    for (const key of [...this.__order.keys()]) if (!groups.has(key)) this.__order.delete(key);
    users.sort((a, b) => this.__order.get(a.id)! - this.__order.get(b.id)!);
    clearTimeout(this.__timer);
    if (wake !== Infinity) this.__timer = setTimeout(() => this.__flush(), Math.max(0, wake - now) + 1);
    this.__onUpdate(users);
  }
}

function keyOf(conn: Conn): string | undefined {
  const fromMetadata = conn.metadata?.userId;
  if (typeof fromMetadata === 'string' || typeof fromMetadata === 'number') return String(fromMetadata);
  const fromState = conn.state?.userId;
  if (typeof fromState === 'string' || typeof fromState === 'number') return String(fromState);
  return undefined;
}
