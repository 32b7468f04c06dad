/**
 * Watches the field a `<mesh-typing for="…">` points at and turns keystrokes into a
 * throttled typing flag: `publish(true)` on the first keystroke, again at most once
 * per `throttle` ms while typing goes on (which also refreshes the receivers' 8 s
 * stale timeout), and `publish(false)` after `stopDelay` ms without input, on blur,
 * on submit (Enter in an `<input>`, or the form's submit) and when the field is
 * emptied.
 *
 * Listeners sit on the host's root (and on the document when that root is a shadow
 * root), not on the field: the field is looked up by id when an event arrives, so a
 * field that appears later, or a changed `for`, needs no bookkeeping.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

export interface TypingControllerOptions {
  /** Id of the field to watch, looked up in the host's root, then the document. */
  targetId(): string;
  /** Minimum ms between two `publish(true)` calls while typing goes on. */
  throttle(): number;
  /** Ms without input after which typing counts as stopped. */
  stopDelay(): number;
  /** Report the local user's typing flag (the room publishes it). */
  publish(typing: boolean): void;
}

/** The kinds of field `<mesh-typing>` can watch. */
export type TypingTarget = HTMLInputElement | HTMLTextAreaElement | HTMLElement;

const LISTENED = ['input', 'keydown', 'focusout', 'submit'] as const;

/** True for the fields typing can be watched on. */
export function isTypingTarget(el: Element): el is TypingTarget {
  return el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ||
    (el instanceof HTMLElement && el.isContentEditable);
}

function isEmpty(el: TypingTarget): boolean {
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) return el.value.trim() === '';
  return (el.textContent ?? '').trim() === '';
}

export class TypingController implements ReactiveController {
  /** Whether the local user currently counts as typing. */
  typing = false;

  private __host: ReactiveControllerHost & HTMLElement;
  private __options: TypingControllerOptions;
  private __roots: Array<Document | ShadowRoot> = [];
  /** An event reaching both the shadow root and the document is handled once. */
  private __seen = new WeakSet<Event>();
  private __lastPublish = 0;
  private __stopTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(host: ReactiveControllerHost & HTMLElement, options: TypingControllerOptions) {
    this.__host = host;
    this.__options = options;
    host.addController(this);
  }

  hostConnected(): void {
    const root = this.__host.getRootNode();
    this.__roots = root instanceof ShadowRoot ? [root, document] : [document];
    for (const r of this.__roots) for (const type of LISTENED) r.addEventListener(type, this.__onEvent, true);
  }

  hostDisconnected(): void {
    for (const r of this.__roots) for (const type of LISTENED) r.removeEventListener(type, this.__onEvent, true);
    this.__roots = [];
    this.stop();
  }

  /** The watched field, or null when `for` names nothing (yet). */
  resolveTarget(): Element | null {
    const id = this.__options.targetId();
    if (!id) return null;
    const root = this.__host.isConnected ? this.__host.getRootNode() : document;
    const inRoot = root instanceof ShadowRoot || root instanceof Document ? root.getElementById(id) : null;
    return inRoot ?? document.getElementById(id);
  }

  /** Clear the typing flag now (publishes `false` only when it was set). */
  stop(): void {
    clearTimeout(this.__stopTimer);
    this.__stopTimer = undefined;
    if (!this.typing) return;
    this.typing = false;
    this.__lastPublish = 0;
    this.__options.publish(false);
  }

  private __onEvent = (event: Event): void => {
    if (this.__seen.has(event)) return;
    this.__seen.add(event);
    const target = this.resolveTarget();
    if (!target || !isTypingTarget(target)) return;

    if (event.type === 'submit') {
      // Capture-phase listener on the root: the form holds the field if it submits it.
      const form = event.composedPath()[0];
      if (form instanceof HTMLFormElement && form.contains(target)) this.stop();
      return;
    }
    if (!event.composedPath().includes(target)) return;

    switch (event.type) {
      case 'input':
        this.__onInput(target);
        break;
      case 'keydown': {
        const key = event as KeyboardEvent;
        if (key.key === 'Enter' && !key.isComposing && target instanceof HTMLInputElement) this.stop();
        break;
      }
      case 'focusout': {
        // Focus moving within a contenteditable (e.g. into a child) is not a blur.
        const next = (event as FocusEvent).relatedTarget;
        if (next instanceof Node && target.contains(next)) return;
        this.stop();
        break;
      }
    }
  };

  private __onInput(target: TypingTarget): void {
    if (isEmpty(target)) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (!this.typing || now - this.__lastPublish >= this.__options.throttle()) {
      this.typing = true;
      this.__lastPublish = now;
      this.__options.publish(true);
    }
    clearTimeout(this.__stopTimer);
    this.__stopTimer = setTimeout(() => this.stop(), this.__options.stopDelay());
  }
}
