import type { PresenceUser } from '../context.js';

/** Detail of {@link MeshJoinEvent}. */
export interface MeshJoinEventDetail {
  /** The room the event comes from. */
  room: string;
  /** The user as they are now. */
  user: PresenceUser;
}

/**
 * Fired by `<mesh-presence-room>` when a user appears in the room (their first tab
 * joined; further tabs of the same user only change `tabCount`). Also fired for every user
 * already present when the element starts showing a room (first, or after its `room` /
 * `url` changed), but not again for users it kept through a reconnect.
 */
export class MeshJoinEvent extends CustomEvent<MeshJoinEventDetail> {
  static readonly eventName = 'mesh-join' as const;

  constructor(detail: MeshJoinEventDetail) {
    super(MeshJoinEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-join': MeshJoinEvent;
  }
}
