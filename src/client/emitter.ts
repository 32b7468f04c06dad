/**
 * A tiny typed event emitter, so the browser bundle needs no dependency.
 *
 * `Events` maps each event name to the type of its single payload (`undefined` for
 * events without one).
 */
export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private __listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds `handler` for `event`; returns a function that removes it again. */
  on<K extends keyof Events>(event: K, handler: Listener<Events[K]>): () => void {
    let set = this.__listeners.get(event);
    if (!set) {
      set = new Set();
      this.__listeners.set(event, set);
    }
    set.add(handler as Listener<never>);
    return () => this.off(event, handler);
  }

  /** Adds `handler` for the next `event` only. */
  once<K extends keyof Events>(event: K, handler: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      handler(payload);
    });
    return off;
  }

  /** Removes `handler` for `event` (no-op when it is not registered). */
  off<K extends keyof Events>(event: K, handler: Listener<Events[K]>): void {
    const set = this.__listeners.get(event);
    if (!set) return;
    set.delete(handler as Listener<never>);
    if (set.size === 0) this.__listeners.delete(event);
  }

  /** Number of handlers for `event`. */
  listenerCount(event: keyof Events): number {
    return this.__listeners.get(event)?.size ?? 0;
  }

  protected _emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.__listeners.get(event);
    if (!set) return;
    // copy: a handler may remove itself or others while we iterate
    for (const handler of [...set]) {
      try {
        (handler as Listener<Events[K]>)(payload);
      } catch (error) {
        // one faulty handler must not break the client or the other handlers
        reportListenerError(error);
      }
    }
  }

  protected _removeAllListeners(): void {
    this.__listeners.clear();
  }
}

/** Surfaces an error thrown by user code without unwinding our stack. */
export function reportListenerError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else console.error(error);
}
