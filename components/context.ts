/**
 * What `<mesh-presence-room>` provides to its descendants. Child elements consume
 * `roomContext` with `@consume({ context: roomContext, subscribe: true })` and never
 * talk to the client themselves: they read users from here and report the local
 * user's intents (typing, status) back through the methods.
 *
 * The key is a `Symbol.for` so two copies of the bundle on one page still find each
 * other's room.
 */
import { createContext } from '@lit/context';

/** Connection status as the elements show it. */
export type RoomConnectionStatus = 'connecting' | 'online' | 'reconnecting' | 'offline';

/** One person in the room: all of their tabs merged into one entry. */
export interface PresenceUser {
  /** Stable user id (server-authenticated `userId` first, else the one the client claims). */
  id: string;
  /** True for the local user (this browser's identity). */
  self: boolean;
  /** How many connections (tabs, devices) this user has in the room. */
  tabCount: number;
  name: string;
  /** Image URL, or '' when there is none. */
  avatar: string;
  /** A CSS colour for the user, or '' to derive one from the id. */
  color: string;
  /** A status value such as 'online', 'away', 'busy', 'dnd' or a custom one. */
  status: string;
  /** True while any of the user's tabs is typing (and the flag is fresh). */
  typing: boolean;
  /** The page's own fields, set through `room.setState(patch)`. */
  state: Record<string, unknown>;
  /** Connection metadata of the user's most recent connection (server-trusted). */
  metadata: Record<string, unknown> | null;
}

/** The local user's identity as the room element's attributes give it. */
export interface LocalUser {
  id: string;
  name: string;
  avatar: string;
  color: string;
}

export interface RoomContextValue {
  /** Room name, '' when the room element has none yet. */
  room: string;
  status: RoomConnectionStatus;
  /** True while the connection is down and `users` is the last known list. */
  stale: boolean;
  /** Users in display order (the room does not sort; elements decide). */
  users: readonly PresenceUser[];
  self: LocalUser;
  /** Whether the local user is joined (false with `watch-only`). */
  joined: boolean;
  /** Publish a new status for the local user, keeping identity, typing and state. */
  setStatus(status: string): void;
  /** Set or clear the local user's typing flag, keeping identity, status and state. */
  setTyping(typing: boolean): void;
  /** Merge page-owned fields into the local user's state. */
  setState(patch: Record<string, unknown>): void;
}

export const roomContext = createContext<RoomContextValue>(Symbol.for('mesh-presence/room'));
