/**
 * Pure functions that turn the client's per-user groups (from `createPresence`) into the
 * `PresenceUser` entries the elements show, and that tell what changed between two lists.
 */
import type { PresenceUser as GroupedUser } from '../../src/client/index.js';
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
   * states are not re-announced) and restart their timeout with.
   */
  typingAt?: number;
  /** The page's own fields (`room.setState(patch)`). */
  state: Record<string, unknown>;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const obj = (value: unknown): Record<string, unknown> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/**
 * One user entry. Identity (name, avatar, colour) from the server-trusted metadata wins
 * over what the client claims in its state; status and page fields come from the tab
 * that changed last (`group.state`); `typing` (any tab's fresh flag) is the room's to tell.
 */
export function toPresenceUser(group: GroupedUser, selfId: string, typing: boolean): PresenceUser {
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
    typing,
    state: { ...(obj(st.state) ?? {}) },
    metadata: group.metadata,
  };
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
