/** What asks a popup to close. */
export type MeshRequestCloseSource = 'escape' | 'toggle' | 'select' | 'focusout' | 'click-outside';

/** Detail of {@link MeshRequestCloseEvent}. */
export interface MeshRequestCloseEventDetail {
  /**
   * What the user did: pressed Escape, pressed the button that opened it, chose an
   * option (`<mesh-status-picker>`), moved focus out of the control, or clicked outside
   * it (`<mesh-avatars>`).
   */
  source: MeshRequestCloseSource;
}

/**
 * Fired, cancelable, by `<mesh-status-picker>` before its listbox and by `<mesh-avatars>`
 * before its overflow list closes because of something the user did (not when code
 * calls `hide()`, and not when the element leaves the page). `preventDefault()` keeps it
 * open; a choice made in the picker still counts.
 */
export class MeshRequestCloseEvent extends CustomEvent<MeshRequestCloseEventDetail> {
  static readonly eventName = 'mesh-request-close' as const;

  constructor(detail: MeshRequestCloseEventDetail) {
    super(MeshRequestCloseEvent.eventName, { bubbles: true, composed: true, cancelable: true, detail });
  }
}

declare global {
  interface GlobalEventHandlersEventMap {
    'mesh-request-close': MeshRequestCloseEvent;
  }
}
