import type { PresenceUser } from '../context.js';

/** Detail of {@link MeshStateEvent}. */
export interface MeshStateEventDetail {
  /** The room the event comes from. */
  room: string;
  /** The user as they are now. */
  user: PresenceUser;
  /** The same user before the change. */
  previous: PresenceUser;
}

/**
 * Fired by `<mesh-presence-room>` when a present user's merged entry changes: name,
 * avatar, colour, status, typing, page state, metadata or tab count.
 */
export class MeshStateEvent extends CustomEvent<MeshStateEventDetail> {
  static readonly eventName = 'mesh-state' as const;

  constructor(detail: MeshStateEventDetail) {
    super(MeshStateEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-state': MeshStateEvent;
  }
}
