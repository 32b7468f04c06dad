import type { PresenceUser } from '../context.js';

/** Detail of {@link MeshUsersChangeEvent}. */
export interface MeshUsersChangeEventDetail {
  /** The room the event comes from. */
  room: string;
  /** All users now in the room, the local user included (unless watch-only). */
  users: readonly PresenceUser[];
}

/**
 * Fired by `<mesh-presence-room>` whenever its `users` list changes, after the
 * `mesh-join` / `mesh-leave` / `mesh-state` events of the same change.
 */
export class MeshUsersChangeEvent extends CustomEvent<MeshUsersChangeEventDetail> {
  static readonly eventName = 'mesh-users-change' as const;

  constructor(detail: MeshUsersChangeEventDetail) {
    super(MeshUsersChangeEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-users-change': MeshUsersChangeEvent;
  }
}
