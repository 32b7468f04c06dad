/** Detail of {@link MeshStatusChangeEvent}. */
export interface MeshStatusChangeEventDetail {
  /** The status the user chose. */
  value: string;
  /** The status before the choice. */
  previous: string;
}

/**
 * Fired by `<mesh-status-picker>` when the local user chooses a status in it (not
 * when code sets `value`, and not when another tab's choice arrives). Not cancelable:
 * the choice has already been made by the time listeners run.
 */
export class MeshStatusChangeEvent extends CustomEvent<MeshStatusChangeEventDetail> {
  static readonly eventName = 'mesh-status-change' as const;

  constructor(detail: MeshStatusChangeEventDetail) {
    super(MeshStatusChangeEvent.eventName, { bubbles: true, composed: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-status-change': MeshStatusChangeEvent;
  }
}
