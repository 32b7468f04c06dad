/** Detail of {@link MeshErrorEvent}. */
export interface MeshErrorEventDetail {
  /** The room the event comes from ('' when the room has no name yet). */
  room: string;
  /** A stable error code: the server's (`EFORBIDDEN`, `ERATELIMIT`…) or the room's own (`ECONNECT`, `EJOIN`…). */
  code: string;
  /** A human-readable message. */
  message: string;
}

/**
 * Fired by `<mesh-presence-room>` when something fails that the page may want to know
 * about: the server refused to join or subscribe, a publish was refused, the client could
 * not connect or gave up reconnecting. The room keeps working where it can.
 */
export class MeshErrorEvent extends CustomEvent<MeshErrorEventDetail> {
  static readonly eventName = 'mesh-error' as const;

  constructor(detail: MeshErrorEventDetail) {
    super(MeshErrorEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-error': MeshErrorEvent;
  }
}
