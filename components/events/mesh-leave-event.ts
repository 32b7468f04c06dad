import type { PresenceUser } from '../context.js';

/** Detail of {@link MeshLeaveEvent}. */
export interface MeshLeaveEventDetail {
  /** The room the event comes from. */
  room: string;
  /** The user as they were last seen. */
  user: PresenceUser;
}

/**
 * Fired by `<mesh-presence-room>` when a user is gone: their last tab left and the
 * leave grace window passed without them coming back (so a page reload fires nothing).
 * Also fired for every listed user when the element stops showing the room: its `room`,
 * `url` or `watch-only` changed, or it was removed (then only listeners on the element
 * itself hear it).
 */
export class MeshLeaveEvent extends CustomEvent<MeshLeaveEventDetail> {
  static readonly eventName = 'mesh-leave' as const;

  constructor(detail: MeshLeaveEventDetail) {
    super(MeshLeaveEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-leave': MeshLeaveEvent;
  }
}
