/**
 * Pure functions that turn the client's per-user groups (from `createPresence`) into the
 * `PresenceUser` entries the elements show, and that tell what changed between two lists.
 */
import type { PresenceUser as GroupedUser, PresenceState } from '../../src/client/index.js';
import type { PresenceUser } from '../context.js';

/** Default receiver-side timeout of a typing flag, ms (the typist republishes every ~2 s). */
export const DEFAULT_TYPING_TIMEOUT = 8_000;

/**
 * What the room publishes for the local user, on each of its connections. Identity,
 * status and typing live side by side so that changing one never wipes the others.
 */
export interface ComposedState {
  userId: string;
  name: string;
  avatar: string;
  color: string;
  status: string;
  typing: boolean;
  /**
   * When the typist last said `typing: true` (its own clock). It changes on every
   * typing refresh, so that a refresh is a new state that receivers see (identical
   * states are not re-announced) and can restart their timeout with.
   */
  typingAt?: number;
  /** The page's own fields (`room.setState(patch)`). */
  state: Record<string, unknown>;
}

/** What the room knows about one connection beyond its group. */
export interface ConnectionInfo {
  state: PresenceState | null;
  /** Local time at which this connection's latest `typing: true` arrived (0: never). */
  typingAt: number;
  /** Local time at which the room first saw this connection. */
  seenAt: number;
}

/** How long a connection without any identity (no state, no metadata) stays unlisted, ms. */
export const ANONYMOUS_DELAY = 1_000;

/**
 * Until when `group` stays hidden, or 0 to show it: a lone connection that has said
 * nothing yet (no state, no metadata `userId`) is most likely a tab whose first state is on
 * its way; listing it under its connection id would flash a stranger that then turns into
 * the real user. (`createPresence` waits like this for joins, not for members that were
 * already in its first snapshot.)
 */
export function hiddenUntil(group: GroupedUser, connections: ReadonlyMap<string, ConnectionInfo>): number {
  if (group.state !== null || group.tabCount !== 1 || group.connections[0] !== group.id) return 0;
  if (group.metadata && group.metadata.userId !== undefined) return 0;
  const info = connections.get(group.id);
  return info ? info.seenAt + ANONYMOUS_DELAY : 0;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const obj = (value: unknown): Record<string, unknown> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/** True when the connection's typing flag is set and fresh at `now`. */
export function isTyping(info: ConnectionInfo | undefined, now: number, timeout: number): boolean {
  return info?.state?.typing === true && now - info.typingAt < timeout;
}

/**
 * One user entry. Identity (name, avatar, colour) from the server-trusted metadata wins
 * over what the client claims in its state; status and page fields come from the tab
 * that changed last (`group.state`); typing is true if any tab's flag is fresh.
 */
export function toPresenceUser(
  group: GroupedUser,
  connections: ReadonlyMap<string, ConnectionInfo>,
  selfId: string,
  now: number,
  typingTimeout: number,
): PresenceUser {
  const md = group.metadata ?? {};
  const st = obj(group.state) ?? {};
  return {
    id: group.id,
    self: group.self || group.id === selfId,
    tabCount: group.tabCount,
    name: str(md.name) ?? str(md.username) ?? str(st.name) ?? '',
    avatar: str(md.avatar) ?? str(st.avatar) ?? '',
    color: str(md.color) ?? str(st.color) ?? '',
    status: str(st.status) ?? 'online',
    typing: group.connections.some((id) => isTyping(connections.get(id), now, typingTimeout)),
    state: { ...(obj(st.state) ?? {}) },
    metadata: group.metadata,
  };
}

/** The earliest time at which a fresh typing flag among `connections` goes stale, or Infinity. */
export function nextTypingExpiry(connections: ReadonlyMap<string, ConnectionInfo>, now: number, timeout: number): number {
  let next = Infinity;
  for (const info of connections.values()) {
    if (isTyping(info, now, timeout)) next = Math.min(next, info.typingAt + timeout);
  }
  return next;
}

export interface UsersDiff {
  joined: PresenceUser[];
  left: PresenceUser[];
  changed: Array<{ user: PresenceUser; previous: PresenceUser }>;
}

/** Who appeared, who is gone, whose entry changed, from `previous` to `next`. */
export function diffUsers(previous: readonly PresenceUser[], next: readonly PresenceUser[]): UsersDiff {
  const before = new Map(previous.map((u) => [u.id, u]));
  const after = new Set(next.map((u) => u.id));
  const diff: UsersDiff = { joined: [], left: [], changed: [] };
  for (const user of next) {
    const old = before.get(user.id);
    if (!old) diff.joined.push(user);
    else if (JSON.stringify(old) !== JSON.stringify(user)) diff.changed.push({ user, previous: old });
  }
  for (const user of previous) if (!after.has(user.id)) diff.left.push(user);
  return diff;
}
