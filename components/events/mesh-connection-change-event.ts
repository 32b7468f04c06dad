import type { RoomConnectionStatus } from '../context.js';

/** Detail of {@link MeshConnectionChangeEvent}. */
export interface MeshConnectionChangeEventDetail {
  /** The room the event comes from. */
  room: string;
  /** The connection status now. */
  status: RoomConnectionStatus;
  /** True while the users shown are the last known ones (the connection is down). */
  stale: boolean;
}

/**
 * Fired by `<mesh-presence-room>` when its connection status changes (connecting,
 * online, reconnecting, offline).
 */
export class MeshConnectionChangeEvent extends CustomEvent<MeshConnectionChangeEventDetail> {
  static readonly eventName = 'mesh-connection-change' as const;

  constructor(detail: MeshConnectionChangeEventDetail) {
    super(MeshConnectionChangeEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-connection-change': MeshConnectionChangeEvent;
  }
}
